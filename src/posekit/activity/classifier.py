"""Pose-feature classifiers: gradient-boosted trees ("gbt"), a small neural network ("mlp"), kNN after
Procrustes alignment ("knn", `posekit.activity.procrustes`) and the soft-vote ensemble of gbt and knn
("ensemble", its weight chosen on the validation features).

All come from scikit-learn (an optional dependency, imported here lazily). Classes are weighted by
(n / (C x n_c)) ** p: ``balance="balanced"`` (p = 1, scikit-learn's "balanced", MPII's categories range from
~20% to <1% of the persons), ``"sqrt"`` (p = 1/2, half-way: rare classes count more without giving up the
common ones), ``"none"`` (p = 0). kNN ignores weights. Features are the base set (76) or the rich set (167,
`posekit.activity.pairs`).
Training runs in rounds (10 boosting iterations or one MLP epoch) with a progress bar; after each round the
macro-averaged F1 on the validation features is measured and the model with the best one so far is kept
(on MPII the class-weighted validation log loss bottoms out early while F1 and accuracy still improve);
training stops after ``patience`` rounds without improvement. The class-weighted validation log loss is
recorded too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.features import FEATURE_VERSION
from posekit.errors import PosekitError
from posekit.metrics.classification import precision_recall_f1

KINDS = ("gbt", "mlp", "knn", "ensemble")
BALANCES = {"balanced": 1.0, "sqrt": 0.5, "none": 0.0}
ENSEMBLE_WEIGHTS = (0.5, 0.65, 0.8)  # the trees' share in the ensemble, chosen on validation
SKLEARN_INSTALL = "pip install 'posekit[activity]' (or: pip install scikit-learn)"


def require_sklearn() -> Any:
    """The sklearn module, or PosekitError with the install command."""
    try:
        import sklearn
    except ImportError:
        raise PosekitError(f"activity classifiers need scikit-learn; install it: {SKLEARN_INSTALL}") from None
    return sklearn


@dataclass(frozen=True)
class ActivityClassifier:
    """A fitted classifier over pose features.

    kind: "gbt" or "mlp"; labels: category names, label i is column i of the probabilities;
    estimator: a fitted scikit-learn classifier whose ``classes_`` are 0..C-1; schema: keypoint schema of the
    training poses (features are schema-independent, this is for the record).
    """

    kind: str
    labels: tuple[str, ...]
    estimator: Any
    feature_version: int = FEATURE_VERSION
    schema: str = "mpii16"
    feature_set: str = "base"

    def features(self, joints: NDArray[np.floating]) -> NDArray[np.float64]:
        """(N, 14, 2) canonical joints -> (N, F) the features this classifier reads."""
        from posekit.activity.pairs import features_of

        return features_of(np.asarray(joints, dtype=np.float64), self.feature_set)

    def predict_proba(self, features: NDArray[np.floating]) -> NDArray[np.float64]:
        """(N, F) features (of ``feature_set``) -> (N, C) class probabilities (rows sum to 1)."""
        from posekit.activity.pairs import feature_width

        x = np.asarray(features, dtype=np.float64).reshape(-1, feature_width(self.feature_set))
        if len(x) == 0:
            return np.zeros((0, len(self.labels)))
        return np.asarray(self.estimator.predict_proba(x), dtype=np.float64)

    def predict(self, features: NDArray[np.floating]) -> NDArray[np.intp]:
        """(N, NUM_FEATURES) features -> (N,) label indices."""
        return np.argmax(self.predict_proba(features), axis=1)

    def top_k(self, features: NDArray[np.floating], k: int = 3) -> list[list[tuple[str, float]]]:
        """Per person the k most probable (label, probability), best first."""
        proba = self.predict_proba(features)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        return [[(self.labels[j], float(p[j])) for j in row] for p, row in zip(proba, order, strict=True)]


def class_weights(y: NDArray[np.integer], num_classes: int, power: float = 1.0) -> NDArray[np.float64]:
    """Per-sample weights (n / (C x n_c)) ** power for labels y (N,) in 0..C-1 (classes with no sample are
    skipped)."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(num_classes)
    w[present] = (len(y) / (present.sum() * counts[present])) ** power
    return w[y]


