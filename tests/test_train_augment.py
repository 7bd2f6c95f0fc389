"""Crops and augmentation: one affine matrix moves image and keypoints together; flips swap left/right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from posekit.datasets.sample import Person, Sample
from posekit.skeletons import LSP14
from posekit.train.augment import (
    NO_AUGMENT,
    AugmentConfig,
    crop_matrix,
    keypoint_box,
    random_matrix,
    transform_points,
    warp_image,
)

K = LSP14.num_keypoints
# 14 distinct, saturated colours (channel values far apart so bilinear blur cannot confuse them)
COLOURS = np.array(
    [(r, g, b) for r in (0, 255) for g in (0, 128, 255) for b in (0, 255) if (r, g, b) != (0, 0, 0)][:11]
    + [(128, 0, 255), (255, 0, 128), (128, 255, 0)],
    dtype=np.uint8,
)


def dotted_image(width: int = 160, height: int = 140, radius: int = 4) -> tuple[Image.Image, np.ndarray]:
    """A black image with a coloured disc centred on each of 14 keypoints (integer pixel centres)."""
    rng = np.random.default_rng(5)
    xy = np.stack([rng.integers(30, width - 30, K), rng.integers(25, height - 25, K)], 1).astype(np.float32)
    # keep discs apart so each neighbourhood holds one colour
    for i in range(K):
        while any(np.abs(xy[i] - xy[j]).max() < 2 * radius + 4 for j in range(i)):
            xy[i] = (rng.integers(30, width - 30), rng.integers(25, height - 25))
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for (x, y), c in zip(xy, COLOURS, strict=True):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(int(v) for v in c))
    return img, xy


def test_colours_are_distinct() -> None:
    assert len({tuple(c) for c in COLOURS}) == K


def test_crop_matrix_maps_box_centre_to_crop_centre() -> None:
    m = crop_matrix(np.array([10, 20, 50, 100]), (64, 48), enlarge=1.0)
    # box 40x80, input 48x64 (w x h): the crop side follows the height 80 -> scale 64/80 = 0.8
    np.testing.assert_allclose(
        transform_points(np.array([[30, 60], [30, 20]]), m), [[23.5, 31.5], [23.5, -0.5]]
    )
    flipped = crop_matrix(np.array([10, 20, 50, 100]), (64, 48), enlarge=1.0, flip=True)
    np.testing.assert_allclose(transform_points(np.array([[40, 60]]), flipped), [[23.5 - 8, 31.5]])
    rot = crop_matrix(np.array([10, 20, 50, 100]), (64, 48), enlarge=1.0, rotation=90)
    # +90 degrees is counter-clockwise as seen: a point right of the centre goes up
    np.testing.assert_allclose(transform_points(np.array([[40, 60]]), rot), [[23.5, 31.5 - 8]], atol=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_transformed_keypoints_land_on_their_own_colour(seed: int) -> None:
    img, xy = dotted_image()
    box = keypoint_box(xy, np.ones(K, bool))
    cfg = AugmentConfig(flip=0.5, rotation=30, scale=(0.9, 1.1), enlarge=(1.1, 1.5))
    m, flipped = random_matrix(np.random.default_rng(seed), box, (128, 128), cfg)
    crop = np.asarray(warp_image(img, m, (128, 128))).astype(int)
    pts = transform_points(xy, m)
    perm = np.asarray(LSP14.flip_permutation()) if flipped else np.arange(K)
    pts = pts[perm]  # keypoint j of the crop is the original keypoint perm[j]
    checked = 0
    for j in range(K):
        x, y = np.round(pts[j]).astype(int)
        if not (0 <= x < 128 and 0 <= y < 128):  # rotated out of the crop
            continue
        checked += 1
        assert np.abs(crop[y, x] - COLOURS[perm[j]].astype(int)).max() <= 2, (j, flipped, crop[y, x])
    assert checked >= 10


def test_flip_happens_for_half_of_the_seeds_and_renames_left_right() -> None:
    box = np.array([0, 0, 100, 100], np.float32)
    flips = [random_matrix(np.random.default_rng(s), box, (64, 64), AugmentConfig())[1] for s in range(200)]
    assert 70 < sum(flips) < 130
    perm = LSP14.flip_permutation()
    assert LSP14.keypoints[perm[LSP14.index("left_wrist")]] == "right_wrist"
    assert perm[LSP14.index("neck")] == LSP14.index("neck")


def test_dataset_item_heatmaps_and_keypoints_follow_the_image(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from posekit.train.generator import PersonDataset
    from posekit.train.targets import HeatmapCodec

    img, xy = dotted_image()
    img.save(tmp_path / "dots.png")
    vis = np.full(K, 2, np.int8)
    vis[3] = 0  # unlabelled: weight 0 wherever it lands
    sample = Sample(tmp_path / "dots.png", 160, 140, LSP14, [Person(xy, vis)])
    codec = HeatmapCodec((128, 128), (32, 32), 1.0)
    cfg = AugmentConfig(brightness=0.0, contrast=0.0, noise=0.0)
    ds = PersonDataset([sample], codec, cfg, seed=3)
    seen_flip = set()
    for epoch in range(6):
        item = ds.load(epoch, 0)
        image = item["image"].transpose(1, 2, 0) * np.array([0.229, 0.224, 0.225]) + np.array(
            [0.485, 0.456, 0.406]
        )
        pixels = np.round(image * 255).astype(int)
        labelled = item["labelled"]
        perm = LSP14.flip_permutation()
        flipped = bool(
            labelled[3]
        )  # the unlabelled left hip (3) swapped slots with the right hip when flipped
        assert labelled.sum() == K - 1 and not labelled[perm[3] if flipped else 3]
        seen_flip.add(flipped)
        order = np.asarray(perm) if flipped else np.arange(K)
        for j in range(K):
            if not labelled[j]:
                assert item["weights"][j] == 0 and not item["heatmaps"][j].any()
                continue
            x, y = np.round(item["keypoints"][j]).astype(int)
            if not (0 <= x < 128 and 0 <= y < 128):
                assert item["weights"][j] == (1.0 if min(x, y) > -12 and max(x, y) < 139 else 0.0)
                continue
            assert np.abs(pixels[y, x] - COLOURS[order[j]]).max() <= 3
            hm = item["heatmaps"][j]
            py, px = np.unravel_index(hm.argmax(), hm.shape)
            np.testing.assert_allclose(
                codec.to_input(np.array([px, py], np.float32)), item["keypoints"][j], atol=2.5
            )
    assert seen_flip == {True, False}
    assert ds.load(2, 0)["keypoints"].tolist() == ds.load(2, 0)["keypoints"].tolist()
    assert ds.load(2, 0)["keypoints"].tolist() != ds.load(3, 0)["keypoints"].tolist()


def test_eval_crop_is_deterministic_and_centred() -> None:
    box = np.array([10, 10, 110, 60], np.float32)
    m1, f1 = random_matrix(np.random.default_rng(1), box, (64, 64), NO_AUGMENT)
    m2, f2 = random_matrix(np.random.default_rng(2), box, (64, 64), NO_AUGMENT)
    np.testing.assert_array_equal(m1, m2)
    assert not f1 and not f2
    # box width 100 * 1.3 -> 130 px onto 64 px
    np.testing.assert_allclose(m1[0, 0], 64 / 130)
