"""`posekit activity compare`: pose-only vs image-only vs image + pose map on one labelled image folder.

The three models (`posekit.activity.image_model`) are cross-validated on the same stratified folds
(`posekit.activity.crossval`), over the same cached features (`posekit.activity.extract`). The report
(``report.json``, one ``confusion_<mode>.png`` per model, the printed table) holds, per model, the pooled
accuracy, macro-F1, per-class precision / recall, the confusion matrix, fold mean +- std, training seconds
per fold, and the person-less outcome count; plus the bad-input accounting of the image folder and the
published anchors of the mpii-sports split (test-set figures of another split: context, not a like-for-like
comparison).

`train_image_activity` fits one model on every image and writes a model folder that `posekit activity
predict` reads (``model.pkl``: pickled, trust only your own folders, as for pose classifiers; ``model.json``
with the SHA-256 of the pickle, the classes, the mode, the backbone and the pose model).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from posekit.activity.image_model import COMPARED, MODES, ImageActivityModel
from posekit.errors import PosekitError

ANCHORS = {"GoogLeNet (DomChey/ORIU_Project, test)": 0.823, "ResNet (DomChey/ORIU_Project, test)": 0.761}
FORMAT = "posekit-image-activity"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    from posekit import hub

    return hub.cache_dir() / "activity-features"


def load_records(data: str, labels: str | None, cache_dir: str | Path | None, threads: int | None,
                 progress: bool, classes: tuple[str, ...] | None = None):
    """The labelled image set and one record per usable image (unreadable ones skipped and counted)."""
    from posekit.activity.extract import Extractor, extract_all
    from posekit.activity.imageset import _note, load_image_set

    images = load_image_set(data, labels, classes)
    extractor = Extractor(cache_dir or default_cache_dir(), threads=threads)
    start = time.perf_counter()
    records, errors = extract_all(images.paths, extractor, progress=progress)
    seconds = time.perf_counter() - start
    keep = [i for i, r in enumerate(records) if r is not None]
    for name in errors:
        _note(images.skipped, images.counts, "unreadable images", name)
    images.paths = [images.paths[i] for i in keep]
    images.labels = images.labels[keep]
    return images, [records[i] for i in keep], {"extract_seconds": round(seconds, 1),
                                                 "backbone": extractor.backbone_name,
                                                 "pose_model": extractor.pose_model_name}


def compare_image_models(data: str, labels: str | None, out: str | Path, modes: tuple[str, ...] = COMPARED,
                         folds: int = 5, seed: int = 0, cache_dir: str | Path | None = None,
                         threads: int | None = 1, progress: bool = True) -> dict[str, Any]:
    """Cross-validate ``modes`` on the labelled images of ``data`` and write the report to ``out``."""
    from posekit.activity.crossval import cross_validate
    from posekit.activity.finetune import FT_MODES, load_cut_tensors
    from posekit.activity.report import save_confusion_png
    from posekit.formats import write_json

    for mode in modes:
        if mode not in MODES and mode not in FT_MODES:
            raise PosekitError(f"unknown model {mode!r}; choose from {', '.join((*MODES, *FT_MODES))}")
    images, records, extract = load_records(data, labels, cache_dir, threads, progress)
    cut = None
    if any(mode in FT_MODES for mode in modes):
        start = time.perf_counter()
        cut = load_cut_tensors(images.paths, cache_dir or default_cache_dir(), threads, progress)
        extract["cut_tensor_seconds"] = round(time.perf_counter() - start, 1)
    y = images.y()
    if np.bincount(y, minlength=len(images.classes)).min() < folds:
        raise PosekitError(f"{data}: a class has fewer than {folds} images; add images or pass fewer --folds")
    out = Path(out)
    report: dict[str, Any] = {"data": data, "labels": labels, "classes": list(images.classes),
                              "input": images.report(), **extract, "folds": folds, "seed": seed,
                              "anchors": ANCHORS, "models": {}}
    for mode in modes:
        result = cross_validate(records, y, images.classes, mode, folds, seed, threads, progress, cut)
        result["names"] = [p.name for p in images.paths]
        report["models"][mode] = result
        m = result["pooled"]
        title = f"{mode}: {folds}-fold CV accuracy {m['accuracy']:.3f}, macro-F1 {m['f1_macro']:.3f}"
        save_confusion_png(np.asarray(m["confusion"]), images.classes, title,
                           out / f"confusion_{mode.replace('+', '_')}.png")
    write_json(out / "report.json", report)
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The side-by-side table of a compare report."""
    lines = [f"{'model':<15} {'accuracy':>17} {'macro-F1':>17} {'pooled acc':>10} {'pooled F1':>9} "
             f"{'train s/fold':>12} {'no person':>9}"]
    for mode, r in report["models"].items():
        lines.append(f"{mode:<15} {r['accuracy_mean']:.3f} +- {r['accuracy_std']:.3f}    "
                     f"{r['f1_macro_mean']:.3f} +- {r['f1_macro_std']:.3f}    "
                     f"{r['pooled']['accuracy']:>10.3f} {r['pooled']['f1_macro']:>9.3f} "
                     f"{r['train_seconds_mean']:>12.1f} {r['outcome_no_person']:>9}")
    lines += [f"anchor {name}: accuracy {acc:.3f}" for name, acc in report["anchors"].items()]
    return lines


