"""MediaPipe Pose (mediapipe==0.10.14 from PyPI) as a reference for posekit's BlazePose, in two roles.

- Run by an interpreter that has mediapipe (``make mediapipe-ref`` builds tools/mediapipe-reference/.venv;
  mediapipe pins protobuf<5 and numpy<2, so it cannot share posekit's environment), it serves one
  ``mediapipe.solutions.pose.Pose`` over stdin / stdout: a JSON line ``{"image": path}`` (any image file) or
  ``{"npy": path}`` ((H, W, 3) uint8 RGB) in, a JSON line out: ``landmarks`` [[x, y, z, visibility,
  presence] x 33] or null (x, y normalised to the image as MediaPipe returns them: pixel = x * width, the
  centre of pixel 0 at 0), ``world`` [[x, y, z] x 33], ``detection`` [score, 4 x (x, y) alignment points],
  ``roi_from_detection`` / ``roi_from_landmarks`` [x_centre, y_centre, width, height, rotation]
  (normalised), and ``ms``, the time of the graph's ``process`` alone (what ``Pose.process`` runs).
- Imported by posekit's tests and benchmarks, ``MediaPipePose`` starts that server and talks to it;
  ``mediapipe_python()`` finds the interpreter (``POSEKIT_MEDIAPIPE_PYTHON`` or the .venv here) or None.

Only model_complexity=1 (pose_landmark_full) works offline: the wheel bundles it with pose_detection; lite and
heavy are downloaded at run time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def mediapipe_python() -> str | None:
    """The interpreter with mediapipe 0.10.14, or None where it is not installed."""
    env = os.environ.get("POSEKIT_MEDIAPIPE_PYTHON")
    candidates = [env] if env else [str(HERE / ".venv" / "bin" / "python")]
    for c in candidates:
        if c and Path(c).is_file():
            return c
    return None


MISSING = ("MediaPipe reference not installed: run `make mediapipe-ref` (a venv in tools/mediapipe-reference "
           "with mediapipe==0.10.14) or set POSEKIT_MEDIAPIPE_PYTHON to a Python that has it")


class MediaPipePose:
    """A MediaPipe Pose server in a subprocess. ``process(path) -> dict`` (see the module docstring)."""

    def __init__(self, static_image_mode: bool = True, model_complexity: int = 1, python: str | None = None,
                 cpu: int | None = None) -> None:
        python = python or mediapipe_python()
        if python is None:
            raise RuntimeError(MISSING)
        cmd = [python, str(Path(__file__).resolve()), "--serve", "--static", str(int(static_image_mode)),
               "--complexity", str(model_complexity)]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def process(self, path: str | Path) -> dict:
        key = "npy" if str(path).endswith(".npy") else "image"
        self.proc.stdin.write(json.dumps({key: str(path)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the MediaPipe reference server stopped on {path}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> MediaPipePose:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(static: bool, complexity: int) -> None:
    import mediapipe as mp
    import numpy as np
    from mediapipe.python.solution_base import SolutionBase
    from PIL import Image

    # What mp.solutions.pose.Pose builds, plus the graph's debug outputs: the detection and both ROIs.
    pose = SolutionBase(
        binary_graph_path=mp.solutions.pose._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": complexity, "smooth_landmarks": not static,
                     "enable_segmentation": False, "smooth_segmentation": not static,
                     "use_prev_landmarks": not static},
        calculator_params={
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5,
            "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator."
            "threshold": 0.5},
        outputs=["pose_landmarks", "pose_world_landmarks", "pose_detection", "pose_rect_from_detection",
                 "pose_rect_from_landmarks"])

    def rect(r):
        return None if r is None else [r.x_center, r.y_center, r.width, r.height, r.rotation]

    for line in sys.stdin:
        req = json.loads(line)
        rgb = np.load(req["npy"]) if "npy" in req else np.asarray(Image.open(req["image"]).convert("RGB"))
        rgb = np.ascontiguousarray(rgb)
        t0 = time.perf_counter()
        res = pose.process({"image": rgb})
        ms = (time.perf_counter() - t0) * 1000
        out = {"ms": ms, "landmarks": None, "world": None, "detection": None,
               "roi_from_detection": rect(res.pose_rect_from_detection),
               "roi_from_landmarks": rect(res.pose_rect_from_landmarks)}
        if res.pose_landmarks is not None:
            lms = res.pose_landmarks.landmark
            out["landmarks"] = [[p.x, p.y, p.z, p.visibility, p.presence] for p in lms]
            out["world"] = [[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark]
        if res.pose_detection is not None:
            d = res.pose_detection
            kps = d.location_data.relative_keypoints
            out["detection"] = [d.score[0], *[v for k in kps for v in (k.x, k.y)]]
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    pose.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--static", type=int, default=1)
    ap.add_argument("--complexity", type=int, default=1)
    a = ap.parse_args()
    _serve(bool(a.static), a.complexity)
