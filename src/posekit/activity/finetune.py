"""Fine-tuning the pose trunk's last blocks for the image activity models (``image-ft``, ``image+pose-ft``).

The frozen models (`posekit.activity.image_model`) pool EfficientPose's ``blocks_6`` and ``blocks_8`` maps
(`posekit.activity.backbone`). Here blocks 7 and 8 (the trunk's last two MBConv blocks: 93,520 weights, all
the convolutions between the two pooled tensors) become trainable through the torch builder
(`posekit.train.onnx_torch.OnnxModule` with ``inputs=[CUT]``): ``blocks_6``'s map of every image and of its
mirror image is computed once with onnxruntime and cached (`CutTensors`), so a training step runs only the
two tuned blocks. Why these blocks: they are the ones whose output the frozen head already reads, so the
fine-tuned model starts *exactly* at the frozen one (same pooled features, same head) and can only move
from there. And cost: on one shared CPU thread a batch of 32 through blocks 7-8 (forward + backward) took
~2-4 s, i.e. ~8 min per CV fold for 4 epochs; an earlier cut (blocks_4's output, 92 x 92 x 32, 2.7 GB cached
for 1,266 images and their mirrors) would add blocks 5-6 at a 4x larger map and not fit the time we had.

Training, per call of `fit_finetuned` (one outer CV fold: training images only):

1. a stratified 15 % of the training images (at least one per class) is held out as validation
   (``FineTune.val_fraction``);
2. the frozen model of the same mode is fitted on the other 85 % (`fit_image_model`: C and power chosen by
   its inner 3-fold CV) and its scaler + logistic regression become the torch head (a linear layer on the
   standardised features), so epoch 0 *is* the frozen model;
3. blocks 7-8 and the head train with cross-entropy (+ the logistic regression's own L2 penalty on the
   head, 1 / (2 C n)), Adam, each image once per epoch as itself or its mirror (random);
4. after each epoch the validation log-loss (image and mirror averaged) is measured; the epoch with the
   lowest one is kept, epoch 0 (the frozen model) included. That rule, the settings (`FineTune`) and the
   rule for the default were fixed before any cross-validated run: a fine-tuned model would replace the
   frozen one as the default only if, over the outer folds, the mean validation macro-F1 of its kept
   epoch beats epoch 0's (the frozen model on the same 85 %) by at least 0.01.

Prediction averages the probabilities of an image and its mirror, as the frozen models do.
"""

from __future__ import annotations

import copy
import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.extract import ImageRecord, cache_key
from posekit.errors import PosekitError

FT_MODES = {"image-ft": "image", "image+pose-ft": "image+pose"}
CUT = "efficientnet-lite4/model/blocks_6/Add_0/add__137"  # blocks_6's output inside the graph
TUNED = "efficientnet-lite4/model/blocks_8/Add_0/add"
B8_COLUMNS = slice(336, 672)  # blocks_8's pooled features in the frozen design rows (after blocks_6's)
TENSOR_VERSION = 1


@dataclass(frozen=True)
class FineTune:
    """Fine-tuning settings (fixed before any measurement; not tuned on the outer folds)."""

    epochs: int = 4
    batch_size: int = 32
    trunk_lr: float = 1e-4
    head_lr: float = 1e-3
    val_fraction: float = 0.15


class CutTensors:
    """``__call__(path)`` -> (2, h, w, c) float32: the trunk's ``blocks_6`` map (NHWC, as the graph) of the
    image and of its mirror image, computed with onnxruntime and cached as one ``.npy`` per image."""

    def __init__(self, cache_dir: str | Path, backbone: str | None = None, threads: int | None = 1) -> None:
        from posekit.activity.backbone import DEFAULT_BACKBONE

        self.cache_dir = Path(cache_dir) / "cut-tensors"
        self.backbone_name = backbone or DEFAULT_BACKBONE
        self.threads = threads
        self._trunk = None

    def __call__(self, path: Path) -> NDArray[np.float32]:
        from posekit.atomic import write_atomic

        file = self.cache_dir / f"{cache_key(path, f'{self.backbone_name}|{CUT}|t{TENSOR_VERSION}')}.npy"
        if file.is_file():
            try:
                return np.load(file)
            except (OSError, ValueError):
                pass  # a damaged cache entry is recomputed
        out = self.compute(path)
        buf = io.BytesIO()
        np.save(buf, out)
        write_atomic(file, buf.getvalue())
        return out

    def compute(self, path: Path) -> NDArray[np.float32]:
        from posekit.activity.backbone import TrunkFeatures
        from posekit.images import read_image

        if self._trunk is None:
            self._trunk = TrunkFeatures(self.backbone_name, threads=self.threads)
        rgb = read_image(path).rgb
        return np.stack([self._trunk.maps(rgb)[0], self._trunk.maps(np.ascontiguousarray(rgb[:, ::-1]))[0]])


