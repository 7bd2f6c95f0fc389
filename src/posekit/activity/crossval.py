"""Stratified k-fold cross-validation of an image activity model (seed fixed).

Every image is in exactly one test fold, so the pooled out-of-fold predictions cover every image once: the
pooled metrics (`posekit.activity.report.split_metrics`: accuracy, macro-F1, per-class precision / recall,
the confusion matrix) count every image, person-less ones included. Per fold: accuracy, macro-F1 and the
training seconds; the report gives their mean and standard deviation across folds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.extract import ImageRecord
from posekit.activity.image_model import MODES, NO_PERSON, fit_image_model, has_person
from posekit.activity.report import split_metrics


def fold_indices(y: NDArray[np.int64], folds: int, seed: int) -> list[tuple[NDArray, NDArray]]:
    """(train, test) index arrays of a stratified, shuffled k-fold split (scikit-learn's, ``seed``)."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def cross_validate(records: list[ImageRecord], y: NDArray[np.int64], classes: tuple[str, ...], mode: str,
                   folds: int = 5, seed: int = 0, threads: int | None = 1, progress: bool = True,
                   cut: NDArray[np.float32] | None = None) -> dict[str, Any]:
    """Cross-validated metrics of ``mode`` on records with class indices y (module docstring); the
    fine-tuned modes (`posekit.activity.finetune.FT_MODES`) also take the records' cut tensors ``cut``."""
    from tqdm import tqdm

    y = np.asarray(y, dtype=np.int64)
    truth = np.asarray(classes)[y]
    pred = np.full(len(y), "", dtype=object)
    per_fold = []
    splits = fold_indices(y, folds, seed)
    for k, (tr, te) in enumerate(tqdm(splits, desc=f"cv {mode}", unit="fold", disable=not progress)):
        start = time.perf_counter()
        model = _fit(records, y, tr, classes, mode, seed, threads, cut)
        seconds = time.perf_counter() - start
        test = [records[i] for i in te]
        pred[te] = model.predict(test) if cut is None or mode in MODES else model.predict(test, cut[te])
        m = split_metrics(truth[te], pred[te].astype(str), classes)
        per_fold.append({"fold": k, "n": int(len(te)), "accuracy": m["accuracy"], "f1_macro": m["f1_macro"],
                         "train_seconds": round(seconds, 2),
                         **{f"model_{key}": v for key, v in model.info.items()
                            if key in ("C", "power", "best_round", "best_epoch", "val_curve", "weight")}})
    pred = pred.astype(str)
    pooled = split_metrics(truth, pred, classes)
    acc = np.array([f["accuracy"] for f in per_fold])
    f1 = np.array([f["f1_macro"] for f in per_fold])
    persons = has_person(records)
    return {
        "mode": mode, "folds": folds, "seed": seed, "pooled": pooled, "per_fold": per_fold,
        "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
        "f1_macro_mean": float(f1.mean()), "f1_macro_std": float(f1.std()),
        "train_seconds_mean": float(np.mean([f["train_seconds"] for f in per_fold])),
        "images_without_person": int((~persons).sum()),
        "outcome_no_person": int((pred == NO_PERSON).sum()),
        "predictions": pred.tolist(),
    }


def _fit(records: list[ImageRecord], y: NDArray[np.int64], tr: NDArray, classes: tuple[str, ...], mode: str,
         seed: int, threads: int | None, cut: NDArray[np.float32] | None):
    """The model of ``mode`` fitted on the training images ``tr`` (frozen or fine-tuned)."""
    if mode in MODES:
        return fit_image_model([records[i] for i in tr], y[tr], classes, mode, seed=seed, threads=threads)
    from posekit.activity.finetune import fit_finetuned

    return fit_finetuned([records[i] for i in tr], cut[tr], y[tr], classes, mode, seed=seed, threads=threads)
