"""PCK family: PCKh (MPII) and torso-normalised PCK (LSP), with the standard per-body-part tables.

PCKh follows MPII's ``evalMPII`` as ported to Python by HRNet and mmpose 0.x (``TopDownMpiiDataset
.evaluate``): head size = 0.6 x the diagonal of the head box, a joint counts where it is labelled
(``jnt_visible = 1 - jnt_missing``) and is correct when ``distance / head size <= alpha``.
The table matches the ports:

- Head = head_top alone (the ports use ``dataset_joints == 'head'``, index 9; upper_neck is not averaged in),
  Shoulder / Elbow / Wrist / Hip / Knee / Ankle = plain average of the left and right joint's PCKh.
- ``mean_without_pelvis_thorax`` = the ports' "Mean": all joints but pelvis (6) and thorax (7), weighted by
  their labelled-joint counts; ``mean`` = the same over all 16 joints.
- PCKh@0.1 is computed at alpha = 0.1 exactly. (The ports' "Mean@0.1" reads row 11 of
  ``np.arange(0, 0.51, 0.01)``, which is alpha = 0.11; ``pck_curve`` gives any alpha if you need that.)
- AUC = mean of the ``mean_without_pelvis_thorax`` curve over the 51 alphas 0, 0.01, ..., 0.50 (the ports'
  ``pckAll`` grid), i.e. the area under the PCKh curve normalised by its width (rectangle rule), in 0..1.

LSP PCK@alpha normalises by the torso size = distance between the right shoulder and the left hip of the
ground truth (one torso diagonal, the convention given for this project; other codebases use the other
diagonal, left shoulder to right hip: pass ``torso=`` to choose). Its table is the same shape, with
Head = average of head_top and neck.

All values in this module are fractions in 0..1 (NaN where a joint has no labelled instance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.skeletons import LSP14, MPII16, Schema

HEAD_SIZE_FACTOR = 0.6  # MPII's SC_BIAS
AUC_ALPHAS: NDArray[np.float64] = np.linspace(0.0, 0.5, 51)

_LIMBS = {
    "shoulder": ("left_shoulder", "right_shoulder"), "elbow": ("left_elbow", "right_elbow"),
    "wrist": ("left_wrist", "right_wrist"), "hip": ("left_hip", "right_hip"),
    "knee": ("left_knee", "right_knee"), "ankle": ("left_ankle", "right_ankle"),
}
MPII_GROUPS: dict[str, tuple[str, ...]] = {"head": ("head_top",), **_LIMBS}
LSP_GROUPS: dict[str, tuple[str, ...]] = {"head": ("head_top", "neck"), **_LIMBS}
GROUP_NAMES = ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")


@dataclass(frozen=True)
class PckTable:
    """PCK at one alpha.

    per_joint: (K,) fraction correct per joint (NaN where no joint is labelled); counts: (K,) labelled joints.
    groups: body part -> average of its joints' values. mean: count-weighted over all joints.
    mean_without_pelvis_thorax: count-weighted without MPII's pelvis and thorax (== mean for other schemas).
    """

    alpha: float
    schema: Schema
    per_joint: NDArray[np.float64]
    counts: NDArray[np.int64]
    groups: dict[str, float]
    mean: float
    mean_without_pelvis_thorax: float

    def as_dict(self, percent: bool = False) -> dict[str, float]:
        """Group values plus the means, optionally in percent."""
        scale = 100.0 if percent else 1.0
        out = {k: float(v) * scale for k, v in self.groups.items()}
        out["mean"] = self.mean * scale
        if self.schema.name == MPII16.name:
            out["mean_without_pelvis_thorax"] = self.mean_without_pelvis_thorax * scale
        return out


def head_sizes(headboxes: NDArray[np.floating]) -> NDArray[np.float64]:
    """MPII head size: 0.6 x the head box diagonal. headboxes: (N, 2, 2) corners [[x1, y1], [x2, y2]], px.

    Returns (N,) pixels.
    """
    hb = np.asarray(headboxes, np.float64)
    return np.linalg.norm(hb[:, 1] - hb[:, 0], axis=1) * HEAD_SIZE_FACTOR


def torso_sizes(gt: NDArray[np.floating], schema: Schema = LSP14,
                torso: tuple[str, str] = ("right_shoulder", "left_hip")) -> NDArray[np.float64]:
    """Torso size per person: distance between the two ``torso`` joints of the GT. gt: (N, K, 2) px.

    Returns (N,) pixels.
    """
    g = np.asarray(gt, np.float64)
    a, b = schema.index(torso[0]), schema.index(torso[1])
    return np.linalg.norm(g[:, a] - g[:, b], axis=1)


def normalized_distances(pred: NDArray[np.floating], gt: NDArray[np.floating],
                         norm: NDArray[np.floating]) -> NDArray[np.float64]:
    """Euclidean error divided by each person's normaliser. pred, gt: (N, K, 2) px; norm: (N,) px.

    Returns (N, K), unitless.
    """
    err = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return err / np.asarray(norm, np.float64)[:, None]


def pck_curve(dist: NDArray[np.floating], visible: NDArray[np.bool_],
              alphas: NDArray[np.floating]) -> NDArray[np.float64]:
    """Fraction of labelled joints with ``dist <= alpha``. dist, visible: (N, K); alphas: (A,).

    Returns (A, K); NaN for a joint never labelled. NaN distances count as misses.
    """
    vis = np.asarray(visible, bool)
    d = np.where(vis, np.asarray(dist, np.float64), np.inf)
    hits = (d[None] <= np.asarray(alphas, np.float64)[:, None, None]).sum(axis=1)
    counts = vis.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hits / counts


def _weighted_mean(values: NDArray[np.float64], counts: NDArray[np.int64], keep: NDArray[np.bool_]) -> float:
    c = np.where(keep, counts, 0)
    if c.sum() == 0:
        return float("nan")
    return float(np.sum(np.nan_to_num(values) * c) / c.sum())


def pck_table(dist: NDArray[np.floating], visible: NDArray[np.bool_], alpha: float, schema: Schema,
              groups: dict[str, tuple[str, ...]]) -> PckTable:
    """The per-part table at one alpha from normalised distances. dist, visible: (N, K)."""
    per_joint = pck_curve(dist, visible, np.array([alpha]))[0]
    counts = np.asarray(visible, bool).sum(axis=0).astype(np.int64)
    parts = {name: float(np.mean([per_joint[schema.index(j)] for j in joints]))
             for name, joints in groups.items()}
    keep = np.ones(schema.num_keypoints, bool)
    if schema.name == MPII16.name:
        keep[[schema.index("pelvis"), schema.index("thorax")]] = False
    every = np.ones(schema.num_keypoints, bool)
    return PckTable(float(alpha), schema, per_joint, counts, parts,
                    _weighted_mean(per_joint, counts, every), _weighted_mean(per_joint, counts, keep))


@dataclass(frozen=True)
class MpiiReport:
    """MPII's standard report: PCKh tables at 0.5 and 0.1 and the AUC over alpha 0..0.5 (fractions)."""

    pckh50: PckTable
    pckh10: PckTable
    auc: float

    def as_dict(self, percent: bool = True) -> dict[str, object]:
        scale = 100.0 if percent else 1.0
        return {"pckh@0.5": self.pckh50.as_dict(percent), "pckh@0.1": self.pckh10.as_dict(percent),
                "auc": self.auc * scale}


