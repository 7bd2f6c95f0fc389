"""Fine-tuning the heads of a zoo model on cached trunk features (``--init MODEL --cache-features K``).

The trunk (the init graph up to the family's ``cut``) is frozen for the whole run and runs once per view
(`posekit.train.features`); the trained module is ``OnnxModule(proto, heads, inputs=[cut])``, the graph
from the cut on, so ``write_back`` puts the trained head weights into the zoo graph exactly as the
uncached path does. Where the cache starts (``cache_at``, `start_tensors`): the trunk's cut (only the heads
train), the float image (the whole network trains from cached crops), or "frozen": the tensors the first
``--freeze-layers`` N layers hand to the rest (`posekit.train.pretrained.frozen_outputs`), so the whole
network above them trains and their forward pass runs once per view instead of once per step. An epoch
visits every training person (or ``epoch_size`` of them) once, each at one of its K views drawn at random
(seeded by (seed, epoch)).

Losses, by the family's kind:
- "heatmap" (EfficientPose): mean squared error to unit Gaussians (sigma in heatmap px), as the uncached loop.
- "movenet": on the keypoint-heatmap logits, a spatial softmax cross-entropy against a Gaussian (1 cell) at
  the joint, plus 0.1 x CenterNet's penalty-reduced focal loss (alpha 2, beta 4) against Gaussians (sigma
  in cells) peaked at 1 on each joint's cell (normalised by the number of joints); L1 on the offsets at the
  joint's cell and its 8 neighbours (the decoder reads the offset where its argmax lands); 0.25 x L1 on the
  regression at the centre cell the frozen centre head picks (as the decoder picks it). Targets in
  cells: u = input px / 4 (the decoder maps cell + offset back as (cell + offset) * 4). Model channels the
  data lacks (COCO-17's face joints on LSP) get no loss; for the data's joints the model lacks (LSP's neck
  and head top) the model grows channels (`posekit.train.pretrained.grow`), trained and validated with the
  others.
Validation decodes as the runtime does (MoveNet: `posekit.decode.movenet.SinglePoseDecoder`) on the plain
crop of each validation person and scores PCK@0.2 on the joints both have (`posekit.train.validation`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from tqdm import tqdm

from posekit.datasets.sample import Sample
from posekit.errors import PosekitError
from posekit.train.checkpoint import cosine_schedule, restore, rng_state, save_checkpoint
from posekit.train.features import CacheSpec, FeatureCache, build_cache, data_digest
from posekit.train.pretrained import FineTuneSpec
from posekit.train.targets import HeatmapCodec
from posekit.train.validation import pck_hits


def start_tensors(spec: FineTuneSpec, proto, cache_at: str = "trunk", freeze_layers: int = 0) -> list[str]:
    """Where the trained part starts: the trunk's cut (cache_at "trunk"), where the float image enters
    ("image"), or the tensors the first ``freeze_layers`` weight layers hand to the rest ("frozen",
    `posekit.train.pretrained.frozen_outputs`)."""
    image = spec.image or proto.graph.input[0].name
    if cache_at == "image":
        return [image]
    if cache_at == "frozen":
        from posekit.train.pretrained import frozen_outputs

        return frozen_outputs(proto, image, list(spec.heads or (spec.heatmaps,)), freeze_layers)
    return [spec.cut]


def head_module(spec: FineTuneSpec, proto, cache_at: str = "trunk", freeze_layers: int = 0
                ) -> torch.nn.Module:
    """The graph from ``start_tensors`` to the family's raw heads (those tensors in, NHWC maps out)."""
    from posekit.train.onnx_torch import OnnxModule

    heads = list(spec.heads or (spec.heatmaps,))
    return OnnxModule(proto, heads, inputs=start_tensors(spec, proto, cache_at, freeze_layers))


