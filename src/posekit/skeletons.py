"""Keypoint schemas: names, skeleton edges and left/right flip pairs.

Indices follow each dataset's own order. ``Schema.flip_pairs`` lists (left, right) index pairs that a
horizontal flip swaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posekit.types import Poses


@dataclass(frozen=True)
class Schema:
    name: str
    keypoints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    def flip_permutation(self) -> list[int]:
        """Index permutation that swaps left and right keypoints (for horizontal flips)."""
        perm = list(range(self.num_keypoints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def _edges(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


def _flips(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Pair every name that starts with a left marker with its right twin."""
    pairs = []
    for i, n in enumerate(names):
        for left, right in (("left_", "right_"), ("l_", "r_")):
            if n.startswith(left):
                twin = right + n[len(left):]
                if twin in names:
                    pairs.append((i, names.index(twin)))
    return tuple(pairs)


_COCO = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO17 = Schema(
    "coco17",
    _COCO,
    _edges(_COCO, [
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ]),
    _flips(_COCO),
)

_MPII = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
MPII16 = Schema(
    "mpii16",
    _MPII,
    _edges(_MPII, [
        ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
        ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("left_hip", "pelvis"),
        ("pelvis", "thorax"), ("thorax", "upper_neck"), ("upper_neck", "head_top"),
        ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"), ("right_shoulder", "thorax"),
        ("left_wrist", "left_elbow"), ("left_elbow", "left_shoulder"), ("left_shoulder", "thorax"),
    ]),
    _flips(_MPII),
)

_LSP = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)
LSP14 = Schema(
    "lsp14",
    _LSP,
    _edges(_LSP, [
        ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
        ("left_knee", "left_hip"), ("right_hip", "left_hip"), ("right_wrist", "right_elbow"),
        ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"), ("left_elbow", "left_shoulder"),
        ("right_shoulder", "left_shoulder"), ("right_shoulder", "right_hip"), ("left_shoulder", "left_hip"),
        ("neck", "head_top"), ("right_shoulder", "neck"), ("left_shoulder", "neck"),
    ]),
    _flips(_LSP),
)

