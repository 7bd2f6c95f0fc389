"""Train and evaluate pose-feature activity classifiers on a dataset (`posekit activity train / eval`).

Training: load the dataset, split images train / val / test stratified by category (seeded), compute
features, fit (model selection on val), save the model folder, and write ``report.json`` (metrics of every
split, the majority-class baseline, test metrics under simulated pose-model noise) plus
``confusion_test.png``. Evaluation reloads a folder and recomputes a split's metrics with the stored seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from posekit.activity.classifier import ActivityClassifier, fit_classifier, require_sklearn
from posekit.activity.dataset import PersonSet, person_set, perturb, split_samples
from posekit.activity.dataset import augment as augment_joints
from posekit.activity.io import load_classifier, read_meta, save_classifier
from posekit.activity.report import majority_baseline, save_confusion_png, split_metrics
from posekit.errors import PosekitError
from posekit.formats import write_json

FRACTIONS = (0.7, 0.15, 0.15)
# The defaults: the best (accuracy + macro-F1) / 2 on MPII's validation persons of the configurations in
# benchmarks/bench_activity_mpii.py (boosted trees + Procrustes kNN, rich features, balanced class weights,
# one noisy mirrored copy of each training pose); figures in the README.
DEFAULT_KIND, DEFAULT_FEATURES, DEFAULT_BALANCE, DEFAULT_AUGMENT = "ensemble", "rich", "balanced", 1
# Simulated pose-model errors on the test persons: (noise sigma as a fraction of torso length, joint dropout).
PERTURBATIONS = ((0.05, 0.0), (0.1, 0.0), (0.2, 0.0), (0.0, 0.1), (0.0, 0.2), (0.1, 0.1))


def load_splits(data: str, seed: int,
                images_dir: str | Path | None = None) -> tuple[dict[str, PersonSet], dict[str, Any]]:
    """Persons of each split of ``data`` (``KIND:PATH``) and the loader / dropping counts."""
    from posekit.datasets import load_dataset
    from posekit.datasets.report import LoadReport

    load_report = LoadReport(strict=False)
    samples = load_dataset(data, images_dir=images_dir, report=load_report)
    everyone = person_set(samples)
    splits = {name: person_set(s) for name, s in split_samples(samples, seed, FRACTIONS).items()}
    counts = {"images": len(samples), "persons": sum(len(s.persons) for s in samples),
              **everyone.dropped, "loader": load_report.as_dict()["counts"],
              **{f"{name} persons": len(p) for name, p in splits.items()}}
    return splits, counts


def _predict(clf: ActivityClassifier, persons: PersonSet) -> np.ndarray:
    if not len(persons):
        return np.zeros(0, str)
    return np.asarray(clf.labels)[clf.predict(clf.features(persons.joints))]


def _known(persons: PersonSet, labels: tuple[str, ...], what: str) -> PersonSet:
    unknown = sorted(set(persons.labels.tolist()) - set(labels))
    if unknown:
        raise PosekitError(f"{what}: categories {unknown[:3]} are not in the model's label set; evaluate on "
                           "data with the same categories or retrain on it")
    return persons


def train_activity(data: str, out: str | Path, kind: str = DEFAULT_KIND, seed: int = 0,
                   images_dir: str | Path | None = None, progress: bool = True,
                   threads: int | None = 1, features: str = DEFAULT_FEATURES, balance: str = DEFAULT_BALANCE,
                   augment: int = DEFAULT_AUGMENT) -> dict[str, Any]:
    """Train on ``data`` and write the model folder ``out`` (module docstring); returns the report.

    threads: CPU threads for scikit-learn (None: all; 1 by default, see `fit_classifier`). features: "base"
    or "rich"; balance: class weighting (`posekit.activity.classifier.BALANCES`); augment: altered copies of
    each training person (`posekit.activity.dataset.augment`).
    """
    require_sklearn()  # before threadpoolctl, which comes with it
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _train(data, Path(out), kind, seed, images_dir, progress, threads, features, balance, augment)


def _train(data: str, out: Path, kind: str, seed: int, images_dir: str | Path | None, progress: bool,
           threads: int | None, features: str, balance: str, augment: int) -> dict[str, Any]:
    from posekit.activity.pairs import feature_width, features_of

    splits, counts = load_splits(data, seed, images_dir)
    train, val, test = splits["train"], splits["val"], splits["test"]
    if len(train) == 0 or len(val) == 0:
        raise PosekitError(f"{data}: too few persons with a category to split ({counts}); use more data")
    labels = tuple(sorted(set(train.labels.tolist())))
    if len(labels) < 2:
        raise PosekitError(f"{data}: only one activity category ({labels[0]!r}); need at least two")
    for name, p in splits.items():
        _known(p, labels, f"{data} ({name} split)")
    index = {name: i for i, name in enumerate(labels)}
    y = {name: np.array([index[c] for c in p.labels], dtype=np.int64) for name, p in splits.items()}
    start = time.perf_counter()
    feature_width(features)
    joints, y_train = augment_joints(train.joints, y["train"], augment, seed)
    clf, history = fit_classifier(features_of(joints, features), y_train, features_of(val.joints, features),
                                  y["val"], labels, kind=kind, seed=seed, progress=progress, threads=threads,
                                  balance=balance, feature_set=features)
    seconds = time.perf_counter() - start
    meta = {"data": data, "seed": seed, "fractions": list(FRACTIONS), "balance": balance, "augment": augment}
    save_classifier(clf, out, meta)
    report: dict[str, Any] = {
        "data": data, "kind": kind, "seed": seed, "labels": list(labels), "counts": counts,
        "train_seconds": round(seconds, 2), "history": history, "num_features": feature_width(features),
        "features": features, "balance": balance, "augment": augment,
    }
    for name, p in splits.items():
        report[name] = split_metrics(p.labels, _predict(clf, p), labels)
    report["majority_baseline"] = {name: majority_baseline(train.labels, splits[name].labels, labels)
                                   for name in ("val", "test")}
    report["perturbed_test"] = robustness(clf, test, seed=seed)
    title = f"{kind} on {len(test)} test persons: accuracy {report['test']['accuracy']:.3f}"
    save_confusion_png(np.asarray(report["test"]["confusion"]), labels, title, out / "confusion_test.png")
    write_json(out / "report.json", report)
    return report


def robustness(clf: ActivityClassifier, persons: PersonSet, seed: int = 0,
               perturbations: tuple[tuple[float, float], ...] = PERTURBATIONS) -> list[dict[str, float]]:
    """Accuracy and F1 of ``clf`` on ``persons`` whose joints got noise / dropout (see `perturb`)."""
    out = []
    for sigma, dropout in perturbations:
        noisy = perturb(persons.joints, sigma, dropout, seed)
        pred = np.asarray(clf.labels)[clf.predict(clf.features(noisy))]
        m = split_metrics(persons.labels, pred, clf.labels)
        out.append({"sigma": sigma, "dropout": dropout, "accuracy": m["accuracy"], "f1_macro": m["f1_macro"],
                    "f1_weighted": m["f1_weighted"]})
    return out


def evaluate_activity(model_dir: str | Path, data: str, split: str = "test", seed: int | None = None,
                      images_dir: str | Path | None = None, threads: int | None = 1) -> dict[str, Any]:
    """Metrics of the model in ``model_dir`` on a split of ``data`` (the split made with the model's stored
    seed unless ``seed`` is given; ``split="all"`` uses every person with a category)."""
    if split not in ("train", "val", "test", "all"):
        raise PosekitError(f"unknown split {split!r}; choose train, val, test or all")
    require_sklearn()
    from threadpoolctl import threadpool_limits

    meta = read_meta(model_dir)
    clf = load_classifier(model_dir)
    seed = int(meta.get("seed", 0)) if seed is None else seed
    splits, counts = load_splits(data, seed, images_dir)
    if split == "all":
        parts = list(splits.values())
        persons = PersonSet(np.concatenate([p.joints for p in parts]),
                            np.concatenate([p.labels for p in parts]),
                            sum((p.image_paths for p in parts), []))
    else:
        persons = splits[split]
    _known(persons, clf.labels, f"{data} ({split} split)")
    with threadpool_limits(limits=threads):
        result = split_metrics(persons.labels, _predict(clf, persons), clf.labels)
    return {"model": str(model_dir), "data": data, "split": split, "seed": seed, "counts": counts,
            split: result,
            "majority_baseline": majority_baseline(splits["train"].labels, persons.labels, clf.labels)}
