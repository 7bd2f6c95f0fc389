"""Test-time augmentation and batched crops: exact inverses by hand, then on real models."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.models import tta as T
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import Schema
from posekit.types import Poses

# Three joints: left and right swap under a flip.
TOY = Schema("toy3", ("middle", "left_hand", "right_hand"), ((0, 1), (0, 2)), ((1, 2),))
SIZE = 64


class DotModel:
    """A fake one-person model that sees the augmented tensor like a real one, so only exact inverses give
    its answer back. The image holds a red dot (the middle joint) and two green dots (the hands). Like a
    real model it is mirror-aware: it calls "left hand" the green dot L for which the cross product of
    (L - middle) and (R - middle) is positive, a rule that quarter turns keep and a mirror reverses.
    ``heatmaps``: infer returns one-hot (K, H, W) maps (as EfficientPose), else points (as MoveNet)."""

    def __init__(self, heatmaps: bool) -> None:
        self.spec = ModelSpec("dots", "toy", "dots", SIZE, TOY, False, "", "", "")
        self.schema, self.min_score, self.heatmaps = TOY, 0.0, heatmaps

    def preprocess(self, rgb):
        boxed, lb = letterbox(rgb, SIZE, SIZE, center=True)
        return boxed.astype(np.float32)[None], lb

    def infer(self, tensor):
        red, green = tensor[0, :, :, 0], tensor[0, :, :, 1]
        middle = np.array(np.unravel_index(red.argmax(), red.shape))[::-1]  # (x, y) pixel
        a, b = (np.array(np.unravel_index(i, green.shape))[::-1] for i in np.argsort(-green.ravel())[:2])
        (ax, ay), (bx, by) = a - middle, b - middle
        left, right = (a, b) if ax * by - ay * bx > 0 else (b, a)
        points = np.stack([middle, left, right]).astype(np.float32)
        if not self.heatmaps:
            return np.c_[points + 0.5, np.ones(3, np.float32)]
        maps = np.zeros((3, SIZE, SIZE), np.float32)
        maps[np.arange(3), points[:, 1].astype(int), points[:, 0].astype(int)] = 1.0
        return maps

    def postprocess(self, raw, lb: Letterbox) -> Poses:
        if self.heatmaps:
            flat = raw.reshape(3, -1)
            rows, cols = np.unravel_index(flat.argmax(axis=1), raw.shape[1:])
            xy, scores = np.stack([cols + 0.5, rows + 0.5], axis=1), flat.max(axis=1)
        else:
            xy = raw[:, :2] * np.array([lb.input_w / SIZE, lb.input_h / SIZE])
            scores = raw[:, 2]
        return Poses(lb.to_image(xy)[None], scores[None].astype(np.float32), [float(scores.mean())], TOY)

    def predict(self, rgb):
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)


def dots_image() -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 64 image (letterboxed into 64 x 64 with 12 px bands) with the three dots; their centres."""
    rgb = np.zeros((40, 64, 3), np.uint8)
    where = np.array([[30, 20], [10, 5], [50, 33]])  # (x, y) of middle, left_hand, right_hand
    rgb[20, 30, 0] = 255
    rgb[5, 10, 1] = rgb[33, 50, 1] = 255
    return rgb, where + 0.5


def test_the_dot_model_tells_left_from_right():
    rgb, centres = dots_image()
    np.testing.assert_allclose(DotModel(False).predict(rgb).xy[0], centres)
    mirrored = DotModel(False).predict(rgb[:, ::-1].copy()).xy[0]
    np.testing.assert_allclose(mirrored[1], [64 - centres[2, 0], centres[2, 1]])  # "left" = the right hand


@pytest.mark.parametrize("heatmaps", [False, True])
@pytest.mark.parametrize(("turns", "flip"), T.TTA_MODES["flip,rot"])
def test_each_augmentation_maps_back_exactly(heatmaps, turns, flip, monkeypatch):
    rgb, centres = dots_image()
    monkeypatch.setitem(T.TTA_MODES, "flip", ((turns, flip),))
    poses = T.CropModel(DotModel(heatmaps), tta="flip").predict(rgb)
    # A flip shows the left-hand dot where the model's channel 2 looks: the swap must undo it.
    np.testing.assert_allclose(poses.xy[0], centres, atol=1e-4)


