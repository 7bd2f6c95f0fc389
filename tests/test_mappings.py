"""Schema -> COCO-17 mappings: tables by name, `to_coco17` on hand-made poses, COCO results for any schema."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.formats import to_coco_results
from posekit.skeletons import BLAZEPOSE33, COCO17, COCO17_FROM, LSP14, MPII16, Schema, to_coco17
from posekit.types import Poses


@pytest.mark.parametrize("schema, missing", [
    (COCO17, set()),
    (BLAZEPOSE33, set()),
    (MPII16, {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}),
    (LSP14, {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}),
])
def test_tables_pair_joints_by_name(schema, missing):
    table = COCO17_FROM[schema.name]
    assert len(table) == 17
    for j, src in enumerate(table):
        name = COCO17.keypoints[j]
        if name in missing:
            assert src is None
        else:
            assert schema.keypoints[src] == name


def test_explicit_indices():
    # MPII: r_ankle 0 .. l_ankle 5, pelvis 6, thorax 7, upper_neck 8, head_top 9, r_wrist 10 .. l_wrist 15
    assert COCO17_FROM["mpii16"] == (None,) * 5 + (13, 12, 14, 11, 15, 10, 3, 2, 4, 1, 5, 0)
    assert COCO17_FROM["blazepose33"] == (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def _numbered(schema: Schema, n: int = 2) -> Poses:
    """Keypoint k of person i at (100 i + k, 1000 + k), score (k + 1) / 100: every value traceable."""
    k = schema.num_keypoints
    xy = np.stack([np.add.outer(100 * np.arange(n), np.arange(k)),
                   np.broadcast_to(1000 + np.arange(k), (n, k))], axis=-1)
    scores = np.broadcast_to((np.arange(k) + 1) / 100, (n, k))
    boxes = np.array([[0, 0, 10, 20]] * n)
    return Poses(xy, scores, np.array([0.9, 0.8][:n]), schema, boxes)


def test_mpii_to_coco_moves_joints_and_zeroes_the_face():
    coco = to_coco17(_numbered(MPII16))
    assert coco.schema is COCO17 and coco.xy.shape == (2, 17, 2)
    ls = COCO17.index("left_shoulder")  # MPII left_shoulder is index 13
    np.testing.assert_array_equal(coco.xy[1, ls], [113, 1013])
    assert coco.scores[1, ls] == pytest.approx(0.14)
    np.testing.assert_array_equal(coco.xy[:, :5], 0)
    np.testing.assert_array_equal(coco.scores[:, :5], 0)
    np.testing.assert_array_equal(coco.pose_scores, np.float32([0.9, 0.8]))
    np.testing.assert_array_equal(coco.boxes, [[0, 0, 10, 20]] * 2)


def test_blazepose_to_coco_keeps_the_face():
    coco = to_coco17(_numbered(BLAZEPOSE33, 1))
    want = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    np.testing.assert_array_equal(coco.xy[0, :, 0], want)


def test_coco_results_for_mpii_write_zero_triplets():
    res = to_coco_results(_numbered(MPII16, 1), 42)
    kp = res[0]["keypoints"]
    assert len(kp) == 51 and kp[:15] == [0.0] * 15
    assert kp[15:18] == [13.0, 1013.0, 0.14]  # left shoulder
    assert kp[48:51] == [0.0, 1000.0, 0.01]  # right ankle = MPII 0
    assert res[0]["bbox"] == [0.0, 0.0, 10.0, 20.0] and res[0]["image_id"] == 42


def test_unmapped_schema_is_refused():
    odd = Schema("odd3", ("a", "b", "c"), (), ())
    with pytest.raises(PosekitError, match="odd3 has no COCO-17 mapping"):
        to_coco_results(_numbered(odd, 1), 1)
