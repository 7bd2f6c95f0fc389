"""Labelling each person of an image with an image activity model (`posekit activity predict`).

``pose`` models classify every person from their own pose (rich features, averaged with the mirror pose);
``image`` and ``image+pose`` models classify the image, and every person found gets the image's label (the
sports are scenes: the equipment and place decide as much as the pose). People are the pose model's, with a
role: ``central`` (closest to the image centre), ``farthest`` (farthest from the central one; the two the
pose map shows) or ``other``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.extract import ImageRecord
from posekit.activity.image_model import NO_PERSON, ImageActivityModel


def _top(proba: NDArray[np.float64], classes: tuple[str, ...], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-proba, kind="stable")[:k]
    return [{"category": classes[j], "probability": round(float(proba[j]), 6)} for j in order]


def person_proba(model: ImageActivityModel, rec: ImageRecord) -> NDArray[np.float64]:
    """(N, C) per-person probabilities of a pose model (mirror-averaged), N = people in ``rec``."""
    from posekit.activity.features import canonical_joints
    from posekit.activity.pairs import features_of, flip_joints
    from posekit.activity.predict import MIN_KEYPOINT_SCORE
    from posekit.skeletons import get_schema

    joints = canonical_joints(rec.xy, rec.scores >= MIN_KEYPOINT_SCORE, get_schema(rec.schema))
    x, xf = features_of(joints), features_of(flip_joints(joints, rec.size[1]))
    return (model.estimator.predict_proba(x) + model.estimator.predict_proba(xf)) / 2.0


def label_people(model: ImageActivityModel, rec: ImageRecord, image: Path, model_dir: str,
                 k: int = 3) -> dict[str, Any]:
    """The JSON of one image: the image's top-k (or ``NO_PERSON``) and each person's box, role, top-k."""
    from posekit.activity.posemap import select_persons
    from posekit.activity.predict import MIN_KEYPOINT_SCORE

    valid = rec.scores >= MIN_KEYPOINT_SCORE
    chosen = select_persons(rec.xy, valid, rec.size) if len(rec.xy) else []
    roles = {i: role for i, role in zip(chosen, ("central", "farthest"), strict=False)}
    image_proba = model.predict_proba([rec])[0]
    per_person = person_proba(model, rec) if model.mode == "pose" and len(rec.xy) else None
    people = []
    for i in range(len(rec.xy)):
        xy = rec.xy[i][valid[i]] if valid[i].any() else rec.xy[i]
        proba = per_person[i] if per_person is not None else image_proba
        people.append({"role": roles.get(i, "other"), "pose_score": round(float(rec.pose_scores[i]), 4),
                       "box": [round(float(v), 2) for v in (*xy.min(axis=0), *xy.max(axis=0))],
                       "top_k": _top(proba, model.classes, k)})
    top = _top(image_proba, model.classes, k) if image_proba.sum() > 0 else [
        {"category": NO_PERSON, "probability": 1.0}]
    return {"image": str(image), "model": model.mode, "activity_model": model_dir, "top_k": top,
            "people": people}
