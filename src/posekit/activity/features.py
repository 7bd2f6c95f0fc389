"""Pose features for activity recognition: one fixed-length vector per person, any keypoint schema.

Joint mapping. Every schema is first reduced to 14 canonical joints that MPII-16, COCO-17, LSP-14 and
BlazePose-33 all provide or approximate (``CANONICAL_JOINTS``):

- ``l/r_shoulder, l/r_elbow, l/r_wrist, l/r_hip, l/r_knee, l/r_ankle``: the schema's joints of that name.
- ``neck``: the midpoint of the two shoulders in every schema (MPII's thorax and LSP's neck sit near it, but
  COCO has no neck point, so one definition for all keeps train (MPII) and predict (COCO) features alike).
- ``head``: the head centre. MPII: midpoint of upper_neck and head_top; LSP: midpoint of neck and head_top;
  COCO / BlazePose: mean of the labelled face points (nose, eyes, ears). The two estimates sit a few
  percent of torso length apart (COCO's face centroid is at eye height); the classifier sees that offset
  as noise.

A joint is missing when it is not labelled (visibility 0 / score under threshold) or any coordinate is NaN
or infinite; a derived joint (neck, head) is missing when one of its inputs is (head from face points: when
all of them are).

Frame. Centre c = mid-hips if both hips are present, else mid-shoulders if both shoulders are, else the mean
of the present joints. Scale s = torso length |mid-shoulders - mid-hips| if all four are present, else the
diagonal of the present joints' bounding box (1 when fewer than two distinct joints). Image orientation is
kept on purpose (lying down vs standing matters), so features are invariant to translation and uniform
scaling, not to rotation or mirroring (the left/right block below is mirror-symmetric).

Features (``FEATURE_NAMES``, ``FEATURE_VERSION`` 1), missing values are 0 and flagged by the mask:

1. ``x_<joint>, y_<joint>`` (28): (p - c) / s, y pointing down as in the image.
2. ``angle_<joint>`` (8): interior angle in radians [0, pi] at l/r elbow (shoulder-elbow-wrist), l/r knee
   (hip-knee-ankle), l/r shoulder (hip-shoulder-elbow), l/r hip (shoulder-hip-knee).
3. ``torso_cos, torso_sin`` (2): direction of mid-hips -> mid-shoulders (upright person: 0, -1).
4. ``len_<limb>`` (11): length / s of upper arms, forearms, thighs, shins (l/r), shoulder width, hip width,
   head-neck.
5. ``sym_min_/sym_max_<pair>`` (12): min and max over left/right of the elbow, knee, shoulder and hip
   angles, of wrist height above its shoulder ((y_shoulder - y_wrist) / s) and of ankle depth below its hip
   ((y_ankle - y_hip) / s); unchanged when left and right are swapped.
6. ``missing_<joint>`` (14): 1 when the canonical joint is missing.
7. ``scale_is_torso`` (1): 1 when s is the torso length, 0 when the bounding-box fallback was used.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.skeletons import Schema

FEATURE_VERSION = 1

CANONICAL_JOINTS = (
    "head", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
_J = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
_LIMB_JOINTS = CANONICAL_JOINTS[2:]
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

# (name, a, vertex, b): the interior angle at `vertex`.
_ANGLES = (
    ("left_elbow", "left_shoulder", "left_elbow", "left_wrist"),
    ("right_elbow", "right_shoulder", "right_elbow", "right_wrist"),
    ("left_knee", "left_hip", "left_knee", "left_ankle"),
    ("right_knee", "right_hip", "right_knee", "right_ankle"),
    ("left_shoulder", "left_hip", "left_shoulder", "left_elbow"),
    ("right_shoulder", "right_hip", "right_shoulder", "right_elbow"),
    ("left_hip", "left_shoulder", "left_hip", "left_knee"),
    ("right_hip", "right_shoulder", "right_hip", "right_knee"),
)
_LIMBS = (
    ("left_upper_arm", "left_shoulder", "left_elbow"), ("right_upper_arm", "right_shoulder", "right_elbow"),
    ("left_forearm", "left_elbow", "left_wrist"), ("right_forearm", "right_elbow", "right_wrist"),
    ("left_thigh", "left_hip", "left_knee"), ("right_thigh", "right_hip", "right_knee"),
    ("left_shin", "left_knee", "left_ankle"), ("right_shin", "right_knee", "right_ankle"),
    ("shoulder_width", "left_shoulder", "right_shoulder"), ("hip_width", "left_hip", "right_hip"),
    ("head_neck", "head", "neck"),
)
_SYM = ("elbow_angle", "knee_angle", "shoulder_angle", "hip_angle", "wrist_above_shoulder", "ankle_below_hip")

FEATURE_NAMES: tuple[str, ...] = (
    *(f"{a}_{j}" for j in CANONICAL_JOINTS for a in "xy"),
    *(f"angle_{a[0]}" for a in _ANGLES),
    "torso_cos", "torso_sin",
    *(f"len_{limb[0]}" for limb in _LIMBS),
    *(f"sym_{m}_{s}" for s in _SYM for m in ("min", "max")),
    *(f"missing_{j}" for j in CANONICAL_JOINTS),
    "scale_is_torso",
)
NUM_FEATURES = len(FEATURE_NAMES)


def _mid(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    return (a + b) / 2.0


def canonical_joints(xy: NDArray[np.floating], valid: NDArray[np.bool_],
                     schema: Schema) -> NDArray[np.float64]:
    """The 14 canonical joints of N people (module docstring), NaN where missing.

    xy: (N, K, 2) pixels in ``schema`` order; valid: (N, K) bool, False for unlabelled / low-score joints.
    Returns (N, 14, 2) float64 pixels.
    """
    xy = np.asarray(xy, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    k = schema.num_keypoints
    if xy.ndim != 3 or xy.shape[1:] != (k, 2) or valid.shape != xy.shape[:2]:
        raise PosekitError(
            f"keypoints for schema {schema.name} must be (N, {k}, 2) with a (N, {k}) mask, "
            f"got {xy.shape} and {valid.shape}"
        )
    names = set(schema.keypoints)
    missing = [n for n in _LIMB_JOINTS if n not in names]
    if missing:
        raise PosekitError(f"schema {schema.name} lacks {missing[0]}; activity features need "
                           "shoulders, elbows, wrists, hips, knees and ankles (use coco17, mpii16 or lsp14)")
    pts = np.where((valid & np.isfinite(xy).all(axis=2))[..., None], xy, np.nan)
    out = np.full((xy.shape[0], len(CANONICAL_JOINTS), 2), np.nan)
    for n in _LIMB_JOINTS:
        out[:, _J[n]] = pts[:, schema.index(n)]
    out[:, _J["neck"]] = _mid(out[:, _J["left_shoulder"]], out[:, _J["right_shoulder"]])
    if "head_top" in names and ("upper_neck" in names or "neck" in names):
        neck = "upper_neck" if "upper_neck" in names else "neck"
        out[:, _J["head"]] = _mid(pts[:, schema.index("head_top")], pts[:, schema.index(neck)])
    else:
        face = [schema.index(n) for n in _FACE if n in names]
        if face:
            f = pts[:, face]
            seen = np.isfinite(f[..., 0])
            count = seen.sum(axis=1)
            total = np.where(seen[..., None], f, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, _J["head"]] = np.where(count[:, None] > 0, total / count[:, None], np.nan)
    return out


def _angle(a: NDArray[np.float64], v: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Interior angle at v in radians (N,), NaN where a joint is missing or a limb has zero length."""
    u, w = a - v, b - v
    nu, nw = np.linalg.norm(u, axis=-1), np.linalg.norm(w, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (u * w).sum(axis=-1) / (nu * nw)
    return np.where((nu > 0) & (nw > 0), np.arccos(np.clip(cos, -1.0, 1.0)), np.nan)


def body_frame(j: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Centre (N, 2), scale (N,) and whether the scale is the torso length (N,)."""
    hips = _mid(j[:, _J["left_hip"]], j[:, _J["right_hip"]])
    shoulders = _mid(j[:, _J["left_shoulder"]], j[:, _J["right_shoulder"]])
    present = np.isfinite(j[..., 0])
    any_present = present.any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a person with no joint at all
        mean = np.nan_to_num(np.nanmean(j, axis=1))
    hips_ok, sh_ok = np.isfinite(hips).all(axis=1), np.isfinite(shoulders).all(axis=1)
    centre = np.where(hips_ok[:, None], hips, np.where(sh_ok[:, None], shoulders, mean))
    torso = np.linalg.norm(shoulders - hips, axis=1)
    lo = np.where(present[..., None], j, np.inf).min(axis=1)
    hi = np.where(present[..., None], j, -np.inf).max(axis=1)
    diag = np.where(any_present, np.linalg.norm(np.where(any_present[:, None], hi - lo, 0.0), axis=1), 0.0)
    is_torso = hips_ok & sh_ok & (torso > 0)
    scale = np.where(is_torso, torso, np.where(diag > 0, diag, 1.0))
    return centre, scale, is_torso


def joint_features(joints: NDArray[np.float64]) -> NDArray[np.float64]:
    """Features (module docstring) of N people's canonical joints.

    joints: (N, 14, 2) pixels, NaN where missing (see `canonical_joints`). Returns (N, NUM_FEATURES) float64,
    no NaN.
    """
    j = np.array(joints, dtype=np.float64)
    j[~np.isfinite(j).all(axis=2)] = np.nan  # a joint is present with both coordinates or not at all
    n = j.shape[0]
    centre, scale, is_torso = body_frame(j)
    norm = (j - centre[:, None, :]) / scale[:, None, None]
    angles = np.stack([_angle(j[:, _J[a]], j[:, _J[v]], j[:, _J[b]]) for _, a, v, b in _ANGLES], axis=1)
    up = _mid(j[:, _J["left_shoulder"]], j[:, _J["right_shoulder"]]) - _mid(j[:, _J["left_hip"]],
                                                                          j[:, _J["right_hip"]])
    up_len = np.linalg.norm(up, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        torso_dir = np.where((up_len > 0)[:, None], up / up_len[:, None], np.nan)
    lengths = np.stack([np.linalg.norm(norm[:, _J[a]] - norm[:, _J[b]], axis=1) for _, a, b in _LIMBS],
                       axis=1)
    y = norm[..., 1]
    sides = [
        (angles[:, 0], angles[:, 1]), (angles[:, 2], angles[:, 3]), (angles[:, 4], angles[:, 5]),
        (angles[:, 6], angles[:, 7]),
        (y[:, _J["left_shoulder"]] - y[:, _J["left_wrist"]],
         y[:, _J["right_shoulder"]] - y[:, _J["right_wrist"]]),
        (y[:, _J["left_ankle"]] - y[:, _J["left_hip"]], y[:, _J["right_ankle"]] - y[:, _J["right_hip"]]),
    ]
    sym = []
    for left, right in sides:
        # min/max over the sides that are present (one side alone gives min == max)
        sym += [np.fmin(left, right), np.fmax(left, right)]
    feats = np.concatenate([
        norm.reshape(n, -1), angles, torso_dir, lengths, np.stack(sym, axis=1),
        (~np.isfinite(j[..., 0])).astype(np.float64), is_torso[:, None].astype(np.float64),
    ], axis=1)
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)


def pose_features(xy: NDArray[np.floating], valid: NDArray[np.bool_], schema: Schema) -> NDArray[np.float64]:
    """Features of N people given in any supported schema.

    xy: (N, K, 2) pixels; valid: (N, K) bool (visibility > 0, or score >= a threshold); NaN coordinates
    count as missing. Returns (N, NUM_FEATURES) float64.
    """
    return joint_features(canonical_joints(xy, valid, schema))