# MediaPipe BlazePose landmark order.
_BLAZE = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
BLAZEPOSE33 = Schema(
    "blazepose33",
    _BLAZE,
    _edges(_BLAZE, [
        ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
        ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"), ("mouth_left", "mouth_right"),
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("left_wrist", "left_pinky"), ("left_wrist", "left_index"), ("left_wrist", "left_thumb"),
        ("left_pinky", "left_index"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("right_wrist", "right_pinky"), ("right_wrist", "right_index"), ("right_wrist", "right_thumb"),
        ("right_pinky", "right_index"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("left_hip", "right_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("left_ankle", "left_heel"), ("left_heel", "left_foot_index"), ("left_ankle", "left_foot_index"),
        ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_heel"),
        ("right_heel", "right_foot_index"), ("right_ankle", "right_foot_index"),
    ]),
    tuple((i, _BLAZE.index(n.replace("left", "right", 1))) for i, n in enumerate(_BLAZE)
          if n.startswith("left") or n == "mouth_left"),
)

SCHEMAS: dict[str, Schema] = {s.name: s for s in (COCO17, MPII16, LSP14, BLAZEPOSE33)}


def get_schema(name: str) -> Schema:
    """A schema by name: one of ``SCHEMAS``, or ``base+joint+joint`` (`grown_schema`)."""
    from posekit.errors import PosekitError

    if name in SCHEMAS:
        return SCHEMAS[name]
    base, *joints = name.split("+")
    if joints and base in SCHEMAS:
        return grown_schema(SCHEMAS[base], joints)
    raise PosekitError(f"unknown keypoint schema {name!r}; known: {', '.join(SCHEMAS)} (or base+joint+...)")


def grown_schema(base: Schema, joints: Sequence[str]) -> Schema:
    """``base`` with ``joints`` appended (a model that grew output channels for a dataset's joints it lacked:
    MoveNet fine-tuned on LSP gives ``coco17+neck+head_top``). Named ``base+joint+...``; the new joints take
    their edges from the first schema of ``SCHEMAS`` that has them all (edges whose ends both exist)."""
    from posekit.errors import PosekitError

    joints = tuple(joints)
    clash = [j for j in joints if j in base.keypoints or joints.count(j) > 1]
    donor = next((s for s in SCHEMAS.values() if set(joints) <= set(s.keypoints)), None)
    if clash or donor is None:
        raise PosekitError(f"schema {base.name}+{'+'.join(joints)}: "
                           + (f"{clash[0]} is already a joint" if clash else
                              f"no known schema has the joints {', '.join(joints)}"))
    names = base.keypoints + joints
    pairs = [(donor.keypoints[a], donor.keypoints[b]) for a, b in donor.edges]
    new = [(a, b) for a, b in pairs if {a, b} <= set(names) and {a, b} & set(joints)]
    return Schema("+".join((base.name, *joints)), names, base.edges + _edges(names, new), _flips(names))


# Joints that are the same point under different names in different schemas. Everything else maps by
# identical name. Documented approximations: LSP's "neck" is MPII's "upper_neck" (both annotate the base of
# the head). Joints with no counterpart (COCO has no head top or neck, MPII and LSP have no face points,
# only MPII has pelvis and thorax) are unavailable, never guessed from other joints.
ALIASES: dict[str, str] = {"neck": "upper_neck", "upper_neck": "neck"}


def joint_mapping(src: Schema, dst: Schema) -> list[int | None]:
    """For each joint of ``dst``, its index in ``src`` (or None when ``src`` lacks it)."""
    out: list[int | None] = []
    for name in dst.keypoints:
        if name in src.keypoints:
            out.append(src.keypoints.index(name))
        elif ALIASES.get(name) in src.keypoints:
            out.append(src.keypoints.index(ALIASES[name]))
        else:
            out.append(None)
    return out


def convert_keypoints(xy, scores, src: Schema, dst: Schema):
    """Re-index (..., K_src, 2) coordinates and (..., K_src) scores into ``dst``'s joints.

    Joints ``src`` lacks get coordinates (0, 0) and score 0 (unavailable). Returns (xy, scores, available)
    with ``available`` a (K_dst,) bool mask.
    """
    import numpy as np

    xy, scores = np.asarray(xy, np.float32), np.asarray(scores, np.float32)
    mapping = joint_mapping(src, dst)
    available = np.array([m is not None for m in mapping])
    idx = np.array([m if m is not None else 0 for m in mapping], dtype=np.intp)
    out_xy = np.where(available[:, None], xy[..., idx, :], 0.0).astype(np.float32)
    out_scores = np.where(available, scores[..., idx], 0.0).astype(np.float32)
    return out_xy, out_scores, available


# --- Mappings to COCO-17 (for `--format coco` and COCO metrics on other schemas) -------------------------
# By joint name through `joint_mapping`: MPII-16 and LSP-14 have no face points, so nose, eyes and ears are
# unavailable; their head_top, upper_neck / neck and (MPII) thorax and pelvis are dropped: none of them is a
# COCO joint, and a nose guessed between head top and neck would be scored by OKS against the real nose with
# the smallest sigma (0.026) and be wrong. BlazePose-33 carries all 17 COCO joints under the same names.
COCO17_FROM: dict[str, tuple[int | None, ...]] = {
    name: tuple(joint_mapping(schema, COCO17)) for name, schema in SCHEMAS.items()
}


def to_coco17(poses: Poses) -> Poses:
    """The same people in COCO-17 keypoints: ``Poses`` (N, K) -> ``Poses`` (N, 17), boxes and pose scores
    kept. Joints the source schema lacks get xy (0, 0) and score 0 (COCO's "not labelled")."""
    from posekit.errors import PosekitError
    from posekit.types import Poses

    xy, scores, available = convert_keypoints(poses.xy, poses.scores, poses.schema, COCO17)
    if not available.any():
        raise PosekitError(f"schema {poses.schema.name} has no COCO-17 mapping: it shares no joint name "
                           "with COCO-17 (see posekit.skeletons.ALIASES)")
    return Poses(xy, scores, poses.pose_scores, COCO17, poses.boxes)
