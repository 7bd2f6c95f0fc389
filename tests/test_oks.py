"""COCO OKS and keypoint AP / AR: hand-computed OKS and parity with pycocotools (test-only dependency)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.metrics.oks import COCO_SIGMAS, SUMMARY_KEYS, CocoKeypointEvaluator, coco_keypoint_eval, oks

pycocotools = pytest.importorskip("pycocotools")


def reference(gt: dict, dt: list[dict]):
    """pycocotools' COCOeval on deep copies (it mutates its inputs), silenced."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()) as out:
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        res = coco.loadRes(copy.deepcopy(dt))
        ev = COCOeval(coco, res, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev, out.getvalue()


def assert_parity(gt: dict, dt: list[dict]) -> None:
    ref, _ = reference(gt, dt)
    ours = coco_keypoint_eval(gt, dt)
    got = np.array([getattr(ours, k) for k in SUMMARY_KEYS])
    np.testing.assert_allclose(got, ref.stats, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.precision, ref.eval["precision"][..., 0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.recall, ref.eval["recall"][..., 0], atol=1e-6, rtol=0)


def perturbed_detections(gt: dict, seed: int, drop: float = 0.2, false_pos: float = 1.0) -> list[dict]:
    """Detections made from the GT: seeded noise, some dropped, duplicates and false positives."""
    rng = np.random.default_rng(seed)
    dets = []
    cat = gt["categories"][0]["id"]
    for ann in gt["annotations"]:
        if rng.random() < drop:
            continue
        kp = np.array(ann["keypoints"], float).reshape(-1, 3)[:17]
        size = math.sqrt(max(ann.get("area", ann["bbox"][2] * ann["bbox"][3]), 1.0))
        for rep in range(int(rng.integers(1, 3))):
            xy = kp[:, :2] + rng.normal(0, 0.05 * size * (1 + rep), (17, 2))
            if not (kp[:, 2] > 0).any():
                x, y, w, h = ann["bbox"]
                xy = np.c_[rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17)]
            dets.append({"image_id": ann["image_id"], "category_id": cat,
                         "keypoints": np.c_[xy, np.ones(17)].ravel().tolist(), "score": float(rng.random())})
    for img in gt["images"]:
        for _ in range(rng.poisson(false_pos)):
            xy = np.c_[rng.uniform(0, img.get("width", 640), 17), rng.uniform(0, img.get("height", 480), 17)]
            dets.append({"image_id": img["id"], "category_id": cat,
                         "keypoints": np.c_[xy, np.ones(17)].ravel().tolist(), "score": float(rng.random())})
    return dets


# ---------------------------------------------------------------------------------------------- OKS itself

def test_oks_identical_is_one_and_hand_computed_offset() -> None:
    gt = np.random.default_rng(0).uniform(0, 100, (1, 17, 2))
    vis = np.full((1, 17), 2)
    vis[0, 3] = 0  # an unlabelled keypoint does not count
    area = np.array([900.0])
    dt = np.concatenate([gt, gt + [3.0, 4.0]])  # second detection 5 px off on every keypoint
    got = oks(dt, gt, vis, area)
    var = (2 * COCO_SIGMAS) ** 2
    e = 25.0 / var / (900.0 + np.spacing(1)) / 2
    expected = np.mean([math.exp(-v) for i, v in enumerate(e) if i != 3])
    assert got.shape == (2, 1)
    assert got[0, 0] == pytest.approx(1.0, abs=1e-15)
    assert got[1, 0] == pytest.approx(expected, abs=1e-12)


def test_oks_unlabelled_gt_uses_twice_its_box() -> None:
    gt = np.zeros((1, 17, 2))
    vis = np.zeros((1, 17))
    box = np.array([[100.0, 100.0, 20.0, 40.0]])  # 2x box: x in [80, 140], y in [60, 180]
    inside = np.full((1, 17, 2), [85.0, 170.0])
    outside = np.full((1, 17, 2), [70.0, 190.0])  # 10 px left of x0 and 10 px below y1
    area = np.array([500.0])
    assert oks(inside, gt, vis, area, box)[0, 0] == pytest.approx(1.0, abs=1e-15)
    e = 200.0 / (2 * COCO_SIGMAS) ** 2 / (500.0 + np.spacing(1)) / 2
    assert oks(outside, gt, vis, area, box)[0, 0] == pytest.approx(np.mean(np.exp(-e)), abs=1e-12)


# ------------------------------------------------------------------------------------ parity on real files

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_parity_real_coco_val_sample(shared_data, seed: int) -> None:
    gt = json.loads((shared_data / "mmpose-tests/coco/test_coco.json").read_text())
    assert_parity(gt, perturbed_detections(gt, seed))


@pytest.mark.parametrize("name", ["ochuman/test_ochuman.json", "coco/test_coco_wholebody.json",
                                  "posetrack18/annotations/test_posetrack18_val.json",
                                  "posetrack18/annotations/val/012834_mpii_test.json"])
def test_parity_other_real_17_keypoint_files(shared_data, name: str) -> None:
    gt = json.loads((shared_data / "mmpose-tests" / name).read_text())
    assert len(gt["categories"][0]["keypoints"]) == 17
    for ann in gt["annotations"]:  # PoseTrack has no 'area' (pycocotools needs one): use the box
        ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])
    for seed in range(3):
        assert_parity(gt, perturbed_detections(gt, seed, false_pos=0.7))


