"""Track lifetime: identities that persist from frame to frame.

Follows TF.js MoveNet's tracker (tfjs-models ``Tracker.apply``): tracks older than ``max_age`` seconds are
forgotten, the people of a frame are matched to the live tracks (keypoint OKS, or box IoU for schemas without
COCO sigmas) by an optimal assignment, matched tracks take the new pose, and an unmatched person starts a
new track when it has at least ``min_keypoints`` keypoints scoring ``keypoint_threshold``; beyond
``max_tracks`` the least recently seen tracks are dropped. A track that goes unmatched in a frame keeps its
identity for ``max_age`` seconds, but its smoothing state is reset (the person may reappear elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.types import Poses
from posekit.video.matching import assign, box_iou, keypoint_boxes, keypoint_similarity, schema_sigmas
from posekit.video.smoothing import OneEuroFilter, OneEuroParams, person_size


@dataclass(frozen=True)
class TrackerParams:
    """Defaults: TF.js MoveNet's keypoint tracker (18 tracks, 1 s, OKS 0.2, keypoint score 0.3, 4
    keypoints)."""

    max_tracks: int = 18
    max_age: float = 1.0
    min_similarity: float = 0.2
    keypoint_threshold: float = 0.3
    min_keypoints: int = 4

    def __post_init__(self) -> None:
        if self.max_tracks < 1:
            raise PosekitError(f"max_tracks={self.max_tracks}: give 1 or more")
        if self.max_age < 0:
            raise PosekitError(f"max_age={self.max_age}: give 0 or more seconds")
        if not 0 <= self.min_similarity <= 1:
            raise PosekitError(f"min_similarity={self.min_similarity}: give a value in 0..1")


@dataclass
class Track:
    """One identity: its last raw pose (xy (K, 2) pixels, scores (K,)), when it was last seen (seconds),
    how many frames matched it, whether the last frame did, and its smoothing filter."""

    id: int
    xy: NDArray[np.float32]
    scores: NDArray[np.float32]
    box: NDArray[np.float32]
    last_seen: float
    hits: int = 1
    matched: bool = True
    filter: OneEuroFilter | None = field(default=None, repr=False)


class Tracker:
    """``update(poses, time) -> Poses`` with ``track_ids`` set (and keypoints smoothed when ``smoothing``
    is given). People that neither match a track nor qualify for a new one are left out of the result."""

    def __init__(self, schema, params: TrackerParams | None = None, smoothing: OneEuroParams | None = None
                 ) -> None:
        self.schema = schema
        self.params = params or TrackerParams()
        self.smoothing = smoothing
        self.sigmas = schema_sigmas(schema)
        # OKS needs enough joints with sigmas to reach min_keypoints; other schemas match by box IoU.
        self.use_oks = int((~np.isnan(self.sigmas)).sum()) >= self.params.min_keypoints
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    def similarity(self, poses: Poses, boxes: NDArray[np.float32]) -> NDArray[np.float64]:
        """(tracks, people) similarity in 0..1."""
        p = self.params
        if not self.tracks:
            return np.zeros((0, len(poses)))
        if self.use_oks:
            t_xy = np.stack([t.xy for t in self.tracks])
            t_sc = np.stack([t.scores for t in self.tracks])
            return keypoint_similarity(t_xy, t_sc, poses.xy, poses.scores, self.sigmas, p.keypoint_threshold,
                                       p.min_keypoints)
        return box_iou(np.stack([t.box for t in self.tracks]), boxes)

    def update(self, poses: Poses, time: float) -> Poses:
        p = self.params
        self.tracks = [t for t in self.tracks if time - t.last_seen <= p.max_age]
        boxes = poses.boxes if poses.boxes is not None else keypoint_boxes(poses.xy, poses.scores,
                                                                            p.keypoint_threshold)
        pairs = assign(self.similarity(poses, boxes), p.min_similarity)
        ids = np.full(len(poses), -1, np.int64)
        matched_tracks = set()
        for ti, pi in pairs:
            track = self.tracks[ti]
            if not track.matched and track.filter is not None:
                track.filter.reset()
            track.xy, track.scores, track.box = poses.xy[pi], poses.scores[pi], boxes[pi]
            track.last_seen, track.hits, track.matched = time, track.hits + 1, True
            ids[pi] = track.id
            matched_tracks.add(ti)
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.matched = False
        for pi in np.flatnonzero(ids < 0):
            if int((poses.scores[pi] >= p.keypoint_threshold).sum()) < p.min_keypoints:
                continue
            track = Track(self.next_id, poses.xy[pi], poses.scores[pi], boxes[pi], time,
                          filter=OneEuroFilter(self.smoothing) if self.smoothing else None)
            self.next_id += 1
            self.tracks.append(track)
            ids[pi] = track.id
        if len(self.tracks) > p.max_tracks:
            self.tracks.sort(key=lambda t: (t.last_seen, t.hits), reverse=True)
            dropped = {t.id for t in self.tracks[p.max_tracks:]}
            self.tracks = self.tracks[:p.max_tracks]
            ids[np.isin(ids, list(dropped))] = -1
        keep = ids >= 0
        out = poses.select(keep).with_track_ids(ids[keep])
        return self._smooth(out, time) if self.smoothing else out

    def _smooth(self, poses: Poses, time: float) -> Poses:
        by_id = {t.id: t for t in self.tracks}
        xy = poses.xy.copy()
        for i, tid in enumerate(poses.track_ids):
            size = person_size(poses.xy[i], poses.scores[i], self.params.keypoint_threshold)
            xy[i] = by_id[int(tid)].filter.filter(poses.xy[i], time, 1.0 / size)
        return Poses(xy, poses.scores, poses.pose_scores, poses.schema, poses.boxes, poses.track_ids)
