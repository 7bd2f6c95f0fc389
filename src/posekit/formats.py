"""Writing poses in the layouts other tools read: PoseNet JSON and COCO results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from posekit.atomic import write_atomic
from posekit.errors import PosekitError
from posekit.skeletons import to_coco17
from posekit.types import Poses


def coco_image_id(stem: str) -> int | str:
    """COCO's integer id when the file stem is all digits (``000000000139`` -> 139), else the stem."""
    return int(stem) if stem.isdigit() else stem


def to_coco_results(poses: Poses, image_id: int | str) -> list[dict[str, Any]]:
    """COCO keypoint results, one dict per person, as pycocotools' ``loadRes`` reads them.

    Poses in another schema are mapped through ``posekit.skeletons.to_coco17`` (joints that schema lacks are
    written 0, 0, 0); a schema without a mapping raises PosekitError.
    """
    if poses.schema.name != "coco17":
        poses = to_coco17(poses)
    out = []
    for i in range(len(poses)):
        kp = np.concatenate([poses.xy[i], poses.scores[i][:, None]], axis=1)
        res: dict[str, Any] = {
            "image_id": image_id,
            "category_id": 1,
            "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
            "score": float(poses.pose_scores[i]),
        }
        if poses.boxes is not None:
            x1, y1, x2, y2 = (float(v) for v in poses.boxes[i])
            res["bbox"] = [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)]
        out.append(res)
    return out


def write_json(path: Path, obj: Any) -> None:
    try:
        write_atomic(Path(path), (json.dumps(obj, indent=1) + "\n").encode())
    except OSError as err:
        raise PosekitError(f"{path}: cannot write ({err.strerror}); choose another --out folder") from None
