"""Track lifetime: identities that persist from frame to frame.

Follows TF.js MoveNet's tracker (tfjs-models ``Tracker.apply``): tracks older than ``max_age`` seconds are
forgotten, the people of a frame are matched to the live tracks (keypoint OKS, or the IoU of keypoint boxes
for schemas without COCO sigmas) by an optimal assignment, matched tracks take the new pose, and an
unmatched person starts a new track when it has at least ``min_keypoints`` keypoints scoring
``keypoint_threshold``; beyond ``max_tracks`` the least recently seen tracks are dropped. A track that goes
unmatched in a frame keeps its identity for ``max_age`` seconds, but its smoothing state is reset (the
person may reappear elsewhere).

Unlike TF.js, a track is compared where its person should be now, not where it was last seen: each track
keeps the velocity of its body (the mean motion of its confident keypoints, in pixels per second, averaged
over matches) and its pose is moved by velocity x elapsed time before matching. On a panning camera or a
person walking out from behind another, the last-seen pose lags by tens of pixels after a few missed
frames, enough to drop OKS under ``min_similarity`` and start a new identity. And a confident person that
no track matched may still continue a track lost before this frame when their centre is near where that
track's motion leads (``REID_DISTANCE`` person sizes, growing with the time lost): a person seen only in
part when lost, or turned when back, keeps their identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.types import Poses
from posekit.video.matching import assign, box_iou, keypoint_boxes, keypoint_similarity, schema_sigmas
from posekit.video.smoothing import OneEuroFilter, OneEuroParams, person_size

# Weight of the previous velocity estimate against this match's (an exponential average over matches).
VELOCITY_MEMORY = 0.5
# Least similarity for a low-scoring person to continue a track (stricter than min_similarity: such poses
# are less reliable, and must not let a track jump to a faint duplicate of someone else).
LOW_SCORE_SIMILARITY = 0.5
# A track lost before this frame takes a confident person that no track matched when the person's centre is
# within this many person sizes of where the track's motion puts it, times (1 + seconds lost): the
# uncertainty grows with the gap (SORT-style gating, the third association). After a few lost frames the
# keypoints' OKS is too strict for a pose that turned or was seen only in part when lost, and the person
# came back under a new identity (exact-truth clips, MultiPose, smoothed: person switches 3 -> 0).
REID_DISTANCE = 0.5


@dataclass(frozen=True)
class TrackerParams:
    """Defaults: TF.js MoveNet's keypoint tracker (18 tracks, OKS 0.2, keypoint score 0.3, 4 keypoints),
    except ``max_age``: 2 s instead of 1 s, measured on the exact-truth clips (benchmarks/bench_track.py):
    people hidden by a passer-by for over a second kept their identity (MultiPose: crossing-clip switches 1
    -> 0, PoseTrack IDSW 59 -> 49, MOTA unchanged); and ``min_similarity``: 0.15 instead of 0.2 (the mean of
    OKS and keypoint-box IoU), which kept a faint child whose MultiPose score flickers around min_score on one
    identity (person-level switches on the motion clips 2 -> 0, crossing clips 0 -> 0; PoseTrack IDSW
    56 -> 34, MOTA .569 -> .573; PCK and AP within 0.3 points)."""

    max_tracks: int = 18
    max_age: float = 2.0
    min_similarity: float = 0.15
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
    last_seen: float
    hits: int = 1
    matched: bool = True
    filter: OneEuroFilter | None = field(default=None, repr=False)
    smooth_scores: NDArray[np.float64] | None = field(default=None, repr=False)  # low-passed, when asked
    velocity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))  # px / s, whole body

    def predicted(self, time: float) -> NDArray[np.float32]:
        """(K, 2) the last pose moved by the body's velocity to ``time`` (seconds)."""
        return (self.xy + self.velocity * (time - self.last_seen)).astype(np.float32)

    def follow(self, xy: NDArray[np.float32], scores: NDArray[np.float32], time: float,
               threshold: float) -> None:
        """Update the body velocity from this match (mean motion of keypoints confident in both poses)."""
        dt = time - self.last_seen
        both = (self.scores >= threshold) & (scores >= threshold)
        if dt > 0 and both.any():
            step = (xy[both] - self.xy[both]).mean(axis=0) / dt
            keep = 0.0 if self.hits == 1 else VELOCITY_MEMORY
            self.velocity = keep * self.velocity + (1 - keep) * step