def focal_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss. logits, target (B, h, w, C); mask (B, C) 1 = supervised
    channel; target is 1 exactly at each joint's cell. Sum over supervised cells / number of joints."""
    m = mask[:, None, None, :]
    p = torch.sigmoid(logits)
    pos = (target >= 1.0).float() * m
    neg = (1.0 - pos) * m
    pos_loss = -F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_loss = -F.logsigmoid(-logits) * p**2 * (1 - target) ** 4 * neg
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def spatial_cross_entropy(logits: torch.Tensor, u: torch.Tensor, mask: torch.Tensor,
                          sigma: float = 1.0) -> torch.Tensor:
    """Cross-entropy between each channel's softmax over the cells and a Gaussian (``sigma`` cells) at the
    joint, normalised to sum 1. logits (B, h, w, C); u (B, C, 2) x, y in cells; mask (B, C). Mean over
    the joints."""
    b, h, w, k = logits.shape
    gx = torch.exp(-((torch.arange(w, device=u.device)[None, None] - u[..., 0, None]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((torch.arange(h, device=u.device)[None, None] - u[..., 1, None]) ** 2) / (2 * sigma**2))
    target = (gy[:, :, :, None] * gx[:, :, None, :]).reshape(b, k, -1)
    target = target / target.sum(-1, keepdim=True).clamp(min=1e-12)
    log_p = F.log_softmax(logits.permute(0, 3, 1, 2).reshape(b, k, -1), dim=-1)
    return (-(target * log_p).sum(-1) * mask).sum() / mask.sum().clamp(min=1.0)


def distil_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], channels: Sequence[int]
                ) -> torch.Tensor:
    """How far a MoveNet's heads (``four_heads``: heatmap, centre, regression, offset; NHWC) are from a
    frozen teacher's on ``channels`` (joints the data does not label): binary cross-entropy of the heatmap
    logits against the teacher's sigmoid, summed over the cells (so a channel's level is kept, not only
    where its peak is); L1 of the offsets at the teacher's peak cell and of the regression at the centre
    cell the teacher picks (both in cells). Mean over images and channels."""
    heat, _, regress, offset = student
    t_heat, t_centre, t_regress, t_offset = (t.detach() for t in teacher)
    c = torch.as_tensor(list(channels), dtype=torch.long, device=heat.device)
    b, h, w, k = heat.shape
    target = torch.sigmoid(t_heat[..., c])
    bce = F.binary_cross_entropy_with_logits(heat[..., c], target, reduction="none").sum((1, 2))
    bce = bce - F.binary_cross_entropy_with_logits(t_heat[..., c], target, reduction="none").sum((1, 2))
    rows = torch.arange(b, device=heat.device)[:, None]
    peak = target.reshape(b, -1, len(c)).argmax(dim=1)  # (B, C)
    py, px = peak // w, peak % w
    off = offset.reshape(b, h, w, k, 2)[rows, py, px, c[None]]
    t_off = t_offset.reshape(b, h, w, k, 2)[rows, py, px, c[None]]
    at = t_centre[..., 0].reshape(b, -1).argmax(dim=1)
    cy, cx = at // w, at % w
    reg = regress[rows[:, 0], cy, cx].reshape(b, k, 2)[:, c]
    t_reg = t_regress[rows[:, 0], cy, cx].reshape(b, k, 2)[:, c]
    return (bce.mean() + (off - t_off).abs().sum(-1).mean()
            + REGRESSION_WEIGHT * (reg - t_reg).abs().sum(-1).mean())


# The regression (cells, |dy| + |dx| summed: ~7 per joint for the zoo heads on LSP crops) would otherwise
# dominate the loss and, with the trunk trained, its gradients.
REGRESSION_WEIGHT = 0.25


