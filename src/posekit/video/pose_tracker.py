"""PoseTracker: a model run over video frames, with identities, smoothing and crops that follow people.

- Multi-person models (MoveNet MultiPose, PoseNet) run on every whole frame.
- One-person models and top-down pipelines follow each person: after a detection, the next frame's crop is
  the region around this frame's keypoints of that person (TF.js MoveNet's crop region, ``crop_regions``:
  centred on the hips, sized by the torso and the whole body), so a frame costs one crop per tracked
  person. The detector (a top-down pipeline's, or the whole image for a one-person model) runs every
  ``detect_every`` frames and sooner when followed people are lost (one of up to four, a quarter of a
  crowd: ``LOST_FRACTION``); followed people that no detector box
  covers keep their crop, and crops that land on the same person are merged (pose OKS above 0.5).
- Models that track like MediaPipe (BlazePose's ``track``) follow their person with their own rotated ROI,
  the next one from this frame's alignment landmarks filtered over time (``RoiSmoother``, MediaPipe's
  auxiliary-landmark filter), and run their detector only when the person is lost (pose score under the
  model's min_score); their ``smoothing`` (MediaPipe's landmark filter) is the default.
- ``Tracker`` gives identities, the One Euro filter smooths keypoints per identity.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.models.blazepose import RoiSmoother
from posekit.models.topdown import TopDown, poses_in_boxes
from posekit.types import Poses
from posekit.video.matching import assign, box_iou, keypoint_boxes, keypoint_similarity
from posekit.video.smoothing import OneEuroParams
from posekit.video.tracks import Tracker, TrackerParams

# A crop around a person's keypoints is the square around them, enlarged by this fraction.
ROI_MARGIN = 0.4
# Two poses this alike (OKS) from overlapping crops are one person.
SAME_PERSON_OKS = 0.5
# A followed person's crop is kept next to the detector's boxes unless a box overlaps the person (their
# keypoints' box) at least this much (one box per person).
NEW_BOX_IOU = 0.3
# Multi-person models: people scoring at least this (and under the model's min_score) may continue a track.
LOW_SCORE = 0.1
# The detector runs early (before detect_every) once this fraction of the people followed after its last run
# are lost (at least one): with one to four people, the first loss; in a crowd, where someone is lost nearly
# every frame, a quarter of them.
LOST_FRACTION = 0.25
# A torso keypoint scoring above this places the next crop (TF.js MoveNet's MIN_CROP_KEYPOINT_SCORE).
TORSO_SCORE = 0.2
# A followed crop's shorter side is at least this fraction of its longer side.
MIN_ASPECT = 0.5


@dataclass
class TrackerStats:
    """What the model cost: frames, detector runs (whole-image runs for one-person models), crops run."""

    frames: int = 0
    detector_runs: int = 0
    crops: int = 0


def square_boxes(boxes: NDArray[np.floating]) -> NDArray[np.float32]:
    """(N, 4) boxes -> the squares with the same centres and side max(width, height)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def crop_regions(xy: NDArray[np.floating], scores: NDArray[np.floating], schema, threshold: float,
                 margin: float) -> NDArray[np.float32]:
    """Next frame's boxes around people (x1, y1, x2, y2), before ``margin`` enlarges them.

    TF.js MoveNet's crop region (tfjs-models ``determineCropRegion``) where the torso is seen (a shoulder
    and a hip scoring above ``TORSO_SCORE``): centred on the hips, reaching max(1.9 x the torso's reach,
    1.2 x the body's reach) from there, so a frame whose pose covers only part of the body (arms, a cut-off
    edge) does not shrink the next crop onto that part. Per axis rather than MoveNet's square: in a crowd a
    square around a standing person takes in the neighbours, and a one-person model then follows whoever
    is most prominent (the detector's tall boxes do not). Elsewhere the box around the keypoints scoring
    ``threshold``. Neither side is less than ``MIN_ASPECT`` of the other. xy: (N, K, 2) px; scores: (N, K).
    """
    xy, scores = np.asarray(xy, np.float32), np.asarray(scores, np.float32)
    boxes = keypoint_boxes(xy, scores, threshold)
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2
    names = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
    if all(n in schema.keypoints for n in names):
        hips, shoulders = [schema.index(n) for n in names[:2]], [schema.index(n) for n in names[2:]]
        for n in range(len(xy)):
            sc = scores[n]
            if not ((sc[hips] > TORSO_SCORE).any() and (sc[shoulders] > TORSO_SCORE).any()):
                continue
            centre[n] = xy[n, hips].mean(axis=0)
            torso = np.abs(xy[n, hips + shoulders] - centre[n]).max(axis=0)
            body = np.abs(xy[n, sc > TORSO_SCORE] - centre[n]).max(axis=0)
            half[n] = np.maximum(1.9 * torso, 1.2 * body) / (1 + margin)
    half = np.maximum(half, MIN_ASPECT * half[:, ::-1])
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def merge_same_people(poses: Poses, sigmas: NDArray[np.float64], threshold: float) -> Poses:
    """Drop a pose when a higher-scoring one is the same person (OKS >= SAME_PERSON_OKS)."""
    if len(poses) < 2:
        return poses
    order = np.argsort(-poses.pose_scores, kind="stable")
    sim = keypoint_similarity(poses.xy, poses.scores, poses.xy, poses.scores, sigmas, threshold, 1)
    keep: list[int] = []
    for i in order:
        if all(sim[k, i] < SAME_PERSON_OKS for k in keep):
            keep.append(int(i))
    return poses.select(np.array(sorted(keep), np.intp))


