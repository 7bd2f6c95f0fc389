"""Heatmap decoder (posekit.decode.heatmap) and the Gaussian encoder (posekit.train.targets) as inverses."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.decode.heatmap import decode_heatmaps, decode_heatmaps_batch
from posekit.errors import PosekitError
from posekit.train.targets import HeatmapCodec, gaussian_heatmaps


def test_integer_argmax_exact_for_every_refinement() -> None:
    hm = np.zeros((3, 8, 10), np.float32)
    hm[0, 2, 7] = 0.9  # isolated peak: neighbours 0 -> no shift in any refinement
    hm[1, 5, 1] = 0.4
    hm[2, 7, 9] = 0.7  # bottom-right corner: no neighbours on the far side
    for refine in ("none", "quarter", "quadratic"):
        xy, scores = decode_heatmaps(hm, refine)
        np.testing.assert_array_equal(xy, [[7, 2], [1, 5], [9, 7]])
        np.testing.assert_allclose(scores, [0.9, 0.4, 0.7])


def test_quarter_offset_moves_towards_higher_neighbour() -> None:
    hm = np.zeros((1, 5, 5), np.float32)
    hm[0, 2, 2] = 1.0
    hm[0, 2, 3] = 0.5  # right > left -> +0.25 in x
    hm[0, 1, 2] = 0.2  # up > down -> -0.25 in y
    xy, _ = decode_heatmaps(hm, "quarter")
    np.testing.assert_allclose(xy, [[2.25, 1.75]])


@pytest.mark.parametrize("x, y", [(10.0, 7.0), (10.3, 7.8), (3.49, 12.51), (0.6, 14.2), (15.0, 0.25)])
def test_encode_then_decode_recovers_subpixel_location(x: float, y: float) -> None:
    maps, weights = gaussian_heatmaps(np.array([[x, y]]), np.array([True]), (16, 16), sigma=2.0)
    assert weights.tolist() == [1.0]
    xy, scores = decode_heatmaps(maps, "quadratic")
    np.testing.assert_allclose(xy[0], [x, y], atol=1e-3)
    assert 0.88 < scores[0] <= 1.0  # peak pixel within half a pixel of the centre
    xq, _ = decode_heatmaps(maps, "none")
    np.testing.assert_array_equal(xq[0], [round(x), round(y)])


def test_codec_round_trip_in_input_pixels_and_strides() -> None:
    codec = HeatmapCodec((128, 96), (32, 24), sigma=1.0)
    assert codec.stride == (4.0, 4.0)
    pts = np.array([[40.3, 61.7], [1.5, 2.5], [90.0, 120.0]], np.float32)
    maps, w = codec.encode(pts, np.array([True, True, False]))
    assert maps.shape == (3, 32, 24) and w.tolist() == [1, 1, 0]
    assert not maps[2].any()
    xy, _ = codec.decode(maps[None])
    np.testing.assert_allclose(xy[0, :2], pts[:2], atol=5e-3)
    # pixel centres: input pixel 1.5 is the centre of heatmap pixel 0 at stride 4
    np.testing.assert_allclose(codec.to_heatmap(np.array([1.5, 5.5])), [0.0, 1.0])


def test_off_map_keypoint_gets_zero_weight() -> None:
    maps, w = gaussian_heatmaps(np.array([[-7.0, 3.0], [-5.0, 3.0]]), np.array([True, True]), (8, 8), 2.0)
    assert w.tolist() == [0.0, 1.0]  # -7 is beyond 3 sigma of pixel 0; -5 is not
    assert maps[0].max() == 0.0 and maps[1].max() > 0


def test_batch_matches_single() -> None:
    rng = np.random.default_rng(0)
    hm = rng.random((4, 3, 9, 11)).astype(np.float32)
    xy, sc = decode_heatmaps_batch(hm)
    for i in range(4):
        xi, si = decode_heatmaps(hm[i : i + 1])
        np.testing.assert_array_equal(xy[i], xi)
        np.testing.assert_array_equal(sc[i], si)


@pytest.mark.parametrize(
    "shape, refine, message",
    [((3, 4), "quadratic", "shape"), ((2, 3, 4, 4), "quadratic", "shape"), ((1, 4, 4), "dark", "refinement")],
)
def test_bad_input_raises(shape: tuple[int, ...], refine: str, message: str) -> None:
    with pytest.raises(PosekitError, match=message):
        decode_heatmaps(np.zeros(shape, np.float32), refine)