def test_points_back_by_hand():
    perm = TOY.flip_permutation()
    xy = np.array([[10.0, 20.0], [1.0, 2.0], [3.0, 4.0]])
    # one quarter turn counter-clockwise sends (x, y) to (y, 64 - x); back: (x', y') -> (64 - y', x')
    np.testing.assert_allclose(T.points_back(np.array([[20.0, 54.0]]), 1, False, 64, [0]), [[10.0, 20.0]])
    np.testing.assert_allclose(T.points_back(xy, 0, True, 64, perm), [[54, 20], [61, 4], [63, 2]])
    np.testing.assert_allclose(T.points_back(xy, 2, False, 64, perm), 64 - xy)


def test_fuse_keypoints_weights_by_score():
    xy = np.array([[[0.0, 0.0]], [[10.0, 20.0]]], np.float32)
    fused, scores = T.fuse_keypoints(xy, np.array([[0.2], [0.6]], np.float32))
    np.testing.assert_allclose(fused, [[7.5, 15.0]])
    np.testing.assert_allclose(scores, [0.4])
    fused, _ = T.fuse_keypoints(xy, np.zeros((2, 1), np.float32))  # no weight anywhere: plain mean
    np.testing.assert_allclose(fused, [[5.0, 10.0]])


def test_parse_tta_and_refusals():
    assert T.parse_tta(None) == T.parse_tta("none") == "none"
    assert T.parse_tta("rot, flip") == "flip,rot"
    with pytest.raises(PosekitError, match="--tta mirror: use none, flip or flip,rot"):
        T.parse_tta("mirror")


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()[:, :400]


@pytest.mark.network
@pytest.mark.parametrize("name", ["movenet-thunder", "efficientpose"])
def test_flip_tta_on_a_real_person_stays_near_the_plain_pose(model_package, astronaut, name):
    from posekit.models.registry import load_model

    model = load_model(name, min_score=0.0)
    plain = model.predict(astronaut)
    flipped = T.CropModel(model, tta="flip").predict(astronaut)
    # Left and right swapped correctly: the median joint moves by a few pixels only, not across the body.
    assert np.median(np.linalg.norm(flipped.xy[0] - plain.xy[0], axis=1)) < 8.0
    # Upside down (turned 180 degrees): flip,rot finds the pose it finds upright, turned (within 10 px
    # median), where the plain model is lost.
    turned = astronaut[::-1, ::-1].copy()
    expected = np.array([400, 512], np.float32) - plain.xy[0]
    with_rot = T.CropModel(model, tta="flip,rot").predict(turned)
    assert np.median(np.linalg.norm(with_rot.xy[0] - expected, axis=1)) < 10.0
    assert np.median(np.linalg.norm(model.predict(turned).xy[0] - expected, axis=1)) > 20.0


@pytest.mark.network
@pytest.mark.parametrize("name, precision", [("efficientpose", "fp32"), ("movenet-thunder", "fp32"),
                                             ("movenet-lightning", "fp32"), ("movenet-lightning", "int8")])
def test_batched_crops_equal_one_call_per_crop(model_package, astronaut, name, precision):
    """efficientpose's graph takes a batch as converted; MoveNet's network file (fp32 or int8) takes one
    and its heads are decoded in numpy all at once. Either way the poses equal one call per crop."""
    from posekit.models.registry import load_model

    model = load_model(name, min_score=0.0, precision=precision)
    runner = T.batch_runner(model, threads=1)
    assert isinstance(runner, T.BatchedGraph if name == "efficientpose" else T.DecodedBatch)
    if precision == "int8":
        assert runner.runner.path == model.runner.path and "-int8-" in runner.runner.path.name
    crops = [astronaut, astronaut[50:450, 20:380].copy(), astronaut[::2, ::2].copy()]
    one = T.CropModel(model).predict_many(crops)
    many = T.CropModel(model, batched=runner).predict_many(crops)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(a.xy, b.xy, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_multi_person_model_refuses_tta():
    spec = ModelSpec("many", "toy", "many", SIZE, TOY, True, "", "", "")

    class Many(DotModel):
        def __init__(self):
            super().__init__(False)
            self.spec = spec

    with pytest.raises(PosekitError, match="one-person model"):
        T.CropModel(Many(), tta="flip")


@pytest.mark.network
def test_python_api_takes_the_same_options(model_package, astronaut):
    import posekit

    flipped = posekit.load_model("movenet-thunder", tta="flip")
    assert isinstance(flipped, T.CropModel) and flipped.tta == "flip" and len(flipped.predict(astronaut)) == 1
    td = posekit.load_topdown("movenet-thunder", "centernet", tta="flip", margin=0.3)
    assert td.detector.name == "centernet" and td.single.tta == "flip" and td.margin == 0.3
