"""Activity model folders: save and load a trained classifier with the facts needed to trust it.

A model folder holds ``model.pkl`` (the pickled scikit-learn estimator; only load folders you trust, as
with any pickle) and ``model.json``: format and feature versions, posekit and scikit-learn versions, the
label list, the training schema, the model kind and the SHA-256 of ``model.pkl``. Loading checks all of them
and raises PosekitError naming the folder and the fix. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from posekit.activity.classifier import KINDS, ActivityClassifier, require_sklearn
from posekit.activity.features import FEATURE_VERSION
from posekit.atomic import write_atomic
from posekit.errors import PosekitError
from posekit.formats import write_json

FORMAT = "posekit-activity"
FORMAT_VERSION = 1
MODEL_FILE = "model.pkl"
META_FILE = "model.json"


def _sklearn_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save_classifier(clf: ActivityClassifier, model_dir: str | Path,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``clf`` to ``model_dir`` (created if needed); ``extra`` is merged into model.json."""
    import posekit

    sklearn = require_sklearn()
    model_dir = Path(model_dir)
    blob = pickle.dumps(clf.estimator, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        write_atomic(model_dir / MODEL_FILE, blob)
    except OSError as err:
        raise PosekitError(f"{model_dir}: cannot write the model ({err.strerror}); "
                           "choose another --out") from None
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "feature_version": clf.feature_version,
        "posekit_version": posekit.__version__, "sklearn_version": sklearn.__version__, "kind": clf.kind,
        "labels": list(clf.labels), "schema": clf.schema, "feature_set": clf.feature_set,
        "sha256": hashlib.sha256(blob).hexdigest(),
        **(extra or {}),
    }
    write_json(model_dir / META_FILE, meta)
    return model_dir


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """model.json of a model folder, checked for format and feature version."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise PosekitError(f"{model_dir}: no such model folder; train one with `posekit activity train`")
    for name in (META_FILE, MODEL_FILE):
        if not (model_dir / name).is_file():
            raise PosekitError(f"{model_dir}: {name} is missing; retrain with `posekit activity train`")
    try:
        meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PosekitError(f"{model_dir / META_FILE}: unreadable ({err}); retrain the model") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PosekitError(f"{model_dir}: not a posekit activity model folder (model.json format)")
    for key, ours in (("format_version", FORMAT_VERSION), ("feature_version", FEATURE_VERSION)):
        if meta.get(key) != ours:
            raise PosekitError(
                f"{model_dir}: {key} {meta.get(key)} (posekit {meta.get('posekit_version')}), this posekit "
                f"reads {ours}; retrain with `posekit activity train`"
            )
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise PosekitError(f"{model_dir / META_FILE}: 'labels' must be a non-empty list of names; retrain")
    if meta.get("kind") not in KINDS:
        raise PosekitError(f"{model_dir / META_FILE}: unknown kind {meta.get('kind')!r}; retrain")
    return meta


def load_classifier(model_dir: str | Path,
                    labels: list[str] | tuple[str, ...] | None = None) -> ActivityClassifier:
    """The classifier saved in ``model_dir``; with ``labels``, the folder's label list must equal it."""
    sklearn = require_sklearn()
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    if _sklearn_minor(str(meta.get("sklearn_version"))) != _sklearn_minor(sklearn.__version__):
        raise PosekitError(
            f"{model_dir}: saved with scikit-learn {meta.get('sklearn_version')}, "
            f"this is {sklearn.__version__}; "
            f"retrain with `posekit activity train` or install scikit-learn=={meta.get('sklearn_version')}"
        )
    if labels is not None and list(labels) != meta["labels"]:
        extra = sorted(set(labels) - set(meta["labels"])) or sorted(set(meta["labels"]) - set(labels))
        raise PosekitError(f"{model_dir}: the model's label set differs from the expected one (e.g. "
                           f"{extra[0] if extra else 'label order'!r}); retrain on this label set")
    blob = (model_dir / MODEL_FILE).read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise PosekitError(f"{model_dir / MODEL_FILE}: checksum differs from model.json; the folder is "
                           "corrupt or mixed, retrain the model")
    try:
        estimator = pickle.loads(blob)
    except Exception as err:  # any unpickling failure means an unusable file
        raise PosekitError(f"{model_dir / MODEL_FILE}: cannot be loaded ({type(err).__name__}); "
                           "retrain") from None
    classes = list(getattr(estimator, "classes_", []))
    if classes != list(range(len(meta["labels"]))):
        raise PosekitError(f"{model_dir}: the model has {len(classes)} classes, model.json lists "
                           f"{len(meta['labels'])} labels; retrain the model")
    return ActivityClassifier(meta["kind"], tuple(meta["labels"]), estimator, meta["feature_version"],
                              str(meta.get("schema", "")), str(meta.get("feature_set", "base")))