# ------------------------------------------------------------------------------- parity on generated files

def generated_set(seed: int, n_images: int = 12) -> tuple[dict, list[dict]]:
    """Crowd regions, GT without keypoints, images without detections or without GT, >20 detections."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    ann_id = 0  # id 0 on purpose: pycocotools treats a match to it as a miss
    for img_id in range(1, n_images + 1):
        images.append({"id": img_id * 7, "width": 640, "height": 480})
        n_gt = 0 if img_id % 5 == 0 else int(rng.integers(1, 9))
        for _ in range(n_gt):
            scale = float(rng.choice([20, 60, 150]))  # small / medium / large people
            cx, cy = rng.uniform(100, 540), rng.uniform(100, 380)
            xy = np.c_[rng.normal(cx, scale / 3, 17), rng.normal(cy, scale / 2, 17)]
            vis = rng.choice([0, 1, 2], 17, p=[0.2, 0.2, 0.6])
            kind = rng.random()
            crowd = kind < 0.1
            if crowd or kind < 0.2:
                vis[:] = 0
            x0, y0 = xy.min(0)
            w, h = np.ptp(xy, 0)
            kp = np.c_[np.where(vis[:, None] > 0, xy, 0), vis].ravel()
            anns.append({"id": ann_id, "image_id": img_id * 7, "category_id": 1, "iscrowd": int(crowd),
                         "keypoints": kp.tolist(), "num_keypoints": int((vis > 0).sum()),
                         "area": float(w * h * rng.uniform(0.5, 0.9)), "bbox": [x0, y0, w, h]})
            ann_id += 1
            for rep in range(int(rng.integers(0, 3)) if img_id % 4 != 0 else 0):
                noisy = xy + rng.normal(0, scale * 0.04 * (rep + 1), xy.shape)
                dets.append({"image_id": img_id * 7, "category_id": 1,
                             "keypoints": np.c_[noisy, np.ones(17)].ravel().tolist(),
                             "score": float(np.round(rng.random(), 1))})  # ties in score
        n_fp = 25 if img_id % 3 == 0 else int(rng.integers(0, 4))  # > 20 detections on some images
        if img_id % 4 == 0:
            n_fp = 0  # an image with GT but no detections
        for _ in range(n_fp):
            xy = np.c_[rng.uniform(0, 640, 17), rng.uniform(0, 480, 17)]
            dets.append({"image_id": img_id * 7, "category_id": 1,
                         "keypoints": np.c_[xy, np.ones(17)].ravel().tolist(), "score": float(rng.random())})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "keypoints": [str(i) for i in range(17)]}]}
    return gt, dets


@pytest.mark.parametrize("seed", range(6))
def test_parity_generated_edge_cases(seed: int) -> None:
    gt, dets = generated_set(seed)
    assert any(a["iscrowd"] for a in gt["annotations"])
    assert any(a["num_keypoints"] == 0 and not a["iscrowd"] for a in gt["annotations"])
    assert_parity(gt, dets)


def test_parity_results_with_bbox_take_area_from_bbox() -> None:
    gt, dets = generated_set(11)
    for d in dets:
        xy = np.array(d["keypoints"]).reshape(17, 3)[:, :2]
        d["bbox"] = [*xy.min(0).tolist(), *(np.ptp(xy, 0) * 0.3).tolist()]  # deliberately small boxes
    assert_parity(gt, dets)


def test_parity_two_categories_and_foreign_category_detections() -> None:
    gt, dets = generated_set(5)
    gt["categories"].append({"id": 3, "name": "mannequin", "keypoints": [str(i) for i in range(17)]})
    for ann in gt["annotations"][::3]:
        ann["category_id"] = 3
    dets += [dict(d, category_id=3) for d in dets[::2]] + [dict(d, category_id=9) for d in dets[:5]]
    assert_parity(gt, dets)


def test_perfect_detections_score_one() -> None:
    gt, _ = generated_set(2)
    for ann in gt["annotations"]:
        ann["id"] += 1
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    res = coco_keypoint_eval(gt, dets)
    assert_parity(gt, dets)
    assert res.AP == pytest.approx(1.0) and res.AR == pytest.approx(1.0)


def test_evaluator_update_in_batches_equals_one_call() -> None:
    gt, dets = generated_set(3)
    ev = CocoKeypointEvaluator(gt)
    ev.update(dets[:10])
    ev.update(dets[10:])
    assert ev.compute().as_dict() == coco_keypoint_eval(gt, dets).as_dict()


def test_table_is_printed_like_pycocotools() -> None:
    gt, dets = generated_set(4)
    _, printed = reference(gt, dets)
    summary = [line for line in printed.splitlines() if line.startswith(" Average")]
    assert coco_keypoint_eval(gt, dets).table().splitlines() == summary


# ----------------------------------------------------------------------------------------------- bad input

def _one_det(**change) -> list[dict]:
    det = {"image_id": 7, "category_id": 1, "keypoints": [10.0, 20.0, 1.0] * 17, "score": 0.5}
    det.update(change)
    return [{"image_id": 7, "category_id": 1, "keypoints": [1.0, 2.0, 1.0] * 17, "score": 0.9}, det]


@pytest.mark.parametrize("dets, message", [
    (_one_det(image_id=12345), "result #1 names image_id 12345"),
    (_one_det(keypoints=[1.0, 2.0, 1.0] * 16), "result #1: 'keypoints' must hold 17"),
    (_one_det(keypoints=[float("nan"), 2.0, 1.0] * 17), "result #1: 'keypoints' holds a non-numeric, NaN"),
    (_one_det(score=float("nan")), "result #1: 'score' is not a finite number"),
    (_one_det(score="high"), "result #1: 'score' is not a finite number"),
    ([{"image_id": 7}], "result #0 has no 'category_id'"),
    ({"image_id": 7}, "COCO results must be a JSON list"),
])
def test_bad_results_name_file_and_record(dets, message: str) -> None:
    gt, _ = generated_set(0, n_images=2)
    with pytest.raises(PosekitError, match="^dets.json: " + message.replace("(", r"\(")):
        coco_keypoint_eval(gt, dets, dt_source="dets.json")


def test_bad_ground_truth() -> None:
    gt, _ = generated_set(0, n_images=2)
    gt["annotations"][1]["keypoints"] = gt["annotations"][1]["keypoints"][:-3]
    with pytest.raises(PosekitError, match=r"^gt.json: annotation id 1: 'keypoints' must hold 17"):
        CocoKeypointEvaluator(gt, source="gt.json")
    with pytest.raises(PosekitError, match=r"^gt.json: not a COCO annotation file"):
        CocoKeypointEvaluator({"images": []}, source="gt.json")