class Tracker:
    """``update(poses, time) -> Poses`` with ``track_ids`` set (and keypoints smoothed when ``smoothing``
    is given). People that neither match a track nor qualify for a new one are left out of the result."""

    def __init__(self, schema, params: TrackerParams | None = None, smoothing: OneEuroParams | None = None,
                 score_smoothing: float | None = None) -> None:
        """score_smoothing: with ``smoothing``, also low-pass each identity's keypoint scores, new = a * score
        + (1 - a) * previous (MediaPipe's VisibilitySmoothingCalculator; BlazePose's a = 0.1)."""
        if score_smoothing is not None and not 0 < score_smoothing <= 1:
            raise PosekitError(f"score smoothing {score_smoothing}: give a weight in (0, 1]")
        self.schema = schema
        self.params = params or TrackerParams()
        self.smoothing = smoothing
        self.score_smoothing = score_smoothing
        self.sigmas = schema_sigmas(schema)
        # OKS needs enough joints with sigmas to reach min_keypoints; other schemas match by box IoU.
        self.use_oks = int((~np.isnan(self.sigmas)).sum()) >= self.params.min_keypoints
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    def similarity(self, poses: Poses, time: float) -> NDArray[np.float64]:
        """(tracks, people) similarity in 0..1: the better of the track's pose moved by its velocity to
        ``time`` and its pose where last seen (a person who stops, or turns back out of view, is not lost to
        an extrapolation)."""
        if not self.tracks:
            return np.zeros((0, len(poses)))
        threshold = self.params.keypoint_threshold
        t_sc = np.stack([t.scores for t in self.tracks])
        d_box = keypoint_boxes(poses.xy, poses.scores, threshold)
        n = len(self.tracks)  # both positions of every track in one pass: rows 0..n-1 now, n.. then
        xy = np.stack([t.predicted(time) for t in self.tracks] + [t.xy for t in self.tracks])
        sim = self._similarity(xy, np.concatenate([t_sc, t_sc]), poses, d_box)
        return np.maximum(sim[:n], sim[n:])

    def _similarity(self, t_xy: NDArray[np.float32], t_sc: NDArray[np.float32], poses: Poses,
                    d_box: NDArray[np.float32]) -> NDArray[np.float64]:
        """Tracks at ``t_xy`` (T, K, 2) against the people, whose keypoint boxes are ``d_box`` (N, 4)."""
        p = self.params
        iou = box_iou(keypoint_boxes(t_xy, t_sc, p.keypoint_threshold), d_box)
        if not self.use_oks:
            return iou
        # OKS averaged with the IoU of the keypoint boxes: OKS tells people apart, the box overlap keeps a
        # person whose keypoints jump about (a faint, partly hidden person) from looking like a new one.
        oks = keypoint_similarity(t_xy, t_sc, poses.xy, poses.scores, self.sigmas, p.keypoint_threshold,
                                  p.min_keypoints)
        return (oks + iou) / 2

    def update(self, poses: Poses, time: float, confident: NDArray[np.bool_] | None = None,
               sources: NDArray[np.integer] | None = None, scales: NDArray[np.floating] | None = None
               ) -> Poses:
        """Identities for the people of the frame at ``time`` (seconds).

        ``confident`` (N,) marks the people sure enough to start a track (default: all). The others (lower
        pose scores) only continue a track the confident people left unmatched, and only when at least
        ``LOW_SCORE_SIMILARITY`` alike (ByteTrack's second association): a person the model sees faintly
        for a few frames keeps their identity instead of losing it and coming back under a new one.
        ``sources`` (N,): the track ID whose crop each person was found in (-1: none), where crops follow
        people (top-down video); see ``_by_crop``. ``scales`` (N,): each person's size in pixels for the
        smoothing's speed units (default: ``person_size`` of their keypoints).
        """
        p = self.params
        self.tracks = [t for t in self.tracks if time - t.last_seen <= p.max_age]
        confident = np.ones(len(poses), bool) if confident is None else np.asarray(confident, bool)
        sim = self.similarity(poses, time)
        sure, faint = np.flatnonzero(confident), np.flatnonzero(~confident)
        pairs = [(t, int(sure[d])) for t, d in assign(sim[:, sure], p.min_similarity)]
        left = np.setdiff1d(np.arange(len(self.tracks)), [t for t, _ in pairs])
        pairs += [(int(left[t]), int(faint[d])) for t, d in
                  assign(sim[np.ix_(left, faint)], max(p.min_similarity, LOW_SCORE_SIMILARITY))]
        pairs += self._by_crop(poses, time, sources, confident, pairs)
        pairs += self._recover(poses, time, confident, pairs)
        ids = np.full(len(poses), -1, np.int64)
        matched_tracks = set()
        for ti, pi in pairs:
            track = self.tracks[ti]
            if not track.matched and track.filter is not None:
                track.filter.reset()
                track.smooth_scores = None
            track.follow(poses.xy[pi], poses.scores[pi], time, p.keypoint_threshold)
            track.xy, track.scores = poses.xy[pi], poses.scores[pi]
            track.last_seen, track.hits, track.matched = time, track.hits + 1, True
            ids[pi] = track.id
            matched_tracks.add(ti)
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.matched = False
        for pi in np.flatnonzero((ids < 0) & confident):
            if int((poses.scores[pi] >= p.keypoint_threshold).sum()) < p.min_keypoints:
                continue
            track = Track(self.next_id, poses.xy[pi], poses.scores[pi], time,
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
        if not self.smoothing:
            return out
        return self._smooth(out, time, None if scales is None else np.asarray(scales, np.float64)[keep])

    def _by_crop(self, poses: Poses, time: float, sources: NDArray[np.integer] | None,
                 confident: NDArray[np.bool_], pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A confident person found in the crop that follows a track continues that track when neither was
        paired by similarity and their keypoints' boxes overlap (where the track was last seen or where its
        motion leads), as MediaPipe keeps a person by their region of interest. A person at the frame's
        edge, seen in part, shows other keypoints from frame to frame (the legs, then the head and arms):
        OKS and box overlap fall under ``min_similarity`` though the crop that found them follows them
        (top-down Thunder on the exact-truth clips: a one-frame second identity on a dolly clip)."""
        if sources is None:
            return []
        taken_t, taken_p = {t for t, _ in pairs}, {d for _, d in pairs}
        index = {t.id: ti for ti, t in enumerate(self.tracks)}
        threshold = self.params.keypoint_threshold
        out = []
        for pi in np.flatnonzero(confident):
            ti = index.get(int(sources[pi]))
            if ti is None or ti in taken_t or int(pi) in taken_p:
                continue
            track = self.tracks[ti]
            was = keypoint_boxes(np.stack([track.xy, track.predicted(time)]), np.stack([track.scores] * 2),
                                 threshold)
            now = keypoint_boxes(poses.xy[pi:pi + 1], poses.scores[pi:pi + 1], threshold)
            if box_iou(was, now).max() > 0:
                out.append((ti, int(pi)))
                taken_t.add(ti)
        return out

    def _recover(self, poses: Poses, time: float, confident: NDArray[np.bool_],
                 pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Third association (``REID_DISTANCE``): tracks lost before this frame and confident people left
        over, paired by the distance of their centres in person sizes."""
        taken_t, taken_p = {t for t, _ in pairs}, {d for _, d in pairs}
        lost = [ti for ti, t in enumerate(self.tracks) if ti not in taken_t and not t.matched]
        free = [int(pi) for pi in np.flatnonzero(confident) if int(pi) not in taken_p]
        if not lost or not free:
            return []
        threshold = self.params.keypoint_threshold
        centres = np.array([_centre(poses.xy[pi], poses.scores[pi], threshold) for pi in free])
        sizes = np.array([person_size(poses.xy[pi], poses.scores[pi], threshold) for pi in free])
        sim = np.zeros((len(lost), len(free)))
        for r, ti in enumerate(lost):
            track = self.tracks[ti]
            t_centre = _centre(track.predicted(time), track.scores, threshold)
            size = np.maximum(person_size(track.xy, track.scores, threshold), sizes)
            gap = np.linalg.norm(centres - t_centre, axis=1)
            sim[r] = 1.0 - gap / (REID_DISTANCE * size * (1.0 + time - track.last_seen))
        return [(lost[r], free[c]) for r, c in assign(sim, 1e-6)]

    def _smooth(self, poses: Poses, time: float, scales: NDArray[np.float64] | None = None) -> Poses:
        by_id = {t.id: t for t in self.tracks}
        xy, scores = poses.xy.copy(), poses.scores.copy()
        for i, tid in enumerate(poses.track_ids):
            track = by_id[int(tid)]
            size = (person_size(poses.xy[i], poses.scores[i], self.params.keypoint_threshold)
                    if scales is None or not scales[i] > 0 else scales[i])
            xy[i] = track.filter.filter(poses.xy[i], time, 1.0 / size)
            if self.score_smoothing is not None:
                a, prev = self.score_smoothing, track.smooth_scores
                raw = poses.scores[i].astype(np.float64)
                track.smooth_scores = raw if prev is None else a * raw + (1 - a) * prev
                scores[i] = track.smooth_scores
        return Poses(xy, scores, poses.pose_scores, poses.schema, poses.boxes, poses.track_ids)


def _centre(xy: NDArray[np.floating], scores: NDArray[np.floating], threshold: float) -> NDArray[np.float64]:
    """The mean of the keypoints scoring ``threshold`` (of all keypoints when none does)."""
    keep = np.asarray(scores) >= threshold
    return np.asarray(xy, np.float64)[keep if keep.any() else slice(None)].mean(axis=0)