def load_cut_tensors(paths: list[Path], cache_dir: str | Path, threads: int | None = 1,
                     progress: bool = True) -> NDArray[np.float32]:
    """(N, 2, h, w, c) `CutTensors` of ``paths`` (every one readable: the records were extracted first)."""
    from tqdm import tqdm

    cut = CutTensors(cache_dir, threads=threads)
    first = cut(paths[0])
    out = np.empty((len(paths), *first.shape), np.float32)
    out[0] = first
    for i, path in enumerate(tqdm(paths[1:], desc="cut tensors", unit="img", disable=not progress), start=1):
        out[i] = cut(path)
    return out


def tuned_trunk():
    """OnnxModule of the trunk from ``CUT`` (blocks_6's output, NHWC) to blocks_8's output (NHWC)."""
    import onnx

    from posekit.activity.backbone import BACKBONES, DEFAULT_BACKBONE, trunk_onnx
    from posekit.train.onnx_torch import OnnxModule

    return OnnxModule(onnx.load(trunk_onnx(BACKBONES[DEFAULT_BACKBONE])), outputs=[TUNED], inputs=[CUT])


def pool_torch(m):
    """`posekit.activity.backbone.pool_features` of a (B, h, w, c) torch map: (B, 6 c)."""
    import torch

    h, w = m.shape[1] // 2, m.shape[2] // 2
    cells = [m[:, :h, :w], m[:, :h, w:], m[:, h:, :w], m[:, h:, w:]]
    return torch.cat([m.mean(dim=(1, 2)), m.amax(dim=(1, 2)), *(c.mean(dim=(1, 2)) for c in cells)], dim=1)


def _network(trunk, estimator: Any, power: float, num_classes: int):
    """The torch model: tuned blocks -> pooled features spliced into the frozen row -> frozen head."""
    import torch
    from torch import nn

    scaler, logreg = estimator[-2], estimator[-1]
    if list(logreg.classes_) != list(range(num_classes)):
        raise PosekitError("fine-tuning needs training images of every class; use more images per class")
    coef, bias = logreg.coef_, logreg.intercept_
    if coef.shape[0] == 1:  # two classes: softmax([0, z]) is the logistic regression's sigmoid(z)
        coef, bias = np.concatenate([np.zeros_like(coef), coef]), np.concatenate([[0.0], bias])

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk
            self.register_buffer("mean", torch.tensor(scaler.mean_, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scaler.scale_, dtype=torch.float32))
            self.head = nn.Linear(coef.shape[1], num_classes)
            with torch.no_grad():
                self.head.weight.copy_(torch.tensor(coef, dtype=torch.float32))
                self.head.bias.copy_(torch.tensor(bias, dtype=torch.float32))

        def forward(self, cut, rows):
            pooled = pool_torch(self.trunk(cut)[0])
            x = torch.cat([rows[:, :B8_COLUMNS.start], pooled, rows[:, B8_COLUMNS.stop:]], dim=1)
            if power == 0.5:
                x = torch.sign(x) * torch.sqrt(x.abs().clamp_min(1e-12))
            return self.head((x - self.mean) / self.scale)

    return Network()


@dataclass
class FineTunedModel:
    """A fitted ``image-ft`` / ``image+pose-ft`` model; ``predict_proba(records, cut)`` with the records'
    `CutTensors` (N, 2, h, w, c)."""

    mode: str
    classes: tuple[str, ...]
    network: Any
    info: dict = field(default_factory=dict)

    def predict_proba(self, records: list[ImageRecord], cut: NDArray[np.float32],
                      batch: int = 64) -> NDArray[np.float64]:
        from posekit.activity.image_model import design

        base = FT_MODES[self.mode]
        rows, rows_flip = design(records, base), design(records, base, flip=True)
        return _proba(self.network, cut, rows, rows_flip, batch)

    def predict(self, records: list[ImageRecord], cut: NDArray[np.float32]) -> NDArray[np.str_]:
        proba = self.predict_proba(records, cut)
        return np.asarray(self.classes)[proba.argmax(axis=1)].astype(str)


