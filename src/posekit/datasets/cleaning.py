"""Annotation cleaning (the MPII pipeline's rules) as pure functions.

Each function returns the new samples and a dict of counts per rule; inputs are never modified, and
every dropped or changed item is counted. :func:`clean` chains them in the pipeline's order.

Rules:
- a labelled keypoint with x < 0 or y < 0, or beyond the image (x > width or y > height, when the size
  is known) becomes unlabelled: coordinates (0, 0), visibility 0;
- a person box is the min/max of the labelled keypoints; when the head is missing (MPII/LSP head_top;
  COCO nose, eyes and ears) the top moves up by ``head_pad`` x box height (default 0.15), when both
  ankles are missing the bottom moves down by ``ankle_pad`` x box height (default 0.25); then the box is
  clipped to the image (to x, y >= 0 only when the size is unknown);
- an image whose activity category is empty or "NA" is dropped when the dataset has categories;
- a person with no labelled keypoint is dropped (COCO training), then an image with no person left.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from posekit.datasets.sample import Person, Sample
from posekit.skeletons import Schema

HEAD_PAD = 0.15
ANKLE_PAD = 0.25
_HEAD_NAMES = (("head_top",), ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))
_NO_CATEGORY = (None, "", "NA", "nan")

Counts = dict[str, int]


def _copy(p: Person, **changes: object) -> Person:
    return replace(p, extra=dict(p.extra), **changes)


def clip_keypoints(samples: list[Sample]) -> tuple[list[Sample], Counts]:
    """Unlabel keypoints with negative or out-of-image coordinates.

    Counts: "negative keypoint", "keypoint beyond image" (labelled keypoints only; a keypoint that is
    both counts as negative).
    """
    counts = {"negative keypoint": 0, "keypoint beyond image": 0}
    out = []
    for s in samples:
        persons = []
        for p in s.persons:
            lab = p.visibility > 0
            neg = lab & (p.keypoints < 0).any(axis=1)
            beyond = np.zeros_like(lab)
            if s.width > 0 and s.height > 0:
                beyond = lab & ~neg & ((p.keypoints[:, 0] > s.width) | (p.keypoints[:, 1] > s.height))
            bad = neg | beyond
            counts["negative keypoint"] += int(neg.sum())
            counts["keypoint beyond image"] += int(beyond.sum())
            if bad.any():
                p = _copy(p, keypoints=np.where(bad[:, None], 0.0, p.keypoints),
                          visibility=np.where(bad, 0, p.visibility))
            persons.append(p)
        out.append(replace(s, persons=persons))
    return out, counts


def _head_indices(schema: Schema) -> list[int]:
    for names in _HEAD_NAMES:
        idx = [schema.index(n) for n in names if n in schema.keypoints]
        if idx:
            return idx
    return []


def boxes_from_keypoints(
    samples: list[Sample], head_pad: float = HEAD_PAD, ankle_pad: float = ANKLE_PAD, overwrite: bool = False
) -> tuple[list[Sample], Counts]:
    """Person boxes (x1, y1, x2, y2 px) from labelled keypoints with head/ankle padding, clipped.

    Persons that already have a box keep it unless ``overwrite``. Counts: "box from keypoints",
    "box kept", "no keypoints for a box", "head padding", "ankle padding", "box clipped to image".
    """
    counts = dict.fromkeys(("box from keypoints", "box kept", "no keypoints for a box", "head padding",
                            "ankle padding", "box clipped to image"), 0)
    out = []
    for s in samples:
        head = _head_indices(s.schema)
        ankles = [s.schema.index(n) for n in ("left_ankle", "right_ankle") if n in s.schema.keypoints]
        persons = []
        for p in s.persons:
            lab = p.visibility > 0
            if p.box is not None and not overwrite:
                counts["box kept"] += 1
            elif not lab.any():
                counts["no keypoints for a box"] += 1
            else:
                p = _copy(p, box=_box(p, lab, head, ankles, s.width, s.height, head_pad, ankle_pad, counts))
                counts["box from keypoints"] += 1
            persons.append(p)
        out.append(replace(s, persons=persons))
    return out, counts


def _box(p: Person, lab: np.ndarray, head: list[int], ankles: list[int], width: int, height: int,
         head_pad: float, ankle_pad: float, counts: Counts) -> np.ndarray:
    pts = p.keypoints[lab].astype(np.float64)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    h = y2 - y1
    if head and not lab[head].any():
        y1 -= head_pad * h
        counts["head padding"] += 1
    if ankles and not lab[ankles].any():
        y2 += ankle_pad * h
        counts["ankle padding"] += 1
    box = np.array([x1, y1, x2, y2])
    hi = [width, height, width, height] if width > 0 and height > 0 else [np.inf] * 4
    clipped = np.clip(box, 0.0, hi)
    if not np.array_equal(clipped, box):
        counts["box clipped to image"] += 1
    return clipped


def _category(s: Sample) -> str | None:
    cats = [p.category for p in s.persons if p.category not in _NO_CATEGORY]
    return cats[0] if cats else None


def drop_missing_category(samples: list[Sample]) -> tuple[list[Sample], Counts]:
    """Drop images whose activity category is empty or "NA", if any image has a category at all."""
    if not any(_category(s) for s in samples):
        return list(samples), {"image without activity category": 0}
    kept = [s for s in samples if _category(s) is not None]
    return kept, {"image without activity category": len(samples) - len(kept)}


def drop_unlabelled_persons(samples: list[Sample]) -> tuple[list[Sample], Counts]:
    """Drop persons with no labelled keypoint (crowd regions included)."""
    n = 0
    out = []
    for s in samples:
        persons = [p for p in s.persons if p.labelled.any()]
        n += len(s.persons) - len(persons)
        out.append(replace(s, persons=persons))
    return out, {"person without labelled keypoints": n}


def drop_empty_images(samples: list[Sample]) -> tuple[list[Sample], Counts]:
    """Drop images with no person that has a labelled keypoint."""
    kept = [s for s in samples if any(p.labelled.any() for p in s.persons)]
    return kept, {"image without annotated person": len(samples) - len(kept)}


def clean(
    samples: list[Sample], head_pad: float = HEAD_PAD, ankle_pad: float = ANKLE_PAD,
    drop_unlabelled: bool = True, boxes: bool = True,
) -> tuple[list[Sample], Counts]:
    """The whole pipeline; the report starts with "input images" and ends with "output images"."""
    report: Counts = {"input images": len(samples), "input persons": sum(len(s.persons) for s in samples)}
    samples, c = drop_missing_category(samples)
    report.update(c)
    samples, c = clip_keypoints(samples)
    report.update(c)
    if drop_unlabelled:
        samples, c = drop_unlabelled_persons(samples)
        report.update(c)
    if boxes:
        samples, c = boxes_from_keypoints(samples, head_pad, ankle_pad)
        report.update(c)
    samples, c = drop_empty_images(samples)
    report.update(c)
    report["output images"] = len(samples)
    report["output persons"] = sum(len(s.persons) for s in samples)
    return samples, report