def train_image_activity(data: str, labels: str | None, out: str | Path, mode: str = "image+pose",
                         seed: int = 0, cache_dir: str | Path | None = None, threads: int | None = 1,
                         progress: bool = True) -> dict[str, Any]:
    """Fit ``mode`` on every labelled image of ``data`` and save it to the model folder ``out``."""
    from posekit.activity.image_model import fit_image_model

    images, records, extract = load_records(data, labels, cache_dir, threads, progress)
    start = time.perf_counter()
    model = fit_image_model(records, images.y(), images.classes, mode, seed=seed, threads=threads)
    seconds = time.perf_counter() - start
    save_image_model(model, out, {"data": data, "labels_csv": labels, **extract,
                                  "train_seconds": round(seconds, 2), "input": images.report()})
    return {"mode": mode, "images": len(records), "train_seconds": round(seconds, 2), **extract}


def save_image_model(model: ImageActivityModel, out: str | Path, extra: dict[str, Any]) -> Path:
    import posekit
    from posekit.activity.classifier import require_sklearn
    from posekit.atomic import write_atomic
    from posekit.formats import write_json

    sklearn = require_sklearn()
    out = Path(out)
    blob = pickle.dumps(model.estimator, protocol=pickle.HIGHEST_PROTOCOL)
    write_atomic(out / "model.pkl", blob)
    write_json(out / "model.json", {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mode": model.mode,
        "labels": list(model.classes),
        "posekit_version": posekit.__version__, "sklearn_version": sklearn.__version__,
        "sha256": hashlib.sha256(blob).hexdigest(), "info": model.info, **extra})
    return out


def is_image_model(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` holds an image activity model (else, a pose classifier folder)."""
    try:
        return json.loads((Path(model_dir) / "model.json").read_text())["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load_image_model(model_dir: str | Path) -> tuple[ImageActivityModel, dict[str, Any]]:
    """The model saved by `save_image_model` and its model.json, checked (PosekitError naming the fix)."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "model.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION or meta.get("mode") not in MODES:
        raise PosekitError(f"{model_dir}: unsupported image activity model; retrain with "
                           "`posekit activity train --data images:DIR`")
    blob = (model_dir / "model.pkl").read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise PosekitError(f"{model_dir / 'model.pkl'}: checksum differs from model.json; retrain the model")
    model = ImageActivityModel(meta["mode"], tuple(meta["labels"]), pickle.loads(blob), meta.get("info", {}))
    return model, meta