def _proba(network, cut, rows, rows_flip, batch: int) -> NDArray[np.float64]:
    import torch

    out = []
    network.eval()
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            sl = slice(s, s + batch)
            p = sum(torch.softmax(network(torch.from_numpy(cut[sl, k]),
                                          torch.tensor(r[sl], dtype=torch.float32)), dim=1)
                    for k, r in ((0, rows), (1, rows_flip)))
            out.append((p / 2.0).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, network.head.out_features))


def _log_loss(proba: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))


def train_step(network, opt, cut: NDArray[np.float32], rows: NDArray[np.float64], y: NDArray[np.int64],
               l2: float) -> float:
    """One optimiser step on a batch: cut (B, h, w, c), frozen design rows (B, D), class indices (B,);
    loss = cross-entropy + l2 * ||head weights||^2 (the logistic regression's penalty). Returns the loss."""
    import torch

    network.train()
    logits = network(torch.from_numpy(np.ascontiguousarray(cut)), torch.tensor(rows, dtype=torch.float32))
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
    loss = loss + l2 * network.head.weight.pow(2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def optimiser(network, settings: FineTune):
    """Adam: the tuned blocks at ``trunk_lr``, the head at ``head_lr``."""
    import torch

    return torch.optim.Adam([{"params": network.trunk.parameters(), "lr": settings.trunk_lr},
                             {"params": network.head.parameters(), "lr": settings.head_lr}])


def fit_finetuned(records: list[ImageRecord], cut: NDArray[np.float32], y: NDArray[np.int64],
                  classes: tuple[str, ...], mode: str, seed: int = 0, threads: int | None = 1,
                  settings: FineTune = FineTune(), progress: bool = False) -> FineTunedModel:
    """Fine-tune ``mode`` (module docstring) on records with their `CutTensors` ``cut`` (N, 2, h, w, c) and
    class indices y (N,)."""
    import torch
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from tqdm import tqdm

    from posekit.activity.image_model import design, fit_image_model

    if mode not in FT_MODES:
        raise PosekitError(f"unknown fine-tuned model {mode!r}; choose one of {', '.join(FT_MODES)}")
    y = np.asarray(y, dtype=np.int64)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    base = FT_MODES[mode]
    val_size = max(settings.val_fraction, len(classes) / len(y))  # at least one image per class
    fit, val = train_test_split(np.arange(len(y)), test_size=val_size, stratify=y, random_state=seed)
    frozen = fit_image_model([records[i] for i in fit], y[fit], classes, base, seed=seed, threads=threads)
    c = frozen.info["C"]
    network = _network(tuned_trunk(), frozen.estimator, frozen.info["power"], len(classes))
    rows, rows_flip = design(records, base), design(records, base, flip=True)

    def validate() -> dict[str, float]:
        p = _proba(network, cut[val], rows[val], rows_flip[val], 64)
        return {"log_loss": _log_loss(p, y[val]), "accuracy": float((p.argmax(1) == y[val]).mean()),
                "f1_macro": float(f1_score(y[val], p.argmax(1), average="macro"))}

    opt, l2 = optimiser(network, settings), 1.0 / (2.0 * c * len(fit))
    curve = [{"epoch": 0, **validate(), "seconds": 0.0}]
    best, best_state = curve[0], copy.deepcopy(network.state_dict())
    for epoch in tqdm(range(1, settings.epochs + 1), desc=f"fine-tune {mode}", unit="epoch",
                      disable=not progress):
        start = time.perf_counter()
        order, flips = rng.permutation(fit), rng.random(len(y)) < 0.5
        for s in range(0, len(order), settings.batch_size):
            idx = np.sort(order[s:s + settings.batch_size])
            train_step(network, opt, cut[idx, flips[idx].astype(int)],
                       np.where(flips[idx, None], rows_flip[idx], rows[idx]), y[idx], l2)
        curve.append({"epoch": epoch, **validate(), "seconds": round(time.perf_counter() - start, 1)})
        if curve[-1]["log_loss"] < best["log_loss"]:
            best, best_state = curve[-1], copy.deepcopy(network.state_dict())
    network.load_state_dict(best_state)
    network.eval()
    return FineTunedModel(mode, tuple(classes), network, {
        "best_epoch": best["epoch"], "C": c, "power": frozen.info["power"], "val_images": int(len(val)),
        "val_curve": curve, "settings": asdict(settings), "tuned": "blocks_7, blocks_8 + head"})