def pckh(pred: NDArray[np.floating], gt: NDArray[np.floating], headboxes: NDArray[np.floating],
         visible: NDArray[np.bool_], alpha: float = 0.5) -> PckTable:
    """MPII PCKh@alpha. pred, gt: (N, 16, 2) px (same origin); headboxes: (N, 2, 2); visible: (N, 16)."""
    dist = normalized_distances(pred, gt, head_sizes(headboxes))
    return pck_table(dist, visible, alpha, MPII16, MPII_GROUPS)


def mpii_report(pred: NDArray[np.floating], gt: NDArray[np.floating], headboxes: NDArray[np.floating],
                visible: NDArray[np.bool_]) -> MpiiReport:
    """PCKh@0.5, PCKh@0.1 and AUC (see module docstring). Shapes as in :func:`pckh`."""
    dist = normalized_distances(pred, gt, head_sizes(headboxes))
    curve = pck_curve(dist, visible, AUC_ALPHAS)
    counts = np.asarray(visible, bool).sum(axis=0)
    keep = np.ones(16, bool)
    keep[[MPII16.index("pelvis"), MPII16.index("thorax")]] = False
    auc = float(np.mean([_weighted_mean(row, counts, keep) for row in curve]))
    return MpiiReport(pck_table(dist, visible, 0.5, MPII16, MPII_GROUPS),
                      pck_table(dist, visible, 0.1, MPII16, MPII_GROUPS), auc)


def lsp_pck(pred: NDArray[np.floating], gt: NDArray[np.floating], visible: NDArray[np.bool_],
            alpha: float = 0.2, torso: tuple[str, str] = ("right_shoulder", "left_hip")) -> PckTable:
    """LSP PCK@alpha normalised by torso size. pred, gt: (N, 14, 2) px; visible: (N, 14) joints to count.

    A person whose two torso joints are not both counted has no torso size: none of its joints count.
    """
    vis = np.asarray(visible, bool)
    vis = vis & vis[:, [LSP14.index(torso[0])]] & vis[:, [LSP14.index(torso[1])]]
    dist = normalized_distances(pred, gt, torso_sizes(gt, LSP14, torso))
    return pck_table(dist, vis, alpha, LSP14, LSP_GROUPS)
