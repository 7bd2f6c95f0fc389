"""Poses: the one result type every model returns and every consumer takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.skeletons import Schema


@dataclass(frozen=True)
class Poses:
    """N people with K keypoints each, in original-image pixels (x before y).

    xy: (N, K, 2) float32 pixel coordinates.
    scores: (N, K) float32 per-keypoint confidence in [0, 1].
    pose_scores: (N,) float32 per-person confidence.
    schema: the keypoint schema (names, edges, flip pairs).
    boxes: optional (N, 4) float32 person boxes x1, y1, x2, y2 in pixels.
    track_ids: optional (N,) int64 identities that persist across video frames (None for still images).
    """

    xy: NDArray[np.float32]
    scores: NDArray[np.float32]
    pose_scores: NDArray[np.float32]
    schema: Schema
    boxes: NDArray[np.float32] | None = None
    track_ids: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        k = self.schema.num_keypoints
        xy = np.asarray(self.xy, dtype=np.float32).reshape(-1, k, 2)
        n = xy.shape[0]
        scores = np.asarray(self.scores, dtype=np.float32).reshape(n, k)
        pose_scores = np.asarray(self.pose_scores, dtype=np.float32).reshape(n)
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "pose_scores", pose_scores)
        if self.boxes is not None:
            object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(n, 4))
        if self.track_ids is not None:
            object.__setattr__(self, "track_ids", np.asarray(self.track_ids, dtype=np.int64).reshape(n))

    @classmethod
    def empty(cls, schema: Schema, with_boxes: bool = False) -> Poses:
        k = schema.num_keypoints
        boxes = np.zeros((0, 4), np.float32) if with_boxes else None
        return cls(np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros(0), schema, boxes)

    @classmethod
    def concat(cls, parts: Sequence[Poses]) -> Poses:
        """The people of ``parts`` (one schema) in order. Empty parts are skipped; boxes and track IDs are
        kept when every remaining part has them."""
        full = [q for q in parts if len(q)] or list(parts[:1])

        def joined(name: str):
            values = [getattr(q, name) for q in full]
            return None if any(v is None for v in values) else np.concatenate(values)

        return cls(np.concatenate([q.xy for q in full]), np.concatenate([q.scores for q in full]),
                   np.concatenate([q.pose_scores for q in full]), full[0].schema, joined("boxes"),
                   joined("track_ids"))

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def select(self, keep: NDArray[np.bool_] | NDArray[np.intp]) -> Poses:
        """The people picked by a boolean mask or an index array."""
        boxes = None if self.boxes is None else self.boxes[keep]
        ids = None if self.track_ids is None else self.track_ids[keep]
        return Poses(self.xy[keep], self.scores[keep], self.pose_scores[keep], self.schema, boxes, ids)

    def scaled(self, factor: float) -> Poses:
        """The same poses with coordinates multiplied by ``factor`` (e.g. from a reduced decode)."""
        if factor == 1.0:
            return self
        boxes = None if self.boxes is None else self.boxes * factor
        return Poses(self.xy * factor, self.scores, self.pose_scores, self.schema, boxes, self.track_ids)

    def with_track_ids(self, track_ids: NDArray[np.integer] | None) -> Poses:
        """The same poses carrying ``track_ids`` (N,) (or none)."""
        return Poses(self.xy, self.scores, self.pose_scores, self.schema, self.boxes, track_ids)

    def to_posenet(self) -> list[dict[str, Any]]:
        """PoseNet's JSON layout: score, keypoints with part/position/score, and box when present."""
        out = []
        for i in range(len(self)):
            pose: dict[str, Any] = {
                "score": float(self.pose_scores[i]),
                "keypoints": [
                    {
                        "part": name,
                        "position": {"x": float(self.xy[i, j, 0]), "y": float(self.xy[i, j, 1])},
                        "score": float(self.scores[i, j]),
                    }
                    for j, name in enumerate(self.schema.keypoints)
                ],
            }
            if self.boxes is not None:
                x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
                pose["box"] = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
            if self.track_ids is not None:
                pose["track_id"] = int(self.track_ids[i])
            out.append(pose)
        return out
