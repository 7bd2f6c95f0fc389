"""Time posekit's COCO keypoint evaluation against pycocotools on the same generated set.

The set is built from the real ``mmpose-tests/coco/test_coco.json`` (4 val2017 images, 14 people) by
replicating its images (default 500) with shifted, jittered annotations, and about 10 detections per image
(noisy copies of the GT, duplicates and false positives). Both tools must agree on all 10 numbers.

    .venv/bin/python benchmarks/bench_coco_eval.py [--images 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import time
from pathlib import Path

import numpy as np

from posekit.metrics.oks import SUMMARY_KEYS, coco_keypoint_eval

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmpose-tests" / "coco" / "test_coco.json"


def build_set(base: dict, n_images: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """Replicate the base images with jittered people; ~10 detections per image."""
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict]] = {}
    for ann in base["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images, anns, dets = [], [], []
    for n in range(n_images):
        src = base["images"][n % len(base["images"])]
        img_id = n + 1
        images.append(dict(src, id=img_id))
        for ann in by_image.get(src["id"], []):
            kp = np.array(ann["keypoints"], float).reshape(17, 3)
            shift = rng.uniform(-20, 20, 2)
            lab = kp[:, 2] > 0
            kp[lab, :2] += shift + rng.normal(0, 2, (int(lab.sum()), 2))
            x, y, w, h = ann["bbox"]
            anns.append(dict(ann, id=len(anns) + 1, image_id=img_id, keypoints=kp.ravel().tolist(),
                             bbox=[x + shift[0], y + shift[1], w, h]))
            size = np.sqrt(max(ann["area"], 1.0))
            for rep in range(int(rng.integers(1, 4))):
                xy = kp[:, :2] + rng.normal(0, 0.04 * size * (1 + rep), (17, 2))
                if not lab.any():
                    xy = np.c_[rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17)] + shift
                dets.append({"image_id": img_id, "category_id": 1,
                             "keypoints": np.c_[xy, np.ones(17)].ravel().tolist(),
                             "score": float(rng.random())})
        for _ in range(int(rng.integers(2, 6))):
            xy = np.c_[rng.uniform(0, src["width"], 17), rng.uniform(0, src["height"], 17)]
            dets.append({"image_id": img_id, "category_id": 1,
                         "keypoints": np.c_[xy, np.ones(17)].ravel().tolist(), "score": float(rng.random())})
    return dict(base, images=images, annotations=anns), dets


def run_pycocotools(gt: dict, dets: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dets)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gt, dets = build_set(json.loads(DATA.read_text()), args.images)
    t_ref, ref = best_of(lambda: run_pycocotools(gt, dets), args.repeat)
    t_ours, ours = best_of(lambda: coco_keypoint_eval(gt, dets), args.repeat)
    got = np.array([getattr(ours, k) for k in SUMMARY_KEYS])
    diff = float(np.abs(got - ref).max())
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} GT people, {len(dets)} detections")
    print(f"pycocotools {t_ref:.3f} s   posekit {t_ours:.3f} s   speed-up x{t_ref / t_ours:.1f}   "
          f"max |difference| over the 10 numbers {diff:.1e}   AP {got[0]:.4f}")
    if diff > 1e-6:
        raise SystemExit("posekit and pycocotools disagree")


if __name__ == "__main__":
    main()
