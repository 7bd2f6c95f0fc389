"""The three image activity models, over cached per-image records (`posekit.activity.extract`).

- ``pose``: pose-only. The pose model's central person (`posekit.activity.posemap.select_persons`), its rich
  pose features (`posekit.activity.pairs`), the pose classifier we have (balanced gradient-boosted trees,
  `posekit.activity.classifier`). An image where the pose model finds nobody gets the outcome ``NO_PERSON``
  (counted, and wrong, in every metric).
- ``image``: image-only. The frozen pose-network trunk's pooled features (`posekit.activity.backbone`) and a
  small head: standardisation + multinomial logistic regression.
- ``image+pose``: the two-stage model. The image features, plus the trunk's mean over the rendered pose map
  (the pose map of the central and the farthest person stacked with the image as a fourth channel), plus the
  base pose features of those two persons (zeros and a flag when absent); the same head. A person-less image
  still gets a prediction from its image part, and is counted in the report.

- ``image+pose-late``: late fusion of the two single-cue models: p = (1 - w) p_image + w p_pose, with
  w = 0 for an image without a person. The weight w (``FUSION_WEIGHTS``) is chosen by an inner stratified
  3-fold cross-validation on the training images (both models fitted on two inner folds and scored on the
  third, best macro-F1, ties: the smaller w); then both models are fitted on every training image.

Training uses every image and its mirror image; prediction averages the probabilities of an image and its
mirror. The head's regularisation C (``C_GRID``) and whether the features are first signed-square-rooted
(sign(x) sqrt(|x|), the usual power normalisation of pooled CNN features; ``POWERS``) are chosen by an inner
stratified 3-fold cross-validation on the training images only (never on the images it is evaluated on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.extract import ImageRecord
from posekit.errors import PosekitError

MODES = ("pose", "image", "image+pose", "image+pose-late")
COMPARED = ("pose", "image", "image+pose")  # what `posekit activity compare` runs by default
LATE = "image+pose-late"
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5)
NO_PERSON = "(no person)"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
POWERS = (1.0, 0.5)


def person_joints(rec: ImageRecord, flip: bool = False) -> list[NDArray[np.float64]]:
    """Canonical joints (14, 2) of [central person, farthest from it] (fewer when fewer people), pixels."""
    from posekit.activity.features import canonical_joints
    from posekit.activity.pairs import flip_joints
    from posekit.activity.posemap import select_persons
    from posekit.activity.predict import MIN_KEYPOINT_SCORE
    from posekit.skeletons import get_schema

    if len(rec.xy) == 0:
        return []
    valid = rec.scores >= MIN_KEYPOINT_SCORE
    chosen = select_persons(rec.xy, valid, rec.size)
    if not chosen:
        return []
    joints = canonical_joints(rec.xy[chosen], valid[chosen], get_schema(rec.schema))
    if flip:
        joints = flip_joints(joints, rec.size[1])
    return list(joints)


def _pose_block(rec: ImageRecord, flip: bool, people: int, kind: str) -> NDArray[np.float64]:
    from posekit.activity.pairs import feature_width, features_of

    joints = person_joints(rec, flip)[:people]
    width = feature_width(kind)
    out = np.zeros((people, width + 1))
    if joints:
        out[:len(joints), :width] = features_of(np.stack(joints), kind)
        out[:len(joints), width] = 1.0
    return out.reshape(-1)


def design(records: list[ImageRecord], mode: str, flip: bool = False) -> NDArray[np.float64]:
    """(N, D) inputs of ``mode`` for records (the mirror images' with ``flip``)."""
    rows = []
    for r in records:
        if mode == "pose":
            rows.append(_pose_block(r, flip, 1, "rich")[:-1])
        elif mode == "image":
            rows.append(r.image_flip if flip else r.image)
        else:
            image, posemap = (r.image_flip, r.posemap_flip) if flip else (r.image, r.posemap)
            rows.append(np.concatenate([image, posemap, _pose_block(r, flip, 2, "base")]))
    return np.asarray(rows, dtype=np.float64)


def has_person(records: list[ImageRecord]) -> NDArray[np.bool_]:
    """(N,) whether the pose model found a person with a keypoint scoring enough."""
    return np.array([bool(person_joints(r)) for r in records])


@dataclass
class ImageActivityModel:
    """A fitted image activity model: mode, class names, the scikit-learn estimator, training facts."""

    mode: str
    classes: tuple[str, ...]
    estimator: Any
    info: dict = field(default_factory=dict)

    def predict_proba(self, records: list[ImageRecord]) -> NDArray[np.float64]:
        """(N, C) probabilities, averaged over each image and its mirror; rows of person-less images in the
        pose mode are all zero."""
        if not records:
            return np.zeros((0, len(self.classes)))
        if self.mode == LATE:
            return self.estimator.predict_proba_records(records)
        proba = (self.estimator.predict_proba(design(records, self.mode))
                 + self.estimator.predict_proba(design(records, self.mode, flip=True))) / 2.0
        if self.mode == "pose":
            proba[~has_person(records)] = 0.0
        return proba

    def predict(self, records: list[ImageRecord]) -> NDArray[np.str_]:
        """(N,) class names, ``NO_PERSON`` for a person-less image in the pose mode."""
        proba = self.predict_proba(records)
        names = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)] if len(proba) else np.zeros(0)
        return np.where(proba.sum(axis=1) > 0, names, NO_PERSON).astype(str)


