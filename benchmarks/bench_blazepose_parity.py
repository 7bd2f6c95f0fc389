"""How far posekit's BlazePose landmarks are from MediaPipe Pose's (mediapipe==0.10.14), stage by stage.

    .venv/bin/python benchmarks/bench_blazepose_parity.py [--coco 20] [--no-fallback]

On ../shared/data/media/*.jpg and the first ``--coco`` coco-mini-train images, static images:
- same ROI: posekit's landmark stage (``predict_rois``) on the ROI MediaPipe's detector gave: the median
  landmark's distance from MediaPipe's, in % of body size (the diagonal of MediaPipe's landmarks' box);
- detector: the distance of posekit's hip centre and full-body point from MediaPipe's, in % of the ROI side;
- whole pipeline: people found by both / by one only, and the median landmark's distance where both found one.
Prints one line per image and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_blazepose import _reference  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main() -> int:
    import posekit
    from posekit.decode.blazepose import Roi
    from posekit.images import read_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coco", type=int, default=20)
    ap.add_argument("--no-fallback", action="store_true",
                    help="MediaPipe's pipeline only (no other detections, whole-image ROI or ROI check)")
    args = ap.parse_args()
    ref_mod = _reference()
    paths = sorted((DATA / "media").glob("*.jpg"))
    paths += sorted((DATA / "coco-mini-train" / "train2017").glob("*.jpg"))[:args.coco]
    model = posekit.load_model("blazepose-full", **({"fallback": False, "roi_check": None} if args.no_fallback
                                                    else {}))
    same_roi, detector, whole, found = [], [], [], {"both": 0, "neither": 0, "mediapipe_only": 0,
                                                      "posekit_only": 0}
    with ref_mod.MediaPipePose(static_image_mode=True) as pose:
        for path in paths:
            rgb = read_image(path).rgb
            h, w = rgb.shape[:2]
            ref = pose.process(path)
            mp_xy = None if ref["landmarks"] is None else np.array(ref["landmarks"])[:, :2] * [w, h] + 0.5
            size = None if mp_xy is None else float(np.linalg.norm(mp_xy.max(0) - mp_xy.min(0)))
            line = f"{path.name:32s}"
            if ref["roi_from_detection"] is not None and mp_xy is not None:
                xc, yc, rw, _, rot = ref["roi_from_detection"]
                res = model.predict_rois(rgb, (Roi(xc * w + 0.5, yc * h + 0.5, rw * w, rot),))
                if len(res.poses):
                    same_roi.append(100 * np.median(np.linalg.norm(res.poses.xy[0] - mp_xy, axis=1)) / size)
                    line += f" same ROI {same_roi[-1]:5.2f}%"
            det = model.detector.detect(rgb)
            if ref["detection"] is not None and len(det.scores):
                mk = np.array(ref["detection"][1:]).reshape(4, 2) * [w, h] + 0.5
                side = 2.5 * np.linalg.norm(mk[1] - mk[0])
                detector.append(100 * np.linalg.norm(det.keypoints[0, :2] - mk[:2], axis=1).max() / side)
                line += f" | detector {detector[-1]:5.1f}%"
            poses = model.predict(rgb)
            key = {(True, True): "both", (False, False): "neither", (True, False): "mediapipe_only",
                   (False, True): "posekit_only"}[(mp_xy is not None, len(poses) > 0)]
            found[key] += 1
            if key == "both":
                whole.append(100 * np.median(np.linalg.norm(poses.xy[0] - mp_xy, axis=1)) / size)
                line += f" | whole {whole[-1]:5.2f}%"
            print(line + f" | {key}")
    summary = {"images": len(paths), "fallback": not args.no_fallback, "found": found,
               "same_roi_median_pct": round(float(np.median(same_roi)), 3),
               "same_roi_max_pct": round(float(np.max(same_roi)), 3),
               "detector_points_median_pct": round(float(np.median(detector)), 2),
               "whole_median_pct": round(float(np.median(whole)), 2)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
