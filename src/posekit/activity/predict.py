"""Activity of the people in an image: pose model -> pose features -> classifier top-k, plus an overlay.

The pose model (COCO-17 MoveNet by default) gives keypoints in original-image pixels; keypoints scoring
under ``min_keypoint_score`` count as missing for the features (see `posekit.activity.features`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posekit.activity.classifier import ActivityClassifier
from posekit.activity.features import canonical_joints
from posekit.types import Poses

MIN_KEYPOINT_SCORE = 0.3


@dataclass(frozen=True)
class PersonActivity:
    """One person: the pose index in ``poses``, top-k (category, probability) best first, person box
    (x1, y1, x2, y2 pixels; from the pose model or the scored keypoints)."""

    index: int
    top_k: list[tuple[str, float]]
    box: tuple[float, float, float, float]
    pose_score: float


def _box(poses: Poses, i: int, min_score: float) -> tuple[float, float, float, float]:
    if poses.boxes is not None:
        return tuple(float(v) for v in poses.boxes[i])  # type: ignore[return-value]
    keep = poses.scores[i] >= min_score
    xy = poses.xy[i][keep] if keep.any() else poses.xy[i]
    return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


def classify_poses(clf: ActivityClassifier, poses: Poses, k: int = 3,
                   min_keypoint_score: float = MIN_KEYPOINT_SCORE) -> list[PersonActivity]:
    """Top-k categories of each person in ``poses`` (empty list when there is no person)."""
    if len(poses) == 0:
        return []
    feats = clf.features(canonical_joints(poses.xy, poses.scores >= min_keypoint_score, poses.schema))
    return [PersonActivity(i, top, _box(poses, i, min_keypoint_score), float(poses.pose_scores[i]))
            for i, top in enumerate(clf.top_k(feats, k))]


def result_json(image: Path, people: list[PersonActivity], poses: Poses, model_dir: str,
                pose_model: str) -> dict[str, Any]:
    """The JSON written per image: people with box, pose score, keypoints and top-k categories."""
    return {
        "image": str(image), "activity_model": model_dir, "pose_model": pose_model,
        "people": [{
            "box": [round(v, 2) for v in p.box], "pose_score": round(p.pose_score, 4),
            "keypoints": {name: [round(float(poses.xy[p.index, j, 0]), 2),
                                 round(float(poses.xy[p.index, j, 1]), 2),
                                 round(float(poses.scores[p.index, j]), 4)]
                          for j, name in enumerate(poses.schema.keypoints)},
            "top_k": [{"category": c, "probability": round(prob, 6)} for c, prob in p.top_k],
        } for p in people],
    }


def draw_activities(rgb: np.ndarray, poses: Poses, people: list[PersonActivity],
                    min_keypoint_score: float = MIN_KEYPOINT_SCORE):
    """A PIL image: the skeletons (``posekit.render.draw_poses``) and each person's top categories written
    on a dark label above the box (inside the image)."""
    from PIL import ImageDraw, ImageFont

    from posekit.render import draw_poses

    img = draw_poses(rgb, poses, min_keypoint_score)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for p in people:
        lines = [f"{c} {prob:.0%}" for c, prob in p.top_k]
        height = 12 * len(lines) + 4
        width = max(font.getlength(line) for line in lines) + 6
        x = min(max(0.0, p.box[0]), max(0.0, img.width - width))
        y = min(max(0.0, p.box[1] - height), max(0.0, img.height - height))
        draw.rectangle([x, y, x + width, y + height], fill=(20, 20, 20))
        for i, line in enumerate(lines):
            ink = (255, 255, 0) if i == 0 else (230, 230, 230)
            draw.text((x + 3, y + 2 + 12 * i), line, fill=ink, font=font)
    return img