class QuantileBins:
    """Each feature mapped to its bin index among <= 255 quantile bins of the training data (a monotone
    map: trees split the same way, and scikit-learn's own binning takes its fast exact path)."""

    def fit(self, x: NDArray[np.floating], y: Any = None) -> QuantileBins:
        q = np.linspace(0.0, 1.0, 256)[1:-1]
        self.thresholds_ = [np.unique(np.quantile(col, q)) for col in np.asarray(x, dtype=np.float64).T]
        return self

    def transform(self, x: NDArray[np.floating]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        return np.stack([np.searchsorted(t, x[:, j], side="left") for j, t in enumerate(self.thresholds_)],
                        axis=1).astype(np.float64)

    def fit_transform(self, x: NDArray[np.floating], y: Any = None) -> NDArray[np.float64]:
        return self.fit(x).transform(x)


def _weighted_log_loss(proba: NDArray[np.float64], y: NDArray[np.integer], w: NDArray[np.float64]) -> float:
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-(w * np.log(p)).sum() / w.sum())


def _make(kind: str, seed: int, n: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier

    if kind == "gbt":
        return HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=0, max_leaf_nodes=15, min_samples_leaf=50, l2_regularization=1.0,
            max_features=0.5, early_stopping=False, warm_start=True, random_state=seed,
        )
    # mini-batches of 256, smaller for tiny data sets so that an epoch still takes several steps
    return MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-3, batch_size=min(256, max(16, n // 8)),
                         learning_rate_init=1e-3, random_state=seed)


def fit_classifier(
    x_train: NDArray[np.floating], y_train: NDArray[np.integer], x_val: NDArray[np.floating],
    y_val: NDArray[np.integer], labels: tuple[str, ...], kind: str = "gbt", seed: int = 0,
    max_rounds: int | None = None, patience: int = 5, progress: bool = True, schema: str = "mpii16",
    threads: int | None = 1, balance: str = "balanced", feature_set: str = "base",
) -> tuple[ActivityClassifier, dict[str, Any]]:
    """Train a classifier on (N, NUM_FEATURES) features with labels 0..C-1 (C = len(labels)).

    Every label must occur in y_train. max_rounds: boosting rounds of 10 iterations (default 30) or MLP
    epochs (default 150). threads: OpenMP/BLAS threads (None: all cores; the default 1 avoids the
    many-fold slowdown of scikit-learn's OpenMP on busy shared CPUs). Returns the classifier with the best
    validation macro-F1 and a history dict (rounds run, best round, validation F1 and losses).
    """
    require_sklearn()
    from threadpoolctl import threadpool_limits

    if balance not in BALANCES:
        raise PosekitError(f"unknown --balance {balance!r}; choose one of {', '.join(BALANCES)}")
    if kind not in KINDS:
        raise PosekitError(f"unknown activity model {kind!r}; choose one of {', '.join(KINDS)}")
    with threadpool_limits(limits=threads):
        if kind in ("knn", "ensemble"):
            return _fit_knn(x_train, y_train, x_val, y_val, labels, kind, seed, max_rounds, patience,
                            progress, schema, balance, feature_set)
        return _fit(x_train, y_train, x_val, y_val, labels, kind, seed, max_rounds, patience, progress,
                    schema, balance, feature_set)


def _fit_knn(x_train: NDArray[np.floating], y_train: NDArray[np.integer], x_val: NDArray[np.floating],
             y_val: NDArray[np.integer], labels: tuple[str, ...], kind: str, seed: int,
             max_rounds: int | None, patience: int, progress: bool, schema: str, balance: str,
             feature_set: str) -> tuple[ActivityClassifier, dict[str, Any]]:
    from posekit.activity.procrustes import SoftVote, make_knn

    c = len(labels)
    knn = make_knn().fit(x_train, y_train)
    if kind == "knn":
        f1 = precision_recall_f1(y_val, knn.predict_proba(x_val).argmax(axis=1), "macro", labels=range(c))[2]
        return (ActivityClassifier(kind, tuple(labels), knn, FEATURE_VERSION, schema, feature_set),
                {"rounds": 1, "best_round": 1, "val_f1_macro": [f1], "val_loss": [], "round_unit": "fit"})
    trees, history = _fit(x_train, y_train, x_val, y_val, labels, "gbt", seed, max_rounds, patience, progress,
                          schema, balance, feature_set)
    p_trees, p_knn = trees.estimator.predict_proba(x_val), knn.predict_proba(x_val)
    scores = {}
    for w in ENSEMBLE_WEIGHTS:
        pred = (w * p_trees + (1 - w) * p_knn).argmax(axis=1)
        scores[w] = (float(np.mean(pred == y_val))
                     + precision_recall_f1(y_val, pred, "macro", labels=range(c))[2]) / 2
    w = max(ENSEMBLE_WEIGHTS, key=lambda k: scores[k])
    history = {**history, "ensemble_weight": w, "ensemble_val_score": {str(k): v for k, v in scores.items()}}
    return (ActivityClassifier(kind, tuple(labels), SoftVote([trees.estimator, knn], [w, 1 - w]),
                               FEATURE_VERSION, schema, feature_set), history)


def _fit(x_train: NDArray[np.floating], y_train: NDArray[np.integer], x_val: NDArray[np.floating],
         y_val: NDArray[np.integer], labels: tuple[str, ...], kind: str, seed: int, max_rounds: int | None,
         patience: int, progress: bool, schema: str, balance: str = "balanced",
         feature_set: str = "base") -> tuple[ActivityClassifier, dict[str, Any]]:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    if kind not in KINDS:
        raise PosekitError(f"unknown activity model {kind!r}; choose one of {', '.join(KINDS)}")
    c = len(labels)
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    absent = sorted(set(range(c)) - set(y_train.tolist()))
    if absent:
        raise PosekitError(f"no training example for {labels[absent[0]]!r}; use more data or drop the class")
    if len(x_val) == 0:
        raise PosekitError("the validation split is empty; use more data")
    power = BALANCES[balance]
    w_train, w_val = class_weights(y_train, c, power), class_weights(y_val, c, power)
    max_rounds = max_rounds or (30 if kind == "gbt" else 150)
    model = _make(kind, seed, len(x_train))
    # trees: features pre-binned to <= 255 values once (scikit-learn re-bins on every warm-start round, and
    # with sample weights its weighted quantiles made binning ~90 % of the training time)
    scaler = StandardScaler().fit(x_train) if kind == "mlp" else QuantileBins().fit(x_train)
    xt = scaler.transform(x_train) if scaler is not None else x_train
    xv = scaler.transform(x_val) if scaler is not None else x_val
    rng = np.random.default_rng(seed)
    best, best_f1, best_round, losses, f1s = None, -1.0, 0, [], []
    bar = tqdm(range(1, max_rounds + 1), desc=f"train {kind}", unit="round", disable=not progress)
    for r in bar:
        if kind == "gbt":
            model.max_iter += 10
            model.fit(xt, y_train, sample_weight=w_train)
        else:
            order = rng.permutation(len(xt))
            model.partial_fit(xt[order], y_train[order], sample_weight=w_train[order], classes=np.arange(c))
        proba = model.predict_proba(xv)
        losses.append(_weighted_log_loss(proba, y_val, w_val))
        f1s.append(precision_recall_f1(y_val, proba.argmax(axis=1), "macro", labels=range(c))[2])
        bar.set_postfix(val_f1_macro=f"{f1s[-1]:.4f}", val_loss=f"{losses[-1]:.4f}")
        if f1s[-1] > best_f1 + 1e-9:
            best, best_f1, best_round = copy.deepcopy(model), f1s[-1], r
        elif r - best_round >= patience:
            break
    bar.close()
    estimator = Pipeline([("scale", scaler), (kind, best)])
    history = {"rounds": len(losses), "best_round": best_round, "val_f1_macro": f1s, "val_loss": losses,
               "round_unit": "10 boosting iterations" if kind == "gbt" else "epoch"}
    history["balance"] = balance
    return ActivityClassifier(kind, tuple(labels), estimator, FEATURE_VERSION, schema, feature_set), history