def signed_sqrt(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """sign(x) sqrt(|x|), elementwise."""
    return np.sign(x) * np.sqrt(np.abs(x))


def _head(c: float, seed: int, power: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    steps = [FunctionTransformer(signed_sqrt)] if power == 0.5 else []
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(C=c, max_iter=300, random_state=seed))


def choose_head(x: NDArray[np.float64], y: NDArray[np.int64],
                seed: int) -> tuple[tuple[float, float], dict[str, float]]:
    """(C, power) from ``C_GRID`` x ``POWERS`` with the best inner 3-fold macro-F1 on (x, y) (ties: the
    smaller C, then no power normalisation)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    scores = {}
    folds = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(x, y))
    grid = [(c, p) for p in POWERS for c in C_GRID]
    for c, p in grid:
        pred = np.zeros(len(y), np.int64)
        for tr, te in folds:
            pred[te] = _head(c, seed, p).fit(x[tr], y[tr]).predict(x[te])
        scores[f"C={c},power={p}"] = float(f1_score(y, pred, average="macro"))
    best = max(grid, key=lambda cp: (scores[f"C={cp[0]},power={cp[1]}"], -cp[0], cp[1]))
    return best, scores


def fit_image_model(records: list[ImageRecord], y: NDArray[np.int64], classes: tuple[str, ...], mode: str,
                    seed: int = 0, threads: int | None = 1) -> ImageActivityModel:
    """Train ``mode`` (module docstring) on records with class indices y (N,) into ``classes``."""
    from posekit.activity.classifier import require_sklearn

    if mode not in MODES:
        raise PosekitError(f"unknown image activity model {mode!r}; choose one of {', '.join(MODES)}")
    require_sklearn()
    from threadpoolctl import threadpool_limits

    y = np.asarray(y, dtype=np.int64)
    with threadpool_limits(limits=threads):
        if mode == "pose":
            return _fit_pose(records, y, classes, seed, threads)
        if mode == LATE:
            return _fit_late(records, y, classes, seed, threads)
        x, xf = design(records, mode), design(records, mode, flip=True)
        (c, power), scores = choose_head(x, y, seed)
        est = _head(c, seed, power).fit(np.concatenate([x, xf]), np.concatenate([y, y]))
    return ImageActivityModel(mode, tuple(classes), est, {"C": c, "power": power, "inner_cv_f1_macro": scores,
                                                          "inputs": int(x.shape[1])})


def _fit_pose(records: list[ImageRecord], y: NDArray[np.int64], classes: tuple[str, ...], seed: int,
              threads: int | None) -> ImageActivityModel:
    """Balanced gradient-boosted trees on the central person's rich features (early stopping on an inner
    15 % of the training images, as `posekit activity train` does). A class none of whose training images
    has a person is never predicted (its columns stay 0)."""
    from sklearn.model_selection import train_test_split

    from posekit.activity.classifier import fit_classifier

    keep = np.flatnonzero(has_person(records))
    present = np.unique(y[keep])
    if len(present) < 2:
        raise PosekitError("pose-only model: the pose model found people in images of fewer than two "
                           "classes; use images with visible people")
    remap = np.full(len(classes), -1)
    remap[present] = np.arange(len(present))
    yk = remap[y[keep]]
    x = design([records[i] for i in keep], "pose")
    xf = design([records[i] for i in keep], "pose", flip=True)
    tr, va = train_test_split(np.arange(len(keep)), test_size=max(0.15, len(present) / len(keep)),
                              stratify=yk, random_state=seed)
    clf, history = fit_classifier(np.concatenate([x[tr], xf[tr]]), np.concatenate([yk[tr]] * 2), x[va],
                                  yk[va], tuple(classes[i] for i in present), kind="gbt", seed=seed,
                                  progress=False, threads=threads)
    return ImageActivityModel("pose", tuple(classes), _Columns(clf.estimator, present, len(classes)),
                              {"best_round": history["best_round"], "inputs": int(x.shape[1])})


class _Columns:
    """A fitted estimator over a subset of the classes, answering probabilities over all of them."""

    def __init__(self, estimator: Any, present: NDArray[np.int64], num_classes: int) -> None:
        self.estimator, self.present, self.num_classes = estimator, np.asarray(present), num_classes

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.zeros((len(x), self.num_classes))
        out[:, self.present] = self.estimator.predict_proba(x)
        return out


class LateFusion:
    """``predict_proba_records(records)``: (1 - w) p_image + w p_pose, w = 0 where no person was found."""

    def __init__(self, image: ImageActivityModel, pose: ImageActivityModel, weight: float) -> None:
        self.image, self.pose, self.weight = image, pose, weight

    def predict_proba_records(self, records: list[ImageRecord]) -> NDArray[np.float64]:
        return fuse(self.image.predict_proba(records), self.pose.predict_proba(records), self.weight)


def fuse(image: NDArray[np.float64], pose: NDArray[np.float64], weight: float) -> NDArray[np.float64]:
    """(N, C) (1 - w) image + w pose, row by row; rows where ``pose`` is 0 (no person) stay ``image``."""
    w = np.where(pose.sum(axis=1, keepdims=True) > 0, weight, 0.0)
    return (1.0 - w) * image + w * pose


def _fit_late(records: list[ImageRecord], y: NDArray[np.int64], classes: tuple[str, ...], seed: int,
              threads: int | None) -> ImageActivityModel:
    """Late fusion (module docstring): w by inner 3-fold CV, then both models on every training image."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    image_oof, pose_oof = np.zeros((len(y), len(classes))), np.zeros((len(y), len(classes)))
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        train, test = [records[i] for i in tr], [records[i] for i in te]
        image_oof[te] = fit_image_model(train, y[tr], classes, "image", seed, threads).predict_proba(test)
        pose_oof[te] = fit_image_model(train, y[tr], classes, "pose", seed, threads).predict_proba(test)
    scores = {w: float(f1_score(y, fuse(image_oof, pose_oof, w).argmax(axis=1), average="macro"))
              for w in FUSION_WEIGHTS}
    weight = max(FUSION_WEIGHTS, key=lambda w: (scores[w], -w))
    image = fit_image_model(records, y, classes, "image", seed, threads)
    pose = fit_image_model(records, y, classes, "pose", seed, threads)
    return ImageActivityModel(LATE, tuple(classes), LateFusion(image, pose, weight), {
        "weight": weight, "inner_cv_f1_macro": {str(w): v for w, v in scores.items()},
        "C": image.info["C"], "power": image.info["power"], "best_round": pose.info["best_round"]})
