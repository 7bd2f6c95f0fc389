"""Pose-only activity on MPII's CSV (20 categories): the plain baseline vs our classifiers, one split.

    PYTHONPATH=src python benchmarks/bench_activity_mpii.py [--csv PATH] [--seed 0] [--configs NAME ...]
                                                            [--out results.json]

Split: images 80 / 20, stratified by category (`posekit.activity.dataset.split_samples`, seed 0); the 80 %
is split again 85 / 15 (same seed) into fit and validation persons. The plain baseline (scikit-learn's
HistGradientBoostingClassifier with its defaults, unweighted, on the 28 normalised joint coordinates) is
fitted on the whole 80 % (its own early stopping holds out 10 % of it). Every other configuration is fitted
on the fit persons (boosting rounds, the ensemble weight and the kNN are chosen on the validation persons
only) and the default is the configuration with the best validation score (accuracy + macro-F1) / 2: the
test persons are never used to choose anything. Each configuration is also scored on the test persons with
simulated pose-model errors (noise sigma 0.1 x torso, 10 % joint dropout), as predicted poses have them.

Measured 2026-11-27 (seed 0; 11,787 fit / 2,080 val / 3,464 test persons; test accuracy / macro-F1):
plain baseline 0.314 / 0.206; gbt base balanced (the old default) 0.302 / 0.285; gbt base unbalanced
0.333 / 0.254; knn-procrustes 0.304 / 0.210; ensemble rich sqrt aug1 0.336 / 0.270; ensemble base sqrt aug1
0.341 / 0.273; ensemble rich balanced aug1 0.338 / 0.288 (best validation score: the default). Every command
and the validation figures: /work/notes/issue-16.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from posekit.activity.classifier import fit_classifier
from posekit.activity.dataset import augment, person_set, perturb, split_samples
from posekit.activity.pairs import features_of
from posekit.activity.report import split_metrics
from posekit.datasets import load_dataset

CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "mpii-activity" / "mpii_human_pose.csv"
# name: (kind, features, balance, augment copies)
CONFIGS = {
    "gbt-base-balanced": ("gbt", "base", "balanced", 0),  # the model before issue 16
    "gbt-base-none": ("gbt", "base", "none", 0),
    "knn-procrustes": ("knn", "base", "none", 0),
    "gbt-rich-sqrt": ("gbt", "rich", "sqrt", 0),
    "ensemble-rich-sqrt-aug1": ("ensemble", "rich", "sqrt", 1),  # also reports its trees alone
    "ensemble-base-sqrt-aug1": ("ensemble", "base", "sqrt", 1),
    "ensemble-rich-balanced-aug1": ("ensemble", "rich", "balanced", 1),
}


def scores(truth, pred, labels) -> dict:
    m = split_metrics(truth, pred, labels)
    return {"accuracy": round(m["accuracy"], 4), "f1_macro": round(m["f1_macro"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(CSV))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    samples = load_dataset(f"mpii-csv:{args.csv}")
    outer = split_samples(samples, args.seed, (0.8, 0.0, 0.2))
    inner = split_samples(outer["train"], args.seed, (0.85, 0.15, 0.0))
    train, fit, val, test = (person_set(s) for s in (outer["train"], inner["train"], inner["val"],
                                                         outer["test"]))
    labels = tuple(sorted(set(train.labels.tolist())))
    index = {c: i for i, c in enumerate(labels)}
    y = {name: np.array([index[c] for c in p.labels]) for name, p in
         (("train", train), ("fit", fit), ("val", val), ("test", test))}
    noisy_test = perturb(test.joints, 0.1, 0.1, args.seed)
    print(f"persons: fit {len(fit)}, val {len(val)}, test {len(test)} ({len(train)} train = fit + val)")
    results: dict = {"split": f"80/20 by image, stratified, seed {args.seed}", "persons": {
        "train": len(train), "fit": len(fit), "val": len(val), "test": len(test)}, "configs": {}}
    with threadpool_limits(limits=1):
        if not args.no_baseline:
            from sklearn.ensemble import HistGradientBoostingClassifier

            start = time.perf_counter()
            base = HistGradientBoostingClassifier(random_state=args.seed)
            base.fit(features_of(train.joints, "base")[:, :28], y["train"])
            seconds = time.perf_counter() - start
            pred = np.asarray(labels)[base.predict(features_of(test.joints, "base")[:, :28])]
            noisy = np.asarray(labels)[base.predict(features_of(noisy_test, "base")[:, :28])]
            results["baseline"] = {"test": scores(test.labels, pred, labels),
                                   "test_noisy": scores(test.labels, noisy, labels),
                                   "train_seconds": round(seconds, 1)}
            print(f"plain baseline: {results['baseline']}", flush=True)
        for name in args.configs:
            kind, feats, balance, copies = CONFIGS[name]
            start = time.perf_counter()
            joints, y_fit = augment(fit.joints, y["fit"], copies, args.seed)
            clf, history = fit_classifier(features_of(joints, feats), y_fit, features_of(val.joints, feats),
                                          y["val"], labels, kind=kind, seed=args.seed, progress=False,
                                          threads=1, balance=balance, feature_set=feats)
            seconds = time.perf_counter() - start
            row = {"train_seconds": round(seconds, 1)}
            evals = (("val", val.joints, val.labels), ("test", test.joints, test.labels),
                     ("test_noisy", noisy_test, test.labels))
            for split, joints_eval, truth in evals:
                row[split] = scores(truth, np.asarray(labels)[clf.predict(clf.features(joints_eval))], labels)
            row["val_score"] = round((row["val"]["accuracy"] + row["val"]["f1_macro"]) / 2, 4)
            row["best_round"] = history.get("best_round")
            if "ensemble_weight" in history:
                row["ensemble_weight"] = history["ensemble_weight"]
            results["configs"][name] = row
            print(f"{name}: {row}", flush=True)
            if kind == "ensemble":  # the ensemble's boosted trees alone: the same fit, no extra training
                trees = {}
                for split, joints_eval, truth in evals:
                    proba = clf.estimator.estimators[0].predict_proba(clf.features(joints_eval))
                    trees[split] = scores(truth, np.asarray(labels)[proba.argmax(axis=1)], labels)
                trees["val_score"] = round((trees["val"]["accuracy"] + trees["val"]["f1_macro"]) / 2, 4)
                results["configs"][name.replace("ensemble", "gbt") + " (the ensemble's trees)"] = trees
                print(f"  its trees alone: {trees}", flush=True)
    if results["configs"]:
        best = max(results["configs"], key=lambda n: results["configs"][n]["val_score"])
        results["chosen_on_val"] = best
        print(f"chosen on validation: {best}: test {results['configs'][best]['test']}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
