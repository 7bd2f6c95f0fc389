"""Score calibration of a fine-tuned MoveNet export: its joint scores put back on the zoo model's scale.

Fine-tuning moves a MoveNet's heatmap levels: the softmax loss on the heatmap logits is blind to a map's
level, and channels the data never labels (LSP: nose, eyes, ears) drift as the trunk moves. On the 8-epoch
LSP recipe run, median pose scores fell from the zoo's 0.385 to 0.262 on LSP photos and from 0.333 to 0.145
on a video, so the runtime's default pose threshold (0.25) dropped most of the video's frames.

``calibrate_export`` fits, per joint, an increasing map of the decoded score, logit -> a x logit + b
(a > 0), such that the fine-tuned model's joint scores on a set of photos match its zoo model's on the same
photos (least squares between the two models' logit quantiles, 10% to 90%): a threshold then means for
the fine-tuned model what it means for the zoo model. No labels are used. A grown joint (neck, head top:
the zoo has no such channel) is matched to the zoo joints it was seeded from (``GROWN_SEEDS``' positive
weights: the shoulders for the neck, the nose for the head top). The map is written to the export's
metadata (``posekit.models.movenet.SCORE_CALIBRATION``) and applied by the runtime after decoding, so no
keypoint moves: folding it into the heatmap head's last convolution instead changes the heatmap's balance
against MoveNet's distance weighting before its argmax (it cost 0.34 PCK points on LSP images 7,501-8,000,
a bias-only fold 0.13).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.decode import logit, sigmoid
from posekit.errors import PosekitError

QUANTILES = np.linspace(0.1, 0.9, 9)
MIN_SCALE = 0.25  # a flatter map would squash the scores into a narrow band
MIN_PHOTOS = 20
METHOD = "zoo-quantiles"


@dataclass(frozen=True)
class ScoreCalibration:
    """Per output joint (the export's schema order): ``scale`` and ``bias`` of the logit map; the zoo's
    (``target``) and the fine-tuned model's median joint scores before and after it, on ``photos`` photos."""

    joints: tuple[str, ...]
    scale: NDArray[np.float64]
    bias: NDArray[np.float64]
    target: NDArray[np.float64]
    before: NDArray[np.float64]
    after: NDArray[np.float64]
    photos: int

    def as_dict(self) -> dict:
        """The metadata / --json form (what `posekit.models.movenet.score_calibration` reads)."""
        per = zip(self.joints, self.scale, self.bias, self.target, self.before, self.after, strict=True)
        return {"method": METHOD, "photos": self.photos,
                "joints": {j: {"scale": round(float(a), 5), "bias": round(float(b), 5),
                               "zoo_median": round(float(t), 4), "before_median": round(float(s), 4),
                               "after_median": round(float(u), 4)} for j, a, b, t, s, u in per}}


def match_quantiles(source: NDArray[np.floating], target: NDArray[np.floating],
                    quantiles: NDArray[np.floating] = QUANTILES) -> tuple[float, float]:
    """(a, b): a x source + b matches ``target``'s ``quantiles`` in least squares, a >= MIN_SCALE.
    source, target: 1-D logits (any lengths; NaN ignored)."""
    x = np.nanquantile(np.asarray(source, np.float64), quantiles)
    y = np.nanquantile(np.asarray(target, np.float64), quantiles)
    spread = float(np.var(x))
    a = float(np.mean((x - x.mean()) * (y - y.mean())) / spread) if spread > 1e-12 else 1.0
    a = max(a, MIN_SCALE)
    return a, float(np.mean(y) - a * np.mean(x))


def reference_joints(joint: str, zoo_joints: Sequence[str]) -> list[str]:
    """The zoo joints whose scores ``joint``'s are matched to: itself; a grown joint, its seed's positively
    weighted joints (`posekit.train.pretrained.GROWN_SEEDS`); else all of them."""
    from posekit.train.pretrained import GROWN_SEEDS

    if joint in zoo_joints:
        return [joint]
    seeds = [n for n, f in GROWN_SEEDS.get(joint, {}).items() if f > 0 and n in zoo_joints]
    return seeds or list(zoo_joints)


def joint_scores(model, photos: Sequence[NDArray[np.uint8]],
                 progress: Callable[[], None] | None = None) -> NDArray[np.float64]:
    """(N, K) joint scores of a single-pose model built with ``min_score=0`` on N whole photos (H, W, 3)."""
    rows = []
    for rgb in photos:
        poses = model.predict(rgb)
        rows.append(poses.scores[0] if len(poses) else np.full(model.schema.num_keypoints, np.nan))
        if progress is not None:
            progress()
    return np.array(rows, np.float64)


def fit_calibration(scores: NDArray[np.floating], joints: Sequence[str], zoo_scores: NDArray[np.floating],
                    zoo_joints: Sequence[str]) -> ScoreCalibration:
    """The per-joint map taking ``scores`` (N, K) of ``joints`` onto ``zoo_scores`` (N', K') of
    ``zoo_joints`` (the same photos through the zoo model), see the module docstring."""
    zoo = logit(zoo_scores)
    target = [zoo[:, [list(zoo_joints).index(r) for r in reference_joints(j, zoo_joints)]].ravel()
              for j in joints]
    fits = np.array([match_quantiles(logit(scores[:, k]), target[k]) for k in range(len(joints))])
    after = sigmoid(fits[:, 0] * logit(scores) + fits[:, 1])
    return ScoreCalibration(tuple(joints), fits[:, 0], fits[:, 1],
                            np.array([np.nanmedian(sigmoid(t)) for t in target]),
                            np.nanmedian(scores, axis=0), np.nanmedian(after, axis=0), len(scores))


def finetuned_movenet(proto) -> str | None:
    """The zoo base ("movenet-lightning" / "movenet-thunder") of a posekit export of a single-pose MoveNet
    fine-tune (an onnx.ModelProto), else None: the files a score calibration applies to."""
    props = {p.key: p.value for p in proto.metadata_props}
    base = props.get("posekit.base")
    if props.get("posekit.kind") == "finetuned" and base in ("movenet-lightning", "movenet-thunder"):
        return base
    return None


def calibrate_export(path: str | Path, photos: Sequence[NDArray[np.uint8]], out: str | Path,
                     threads: int | None = 1, progress: Callable[[], None] | None = None) -> ScoreCalibration:
    """Write ``out``: the fine-tuned single-pose MoveNet export ``path`` with a score calibration fitted on
    ``photos`` (RGB uint8, whole photos of people; at least MIN_PHOTOS) in its metadata. A calibration the
    export already has is replaced (fitted on its uncalibrated scores). Returns the fit."""
    import tempfile

    import onnx

    from posekit.atomic import write_atomic
    from posekit.models.movenet import SCORE_CALIBRATION
    from posekit.models.registry import load_model

    path = Path(path)
    if len(photos) < MIN_PHOTOS:
        raise PosekitError(f"score calibration needs at least {MIN_PHOTOS} photos, got {len(photos)}")
    try:
        proto = onnx.load(str(path))
    except Exception as err:  # onnx raises DecodeError, FileNotFoundError and others
        raise PosekitError(f"{path}: not a readable ONNX file ({type(err).__name__})") from None
    base = finetuned_movenet(proto)
    if base is None:
        raise PosekitError(f"{path}: not a posekit export of a single-pose MoveNet fine-tune; calibrate the "
                           "file `posekit train export` wrote for a --init movenet-lightning|thunder run")
    kept = [p for p in proto.metadata_props if p.key != SCORE_CALIBRATION]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    with tempfile.TemporaryDirectory() as tmp:  # the scores to fit are the uncalibrated ones
        raw = Path(tmp) / path.name
        raw.write_bytes(proto.SerializeToString())
        model = load_model(raw, threads=threads, min_score=0.0)
        scores = joint_scores(model, photos, progress)
    zoo = load_model(base, threads=threads, min_score=0.0)
    fit = fit_calibration(scores, model.schema.keypoints, joint_scores(zoo, photos, progress),
                          zoo.schema.keypoints)
    proto.metadata_props.add(key=SCORE_CALIBRATION, value=json.dumps(fit.as_dict()))
    write_atomic(Path(out), proto.SerializeToString())
    return fit