class PoseTracker:
    """``update(rgb, time) -> Poses`` with ``track_ids``; ``time`` in seconds (the frame's timestamp).

    model: a zoo model (``posekit.load_model``) or a ``TopDown``. smooth: One Euro filter per identity
    (``smoothing`` sets its parameters). track: False runs the model on each frame on its own (no
    identities, no smoothing, no crops carried over). detect_every: with crops that follow people, run the
    detector at least every this many frames.
    """

    def __init__(self, model, smooth: bool = True, track: bool = True, detect_every: int = 10,
                 smoothing: OneEuroParams | None = None, tracking: TrackerParams | None = None,
                 roi_margin: float = ROI_MARGIN, low_score: float = LOW_SCORE) -> None:
        if detect_every < 1:
            raise PosekitError(f"--detect-every {detect_every}: give 1 or more frames")
        # People scoring from low_score up to the model's min_score may continue a track (not start one):
        # the model runs with the lower floor, on a copy that shares its sessions.
        self.min_score = float(getattr(model, "min_score", 0.0))
        if track and low_score < self.min_score:
            model = copy.copy(model)
            model.min_score = low_score
        self.model = model
        self.schema = model.schema
        self.track = track
        self.detect_every = detect_every
        self.roi_margin = roi_margin
        # a model's own smoothing (BlazePose: MediaPipe's filter) may measure speed in its own object scales
        # (``model.smoothing_scales``); parameters given here are in person sizes, as for every model
        self.model_scales = smoothing is None and callable(getattr(model, "smoothing_scales", None))
        # and may low-pass the keypoint scores too (BlazePose: MediaPipe's visibility filter)
        score_smoothing = getattr(model, "score_smoothing", None) if smoothing is None else None
        smoothing = smoothing or getattr(model, "smoothing", None) or OneEuroParams()
        self.tracker = Tracker(self.schema, tracking, smoothing if smooth else None, score_smoothing)
        self.follow = track and (isinstance(model, TopDown) or not model.spec.multi_person)
        self.reset()

    def reset(self) -> None:
        self.tracker.reset()
        self.rois = np.zeros((0, 4), np.float32)  # next crops around the people followed, pixels
        self.roi_ids = np.zeros(0, np.int64)  # the track each crop follows
        self.extents = np.zeros((0, 4), np.float32)  # their keypoints' boxes (what a detector box covers)
        self.lost = True
        self.due = True
        self.missing = 0  # followed people lost since the detector last ran
        self.detected = 0  # people followed after that run
        self.stats = TrackerStats()
        self.model_rois: tuple = ()  # the ROIs a model that tracks itself follows next (``model.track``)
        self.roi_smoother = RoiSmoother()  # and the filter they come from

    @property
    def independent(self) -> bool:
        """Whether a frame's people are found without this tracker's state (whole-image models, or no
        tracking): ``detect`` may then run on several frames at once, ``associate`` in frame order."""
        return not self.follow

    def detect(self, rgb: NDArray[np.uint8]) -> Poses:
        """The model on the whole frame (only for ``independent`` trackers; safe from several threads)."""
        return self.model.predict(rgb)

    def detect_frame(self, frame) -> Poses:
        """``detect`` on a video ``Frame``. A model that first resizes the whole frame to a longer side of
        ``fit_side`` (MoveNet, PoseNet) gets the frame already reduced to that fit, scaled straight from
        the decoder's YUV picture (``Frame.reduced``), and its poses are scaled back: the full-size RGB
        frame is never made for it."""
        side = getattr(self.model, "fit_side", None)
        width, height = frame.size
        scale = side / max(width, height) if side else 1.0
        if scale >= 1.0:
            return self.detect(frame.rgb)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        # the letterbox's scale (the mean of the two axes' after rounding), undone
        return self.detect(frame.reduced(w, h)).scaled(2.0 / (w / width + h / height))

    def update_frame(self, frame) -> Poses:
        """``update`` for a ``posekit.read_video`` frame: whole-image models take the reduced decode
        (``detect_frame``), and the full RGB frame is made only for models that cut crops from it."""
        if self.independent:
            return self.associate(self.detect_frame(frame), frame.time)
        return self.update(frame.rgb, frame.time)

    def associate(self, found: Poses, time: float) -> Poses:
        """Identities (and smoothing) for ``detect``'s people of the frame at ``time``, in frame order."""
        self.stats.frames += 1
        self.stats.detector_runs += 1
        if not self.track:
            return found
        return self.tracker.update(found, time, confident=found.pose_scores >= self.min_score)

    def update(self, rgb: NDArray[np.uint8], time: float) -> Poses:
        if self.independent:
            return self.associate(self.detect(rgb), time)
        self.stats.frames += 1
        found, scales = self._follow(rgb, time)
        sources, found = found.track_ids, found.with_track_ids(None)
        out = self.tracker.update(found, time, confident=found.pose_scores >= self.min_score, sources=sources,
                                  scales=scales)
        if not self.tracks_itself:  # (such a model's ROIs are its own: ``model_rois``)
            self._next_rois(time)
        return out

    def _next_rois(self, time: float) -> None:
        """Next frame's crops: around the raw keypoints of every track matched in this frame."""
        followed = [t for t in self.tracker.tracks if t.last_seen == time]
        if self.due:
            self.missing, self.detected = 0, len(followed)
        else:
            self.missing += max(len(self.rois) - len(followed), 0)
        self.lost = self.missing >= max(1, math.ceil(LOST_FRACTION * self.detected))
        self.roi_ids = np.array([t.id for t in followed], np.int64)
        if not followed:
            self.rois = self.extents = np.zeros((0, 4), np.float32)
            return
        xy, scores = np.stack([t.xy for t in followed]), np.stack([t.scores for t in followed])
        threshold = self.tracker.params.keypoint_threshold
        self.rois = crop_regions(xy, scores, self.schema, threshold, self.roi_margin)
        self.extents = keypoint_boxes(xy, scores, threshold)

    @property
    def _single(self):
        return self.model.single if isinstance(self.model, TopDown) else self.model

    def _good(self, poses: Poses) -> NDArray[np.bool_]:
        """People worth following: at least ``min_keypoints`` keypoints scoring ``keypoint_threshold`` (the
        pose-score floor is the model's, lowered to ``low_score``)."""
        p = self.tracker.params
        return (poses.scores >= p.keypoint_threshold).sum(axis=1) >= p.min_keypoints

    def _detect(self, rgb: NDArray[np.uint8], keep_rois: NDArray[np.float32],
                extents: NDArray[np.float32], roi_ids: NDArray[np.int64]) -> Poses:
        """Detector boxes (or the whole image) plus the followed crops whose person (``extents``, the
        keypoints' box) no box covers. ``track_ids``: the track a box or crop follows (-1: a new box)."""
        self.stats.detector_runs += 1
        if isinstance(self.model, TopDown):
            boxes = self.model.boxes(rgb)
        else:
            boxes = np.array([[0, 0, rgb.shape[1], rgb.shape[0]]], np.float32)
        # A box covers one followed person at most (optimal assignment by IoU): where two people overlap and
        # the detector gives one box, the other keeps their crop.
        pairs = assign(box_iou(extents, boxes), NEW_BOX_IOU) if len(boxes) else []
        box_ids = np.full(len(boxes), -1, np.int64)
        for row, col in pairs:
            box_ids[col] = roi_ids[row]
        if isinstance(self.model, TopDown):
            found = poses_in_boxes(self._single, rgb, boxes, self.model.margin, box_ids)
            self.stats.crops += len(boxes)
        else:
            found = self.model.predict(rgb)  # one person: the whole image's box is theirs
            found = found.with_track_ids(np.full(len(found), box_ids[0], np.int64))
        covered = [row for row, _ in pairs]
        extra = self._crops(rgb, np.delete(keep_rois, covered, axis=0), np.delete(roi_ids, covered))
        return Poses.concat([found, extra])

    def _crops(self, rgb: NDArray[np.uint8], rois: NDArray[np.float32], ids: NDArray[np.int64]) -> Poses:
        self.stats.crops += len(rois)
        return poses_in_boxes(self._single, rgb, rois, self.roi_margin, ids)

    def _follow_own_rois(self, rgb: NDArray[np.uint8], time: float) -> tuple[Poses, NDArray | None]:
        """``model.track``: its ROIs from the last frame's landmarks (filtered as MediaPipe does), its
        detector when it has none. Only people scoring the model's own min_score carry their ROI over
        (MediaPipe's tracking confidence). The people, and their sizes for the smoothing
        (``model_scales``)."""
        res = self.model.track(rgb, self.model_rois)
        self.stats.detector_runs += res.detected
        self.stats.crops += len(res.tried)
        keep = res.poses.pose_scores >= self.min_score
        nxt = self.roi_smoother.next_rois(res, time)
        self.model_rois = tuple(r for r, k in zip(nxt, keep, strict=True) if k)
        good = self._good(res.poses)
        return res.poses.select(good), self.model.smoothing_scales(res)[good] if self.model_scales else None

    @property
    def tracks_itself(self) -> bool:
        """Whether the model follows its people with its own ROIs (``model.track``, BlazePose)."""
        return callable(getattr(self.model, "track", None))

    def _follow(self, rgb: NDArray[np.uint8], time: float) -> tuple[Poses, NDArray | None]:
        """This frame's people (crops around the people followed, the detector when due) and, where the
        model gives them, their sizes for the smoothing."""
        if self.tracks_itself:
            return self._follow_own_rois(rgb, time)
        self.due = self.lost or len(self.rois) == 0 or (self.stats.frames - 1) % self.detect_every == 0
        if self.due:
            found = self._detect(rgb, self.rois, self.extents, self.roi_ids)
        else:
            found = self._crops(rgb, self.rois, self.roi_ids)
            if not self._good(found).any():  # everyone lost: look again now rather than skip a frame
                self.due = True
                nobody = np.zeros((0, 4), np.float32)
                found = self._detect(rgb, nobody, nobody, np.zeros(0, np.int64))
        found = found.select(self._good(found))
        found = merge_same_people(found, self.tracker.sigmas, self.tracker.params.keypoint_threshold)
        if not isinstance(self.model, TopDown) and len(found) > 1:  # a one-person model follows one person
            found = found.select(np.array([int(np.argmax(found.pose_scores))]))
        return found, None