def four_heads(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """MoveNet's raw heads (heatmap, centre, regression, offset), a grown model's channels (`pretrained.grow`:
    its heatmap, regression and offset outputs after the four) appended to the zoo's."""
    if len(outputs) == 4:
        return outputs
    heat, centre, regress, offset, grown_heat, grown_regress, grown_offset = outputs
    return [torch.cat([heat, grown_heat], -1), centre, torch.cat([regress, grown_regress], -1),
            torch.cat([offset, grown_offset], -1)]


class MoveNetObjective:
    """Targets, loss and decoding of MoveNet's four raw heads (heatmap, centre, regression, offset)."""

    def __init__(self, spec: FineTuneSpec, channels: Sequence[int]) -> None:
        from posekit.decode.movenet import SinglePoseDecoder
        from posekit.models.movenet import split_onnx
        from posekit.models.registry import get_spec

        self.spec = spec
        self.decoder = SinglePoseDecoder.from_onnx(split_onnx(get_spec(spec.base))[1])
        self.centre_weight = torch.from_numpy(self.decoder.center_weight.astype(np.float32))
        self.channels = np.asarray(channels)
        self.stride = spec.input_size[1] / spec.heatmap_size[1]
        self.k = len(spec.joints)
        self.teacher: torch.nn.Module | None = None
        self.distil = 0.0
        self.unlabelled = [c for c in range(self.k) if c not in set(self.channels.tolist())]

    def teach(self, teacher: torch.nn.Module, weight: float) -> None:
        """Add ``weight`` x `distil_loss` against ``teacher`` (frozen: the initial model's head module) on the
        channels the data does not label to the training loss (``loss`` given the batch's inputs)."""
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher, self.distil = teacher.eval(), weight

    def model_joints(self, xy: torch.Tensor, labelled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target joints (B, J, 2) / (B, J) -> the model's channels (B, K, 2) in cells, weights (B, K)."""
        b = xy.shape[0]
        u = torch.zeros(b, self.k, 2, device=xy.device)
        w = torch.zeros(b, self.k, device=xy.device)
        for j, c in enumerate(self.channels):
            if c >= 0:
                u[:, c] = xy[:, j] / self.stride
                w[:, c] = labelled[:, j].float()
        h, wd = self.spec.heatmap_size
        inside = (u[..., 0] > -0.5) & (u[..., 0] < wd - 0.5) & (u[..., 1] > -0.5) & (u[..., 1] < h - 0.5)
        return u, w * inside.float()

    def loss(self, outputs: list[torch.Tensor], xy: torch.Tensor, labelled: torch.Tensor,
             inputs: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The training loss; with ``inputs`` (the batch's input tensors the outputs came from) and a teacher
        (``teach``), plus the distillation of the unlabelled channels."""
        total = self.data_loss(outputs, xy, labelled)
        if self.teacher is None or inputs is None or not self.unlabelled or not self.distil:
            return total
        with torch.no_grad():
            teacher = four_heads(self.teacher(*inputs))
        return total + self.distil * distil_loss(four_heads(outputs), teacher, self.unlabelled)

    def data_loss(self, outputs: list[torch.Tensor], xy: torch.Tensor, labelled: torch.Tensor
                  ) -> torch.Tensor:
        heat, centre, regress, offset = four_heads(outputs)
        b, h, w, k = heat.shape
        u, weight = self.model_joints(xy, labelled)
        cx = u[..., 0].round().clamp(0, w - 1)
        cy = u[..., 1].round().clamp(0, h - 1)
        sigma = self.spec.sigma
        dev = heat.device
        cells_x, cells_y = torch.arange(w, device=dev), torch.arange(h, device=dev)
        gx = torch.exp(-((cells_x[None, None] - cx[..., None]) ** 2) / (2 * sigma**2))  # (B, K, w)
        gy = torch.exp(-((cells_y[None, None] - cy[..., None]) ** 2) / (2 * sigma**2))
        target = (gy[:, :, :, None] * gx[:, :, None, :]).permute(0, 2, 3, 1)  # (B, h, w, K)
        # spatial softmax cross-entropy (where the joint is; blind to a channel's overall level) carries the
        # localisation, a tenth of the focal loss keeps the sigmoid scores calibrated: on persons
        # 7,501-8,000 of LSPET (held out of a 1-7,500 run), one head-only epoch with the focal loss alone
        # lost 1.7 points of PCK@0.2, with the cross-entropy it kept the zoo's (0.636 both).
        loss = spatial_cross_entropy(heat, u, weight) + 0.1 * focal_loss(heat, target, weight)
        rows = torch.arange(b, device=dev)[:, None]
        joints = torch.arange(k, device=dev)[None]
        off = offset.reshape(b, h, w, k, 2)
        terms = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = cy + dy, cx + dx
                ok = weight * ((ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)).float()
                at = off[rows, ny.clamp(0, h - 1).long(), nx.clamp(0, w - 1).long(), joints]  # (B, K, 2)
                goal = torch.stack([u[..., 1] - ny, u[..., 0] - nx], dim=-1)
                terms.append(((at - goal).abs().sum(-1) * ok, ok))
        loss = loss + sum(t for t, _ in terms).sum() / sum(o for _, o in terms).sum().clamp(min=1.0)
        with torch.no_grad():
            score = torch.sigmoid(centre[..., 0]) * self.centre_weight.to(dev)
            peak = score.reshape(b, -1).argmax(dim=1)
            ky, kx = peak // w, peak % w
        reg = regress[torch.arange(b, device=dev), ky, kx].reshape(b, k, 2)
        goal = torch.stack([u[..., 1] - ky[:, None], u[..., 0] - kx[:, None]], dim=-1)
        reg_l1 = ((reg - goal).abs().sum(-1) * weight).sum() / weight.sum().clamp(min=1.0)
        return loss + REGRESSION_WEIGHT * reg_l1

    def decode(self, outputs: list[torch.Tensor]) -> NDArray[np.float32]:
        """Heads -> (B, J, 2) target joints in input px (NaN where the model lacks the joint)."""
        heads = (o.detach().float().cpu().numpy() for o in four_heads(outputs))
        rows = self.decoder(*heads)[:, 0]  # (B, K, 3)
        size = np.array(self.spec.input_size[::-1], np.float32)
        xy = rows[..., 1::-1] * size
        out = np.full((len(xy), len(self.channels), 2), np.nan, np.float32)
        for j, c in enumerate(self.channels):
            if c >= 0:
                out[:, j] = xy[:, c]
        return out


class HeatmapObjective:
    """Mean squared error to Gaussians on a heatmap family's (EfficientPose) maps, mapped to target joints."""

    def __init__(self, spec: FineTuneSpec, channels: Sequence[int], sigma: float) -> None:
        self.codec = HeatmapCodec(spec.input_size, spec.heatmap_size, sigma)
        self.channels = torch.tensor(list(channels), dtype=torch.long)

    def maps(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        return outputs[0].permute(0, 3, 1, 2)[:, self.channels.to(outputs[0].device)]

    def loss(self, outputs: list[torch.Tensor], xy: torch.Tensor, labelled: torch.Tensor,
             inputs: torch.Tensor | None = None) -> torch.Tensor:
        pairs = [self.codec.encode(p, lab)
                 for p, lab in zip(xy.cpu().numpy(), labelled.cpu().numpy(), strict=True)]
        target = torch.from_numpy(np.stack([t for t, _ in pairs])).to(xy.device)
        weight = torch.from_numpy(np.stack([w for _, w in pairs]))[:, :, None, None].to(xy.device)
        return ((self.maps(outputs) - target) ** 2 * weight).mean()

    def decode(self, outputs: list[torch.Tensor]) -> NDArray[np.float32]:
        return self.codec.decode(self.maps(outputs).detach().float().cpu().numpy())[0]


def _objective(spec: FineTuneSpec, channels: Sequence[int], sigma: float):
    if spec.kind == "movenet":
        return MoveNetObjective(spec, channels)
    return HeatmapObjective(spec, channels, sigma)


def _batches(cache: FeatureCache, rows: NDArray[np.int64], size: int, drop_last: bool):
    """(inputs, keypoints, labelled) per batch of ``rows``: inputs, the head module's input tensors (one, or
    with several cached tensors (``cache.shapes``) each cut from the rows' flat features)."""
    for start in range(0, len(rows), size):
        part = np.sort(rows[start : start + size])
        if drop_last and len(part) < size:
            return
        feats = torch.from_numpy(np.asarray(cache.features[part], np.float32))
        if cache.shapes:
            sizes = [int(np.prod(s)) for s in cache.shapes]
            parts = feats.split(sizes, 1)
            inputs = [f.reshape(len(part), *s) for f, s in zip(parts, cache.shapes, strict=True)]
        else:
            inputs = [feats]
        yield inputs, torch.from_numpy(cache.keypoints[part]), torch.from_numpy(cache.labelled[part])


def evaluate_cached(head, objective, cache: FeatureCache, schema, batch_size: int,
                    device: torch.device | None = None) -> tuple[float, float]:
    """Validation loss and PCK@0.2 over the cache's view-0 rows (plain crops), on the joints the model has
    (the head on ``device``, default the CPU)."""
    device = device or torch.device("cpu")
    head.eval()
    total, batches, hits, counted = 0.0, 0, 0, 0
    with torch.no_grad():
        for feats, xy, labelled in _batches(cache, np.arange(cache.persons), batch_size, False):
            outputs = head(*(f.to(device) for f in feats))
            total += float(objective.loss(outputs, xy.to(device), labelled.to(device)))
            batches += 1
            pred = objective.decode(outputs)
            known = labelled.numpy() & np.isfinite(pred).all(axis=2)
            h, c = pck_hits(np.nan_to_num(pred), xy.numpy(), known, schema)
            hits, counted = hits + h, counted + c
    head.train()
    return total / max(batches, 1), hits / counted if counted else float("nan")


def train_cached(
    config: Any,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    out: Path,
    ckpt: dict[str, Any] | None,
    stop_after_epoch: int | None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> list[dict[str, Any]]:
    """`posekit.train.loop.train` for ``config.cache_features`` = K > 0 (see the module docstring); writes
    the same checkpoints (``model``: the head module's state), log.csv and curves."""
    from posekit.train.loop import _write_csv
    from posekit.train.plot import plot_curves
    from posekit.train.pretrained import freeze_early_layers, grow, resolve_init

    spec, proto, digest = resolve_init(config.init)
    if not spec.cut:
        raise PosekitError(f"--cache-features: {spec.base} has no trunk cut defined")
    schema = train_samples[0].schema
    if ckpt and (ckpt.get("init") or {}).get("sha256") != digest:
        raise PosekitError(f"--resume {out}: --init {config.init} changed since the run started")
    if ckpt and ckpt["schema"] != schema.name:
        raise PosekitError(f"--resume {out}: the run trained on {ckpt['schema']}, this data is "
                           f"{schema.name}; resume with the run's own data")
    spec, proto, channels = grow(spec, proto, schema, ckpt["init"]["channels"] if ckpt else None)
    if "+" in spec.schema:
        grown = ", ".join(spec.schema.split("+")[1:])
        log(f"{spec.base} grows output channels for {grown} (the data's joints it lacks)")
    sigma = config.sigma if config.sigma is not None else spec.sigma
    objective = _objective(spec, channels, sigma)
    identity = {"init": config.init, "base": spec.base, "sha256": digest, "schema": schema.name,
                "channels": channels}

    cache_at = getattr(config, "cache_at", "trunk")
    head = head_module(spec, proto, cache_at, config.freeze_layers)  # a bad N: refused before the cache
    start_at = ",".join(head.inputs)
    frozen = freeze_early_layers(head, proto, config.freeze_layers, log)
    if cache_at == "frozen":
        n = config.freeze_layers
        log(f"--freeze-layers {n} --cache-at frozen: the first {n} weight layers stay frozen for the whole "
            f"run; their outputs ({', '.join(head.inputs)}) are cached per view")

    def cache_for(samples: Sequence[Sample], views: int, augment) -> FeatureCache:
        key = CacheSpec(digest, start_at, spec.input_size, views, asdict(augment) if augment else {},
                        config.seed, spec.crop_enlarge, spec.mean, spec.std, data_digest(samples))
        return build_cache(out / "features", key, None if cache_at == "image" else proto, samples, augment,
                           log, workers=config.num_workers)

    train_cache = cache_for(train_samples, config.cache_features, config.augment)
    val_cache = cache_for(val_samples, 1, None)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    head.to(device)  # moves the parameters in place: the lists below hold the same objects
    if getattr(config, "distil", 0.0) and spec.kind == "movenet":
        objective.teach(head_module(spec, proto, cache_at, config.freeze_layers).to(device), config.distil)
    named = [(n, p) for n, p in zip(head.param_names, head.weights, strict=True)
             if not (spec.kind == "movenet" and "center_0/" in n)  # the centre head stays as it is
             and id(p) not in frozen]
    trainable = [p for _, p in named]
    for p in head.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    trunk = [p for n, p in named if n.startswith(spec.backbone)]
    ids = {id(p) for p in trunk}
    backbone_lr = config.backbone_lr if config.backbone_lr is not None else config.lr / 10
    groups = [{"params": [p for p in trainable if id(p) not in ids], "lr": config.lr}]
    if trunk:
        groups.append({"params": trunk, "lr": backbone_lr})
    opt = torch.optim.Adam(groups, weight_decay=config.weight_decay)
    per_epoch = min(config.epoch_size or train_cache.persons, train_cache.persons)
    steps_per_epoch = per_epoch // config.batch_size
    if steps_per_epoch == 0:
        raise PosekitError(f"{per_epoch} training persons is less than one batch of {config.batch_size}")
    total_steps = config.epochs * steps_per_epoch
    sched = cosine_schedule(opt, total_steps)
    history: list[dict[str, Any]] = []
    start = 0
    if ckpt:
        history, start = restore(ckpt, head, opt, sched)
        log(f"resumed {out / 'last.pt'} after epoch {start}")
    log(f"{spec.base} trained from {start_at} on cached {'crops' if cache_at == 'image' else 'features'}: "
        f"{sum(p.numel() for p in trainable):,} trained parameters ({sum(p.numel() for p in trunk):,} of "
        f"them the trunk's at lr {backbone_lr:g}); device {device}, torch threads {torch.get_num_threads()}; "
        f"{train_cache.persons} train persons x {train_cache.views} views, {val_cache.persons} val persons")
    if not history:
        t0 = time.time()
        val_loss, pck = evaluate_cached(head, objective, val_cache, schema, config.batch_size, device)
        history.append({"epoch": 0, "train_loss": float("nan"), "val_loss": val_loss, "val_pck": pck,
                        "lr": 0.0, "train_images": 0, "val_images": val_cache.persons,
                        "seconds": round(time.time() - t0, 2)})
        log(f"epoch 0 (pretrained start): val loss {val_loss:.6g}  val PCK@0.2 {pck:.4f}")
        _write_csv(out / "log.csv", history)
    best = max((h["val_pck"] for h in history if h["epoch"] > 0), default=-1.0)
    if stop_after_epoch is not None and start >= stop_after_epoch:
        return history
    n, k = train_cache.persons, train_cache.views
    for epoch in range(start, config.epochs):
        t0 = time.time()
        rng = np.random.default_rng((config.seed, epoch))
        persons = rng.permutation(n)[:per_epoch]
        rows = rng.integers(0, k, len(persons)) * n + persons
        total, steps = 0.0, 0
        bar = tqdm(_batches(train_cache, rows, config.batch_size, True), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=None)
        for feats, xy, labelled in bar:
            feats, xy, labelled = [f.to(device) for f in feats], xy.to(device), labelled.to(device)
            loss = objective.loss(head(*feats), xy, labelled, feats)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, steps = total + loss.item(), steps + 1
            bar.set_postfix(loss=f"{total / steps:.4g}")
        val_loss, pck = evaluate_cached(head, objective, val_cache, schema, config.batch_size, device)
        row = {"epoch": epoch + 1, "train_loss": total / steps, "val_loss": val_loss, "val_pck": pck,
               "lr": opt.param_groups[0]["lr"], "train_images": steps * config.batch_size,
               "val_images": val_cache.persons, "seconds": round(time.time() - t0, 2)}
        history.append(row)
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.6g}  val loss {val_loss:.6g}  "
            f"val PCK@0.2 {pck:.4f}  ({row['seconds']} s)")
        state = {"model_config": None, "init": identity, "num_keypoints": schema.num_keypoints,
                 "schema": schema.name,
                 "codec": {"input_size": spec.input_size, "heatmap_size": spec.heatmap_size, "sigma": sigma},
                 "mean": spec.mean, "std": spec.std, "train_config": config.to_dict(), "epoch": epoch + 1,
                 "model": head.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "scaler": {}, "rng": rng_state(), "history": history}
        save_checkpoint(out / "last.pt", state)
        if pck > best:
            best = pck
            save_checkpoint(out / "best.pt", state)
        _write_csv(out / "log.csv", history)
        plot_curves(out / "curves.png", [h["epoch"] for h in history],
                    {"train loss": [h["train_loss"] for h in history],
                     "val loss": [h["val_loss"] for h in history]},
                    {"val PCK@0.2": [h["val_pck"] for h in history]})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return history
