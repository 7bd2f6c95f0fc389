"""Keypoint schemas and the name-based mapping between them."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.skeletons import BLAZEPOSE33, COCO17, LSP14, MPII16, SCHEMAS, convert_keypoints, get_schema


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_flip_permutation_swaps_left_and_right(schema):
    def side_free(name):
        return name.replace("left", "X").replace("right", "X")

    perm = schema.flip_permutation()
    assert sorted(perm) == list(range(schema.num_keypoints))
    for i, j in enumerate(perm):
        a, b = schema.keypoints[i], schema.keypoints[j]
        if i == j:
            assert "left" not in a and "right" not in a
        else:
            assert a != b and side_free(a) == side_free(b)


def test_counts():
    assert [s.num_keypoints for s in (COCO17, MPII16, LSP14, BLAZEPOSE33)] == [17, 16, 14, 33]
    assert len(COCO17.flip_pairs) == 8 and len(MPII16.flip_pairs) == 6 and len(BLAZEPOSE33.flip_pairs) == 16


def test_mpii_to_lsp_uses_the_neck_alias_and_keeps_every_joint():
    xy = np.arange(32, dtype=np.float32).reshape(16, 2)
    out, sc, avail = convert_keypoints(xy, np.ones(16), MPII16, LSP14)
    assert avail.all()
    assert out[LSP14.index("neck")].tolist() == xy[MPII16.index("upper_neck")].tolist()
    assert out[LSP14.index("left_wrist")].tolist() == xy[MPII16.index("left_wrist")].tolist()


def test_coco_to_mpii_marks_missing_joints_unavailable_not_guessed():
    xy = np.full((2, 17, 2), 7.0, np.float32)
    out, sc, avail = convert_keypoints(xy, np.full((2, 17), 0.9), COCO17, MPII16)
    missing = {MPII16.keypoints[i] for i in np.flatnonzero(~avail)}
    assert missing == {"pelvis", "thorax", "upper_neck", "head_top"}
    assert out.shape == (2, 16, 2) and (out[:, ~avail] == 0).all() and (sc[:, ~avail] == 0).all()
    assert (sc[:, avail] == np.float32(0.9)).all()


def test_blazepose_covers_all_of_coco():
    _, _, avail = convert_keypoints(np.zeros((33, 2)), np.zeros(33), BLAZEPOSE33, COCO17)
    assert avail.all()


def test_unknown_schema():
    with pytest.raises(PosekitError, match="coco17"):
        get_schema("h36m")
