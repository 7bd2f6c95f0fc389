"""Person detectors: the shared clean-up and both decoders by hand, then the real graphs on real images."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.models import detectors as D
from posekit.preprocess import Letterbox
from posekit.video.matching import box_iou

IDENTITY_416 = Letterbox(1.0, 0.0, 0.0, 416, 416)


def test_iou_and_nms_by_hand():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    iou = box_iou(boxes[:1], boxes)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 81 / 119, 0.0])
    # box 2 overlaps box 0 at 0.68 > 0.5: suppressed; box 1 at 0.33 survives.
    assert D.nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), iou=0.5).tolist() == [0, 1, 3]
    assert D.nms(boxes, np.array([0.5, 0.8, 0.9, 0.6]), iou=0.5).tolist() == [2, 1, 3]


def test_finish_clips_drops_tiny_boxes_and_counts_them():
    boxes = np.array([
        [-20, 10, 30, 90],     # partly outside on the left: clipped to x1 = 0
        [80, 50, 130, 120],    # partly outside right and bottom (image 100 x 100)
        [40, 40, 45, 80],      # 5 px wide: too small
        [200, 200, 260, 260],  # wholly outside: clipped to nothing, too small
        [10, 10, 60, 60],      # below the score threshold
    ], np.float32)
    scores = np.array([0.9, 0.8, 0.95, 0.7, 0.05], np.float32)
    found = D.finish(boxes, scores, 100, 100, min_score=0.1, iou=0.5)
    np.testing.assert_array_equal(found.boxes, [[0, 10, 30, 90], [80, 50, 100, 100]])
    np.testing.assert_array_equal(found.scores, np.float32([0.9, 0.8]))
    assert (found.too_small, found.over_cap) == (2, 0)


def test_finish_caps_a_texture_of_boxes():
    """A grid of 100 disjoint confident boxes (a texture that lights up everywhere): the best MAX_BOXES."""
    xs, ys = np.meshgrid(np.arange(10) * 20.0, np.arange(10) * 20.0)
    boxes = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + 15, ys.ravel() + 15], axis=1)
    scores = np.linspace(0.99, 0.5, 100)
    found = D.finish(boxes, scores, 200, 200, min_score=0.1, iou=0.5)
    assert len(found) == D.MAX_BOXES == 20 and found.over_cap == 80
    np.testing.assert_allclose(found.scores, scores[:20].astype(np.float32))


def test_finish_of_nothing_is_empty():
    found = D.finish(np.zeros((0, 4)), np.zeros(0), 64, 48, min_score=0.1, iou=0.5)
    assert found.boxes.shape == (0, 4) and len(found) == 0 and found.too_small == 0


def _nanodet_outputs(cells: dict[int, int], person: dict[tuple[int, int], float],
                     dist: dict[tuple[int, int], tuple[int, int, int, int]]) -> dict[str, np.ndarray]:
    """Fake graph outputs: per stride, scores (1, cells, 80) and one-hot distance logits (1, cells, 44)."""
    out = {}
    for stride, n in cells.items():
        scores = np.zeros((1, n, 80), np.float32)
        logits = np.full((1, n, 4, 11), -30.0, np.float32)
        for (s, cell), value in person.items():
            if s == stride:
                scores[0, cell, 0] = value
                scores[0, cell, 5] = 0.99  # another class: ignored
        for (s, cell), sides in dist.items():
            if s == stride:
                for side, bin_ in enumerate(sides):
                    logits[0, cell, side, bin_] = 30.0
        out[f"scores{stride}"], out[f"dist{stride}"] = scores, logits.reshape(1, n, 44)
    return out


def test_nanodet_gfl_decode_by_hand():
    det = D.NanoDet(runner=None, min_score=0.3)
    cells = {8: 52 * 52, 16: 26 * 26, 32: 13 * 13}
    # stride 32, row 2, col 3: centre (3.5 * 32, 2.5 * 32) = (112, 80); distances 1, 2, 3, 4 bins of 32 px.
    # stride 8, row 10, col 20: centre (164, 84); distances 2, 2, 2, 2 bins of 8 px; score under threshold.
    outputs = _nanodet_outputs(cells, {(32, 2 * 13 + 3): 0.8, (8, 10 * 52 + 20): 0.2},
                               {(32, 2 * 13 + 3): (1, 2, 3, 4), (8, 10 * 52 + 20): (2, 2, 2, 2)})
    found = det.decode(outputs, IDENTITY_416, 416, 416)
    np.testing.assert_allclose(found.boxes, [[112 - 32, 80 - 64, 112 + 96, 80 + 128]], atol=1e-3)
    np.testing.assert_allclose(found.scores, [0.8])
    # The same output for a 832 x 416 image letterboxed at scale 0.5 (black below): boxes double.
    found = det.decode(outputs, Letterbox(0.5, 0.0, 0.0, 416, 416), 832, 416)
    np.testing.assert_allclose(found.boxes, [[160, 32, 416, 416]], atol=1e-3)  # y2 416 clipped from 416


def test_centernet_keeps_class_person_and_maps_back():
    det = D.CenterNet(runner=None, min_score=0.2)
    rows = np.array([[10, 20, 110, 220, 0.9, 0],     # person
                     [300, 20, 400, 220, 0.95, 2],   # car: dropped
                     [200, 40, 260, 160, 0.1, 0]],   # person under the score threshold
                    np.float32)
    found = det.decode(rows, Letterbox(0.5, 0.0, 0.0, 512, 512), 1024, 600)
    np.testing.assert_allclose(found.boxes, [[20, 40, 220, 440]])
    np.testing.assert_allclose(found.scores, [0.9])


def test_unknown_detector_is_named():
    with pytest.raises(PosekitError, match="--detector yolo: use one of centernet, nanodet"):
        D.load_detector("yolo")


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


@pytest.mark.network
@pytest.mark.parametrize("name", ["centernet", "nanodet"])
def test_real_detector_finds_the_astronaut_and_nobody_in_a_blank_image(model_package, astronaut, name):
    det = D.load_detector(name, threads=1)
    found = det.detect(astronaut)
    assert len(found) >= 1
    x1, y1, x2, y2 = found.boxes[0]
    # She fills the left two thirds of the 512 x 512 photo, head near the top, cut off at the bottom.
    assert x1 < 120 and 300 < x2 < 460 and y1 < 60 and y2 > 480, found.boxes[0]
    assert len(det.detect(np.full((300, 400, 3), 127, np.uint8))) == 0
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3)).astype(np.uint8)
    assert len(det.detect(noise)) <= D.MAX_BOXES


@pytest.mark.network
def test_nanodet_recall_on_coco8_pose(model_package, shared_data):
    """Real COCO people: nanodet finds at least 17 of the 21 annotated people of coco8-pose (IoU >= 0.5)."""
    from posekit.datasets import load_dataset
    from posekit.images import read_image

    det = D.load_detector("nanodet", threads=1)
    found = total = 0
    for sample in load_dataset(f"yolo:{shared_data / 'coco8-pose'}"):
        gt = np.array([p.box for p in sample.persons if p.box is not None], np.float32).reshape(-1, 4)
        boxes = det.detect(read_image(sample.image_path).rgb).boxes
        if len(gt) and len(boxes):
            found += int((box_iou(gt, boxes).max(axis=1) >= 0.5).sum())
        total += len(gt)
    assert total == 21 and found >= 17, (found, total)
