"""COCO keypoints JSON (``person_keypoints_*.json``) <-> Samples.

Images dir default: for the standard layout ``annotations/person_keypoints_val2017.json`` the sibling
folder ``val2017/`` (named after the file's split suffix) when it exists, else ``images/`` beside the JSON,
else the JSON's own folder. ``file_name`` may be absolute (as :func:`as_coco` writes for images outside
the output folder); joining keeps it as is.

posekit extensions (written by :func:`as_coco`, read back here, ignored by other COCO tools):
categories[].posekit_schema; images[].split; annotations[].head_box (x1, y1, x2, y2), center, scale,
activity, activity_category, activity_id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from posekit.datasets.files import default_images_dir, image_size, read_json
from posekit.datasets.report import LoadReport
from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError
from posekit.skeletons import COCO17, SCHEMAS, Schema


def coco_images_dir(json_path: Path) -> Path:
    """Where a COCO JSON's images are by default (see module docstring)."""
    json_path = Path(json_path)
    stem = json_path.stem
    split = stem.split("_")[-1] if "_" in stem else None
    if split and (json_path.parent.parent / split).is_dir():
        return json_path.parent.parent / split
    return default_images_dir(json_path)


def _schema_for(category: dict[str, Any], path: Path) -> Schema:
    name = category.get("posekit_schema")
    if name in SCHEMAS:
        return SCHEMAS[name]
    names = tuple(category.get("keypoints") or ())
    for s in SCHEMAS.values():
        if names == s.keypoints:
            return s
    if len(names) == 17 or not names:
        return COCO17  # COCO files sometimes spell names differently; 17 points are COCO's order
    raise PosekitError(
        f"{path}: category {category.get('name')!r} has {len(names)} keypoints, no known schema "
        f"({', '.join(SCHEMAS)}); convert it to one of them first"
    )


def load_coco(
    path: str | Path,
    images_dir: str | Path | None = None,
    report: LoadReport | None = None,
    read_missing_sizes: bool = True,
) -> list[Sample]:
    """Samples from a COCO keypoints JSON, one per image (images without annotations included).

    Keypoints: (K, 2) float32 px; visibility = COCO v (0/1/2), unlabelled points get (0, 0).
    Boxes: COCO bbox x, y, w, h -> x1, y1, x2, y2 px. Crowd annotations are kept with iscrowd=True.
    Counts in ``report``: "num_keypoints mismatch", "missing image file", "annotation of other category".
    """
    path = Path(path)
    report = report if report is not None else LoadReport()
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise PosekitError(f"{path}: not a COCO keypoints file (needs 'images' and 'annotations' lists)")
    cats = [c for c in data.get("categories") or [] if isinstance(c, dict) and c.get("keypoints")]
    if not cats:
        cats = [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]
        report.note("no keypoint category (assumed COCO-17, id 1)", str(path))
    cat = cats[0]
    schema = _schema_for(cat, path)
    k = schema.num_keypoints
    root = Path(images_dir) if images_dir is not None else coco_images_dir(path)

    samples: dict[Any, Sample] = {}
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            report.bad(f"{path}: images[{i}] lacks 'id' or 'file_name'; fix the record")
            continue
        image_path = root / str(img["file_name"])
        exists = os.path.exists(image_path)
        if not exists:
            report.note("missing image file", str(image_path))
        w, h = int(img.get("width") or 0), int(img.get("height") or 0)
        if (not w or not h) and exists and read_missing_sizes:
            w, h = image_size(image_path) or (0, 0)
        samples[img["id"]] = Sample(image_path, w, h, schema, [], image_id=img["id"], split=img.get("split"))

    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}] (id {ann.get('id') if isinstance(ann, dict) else '?'})"
        if not isinstance(ann, dict):
            report.bad(f"{where}: not an object; fix the record")
            continue
        if ann.get("category_id", cat["id"]) != cat["id"]:
            report.note("annotation of other category", where)
            continue
        sample = samples.get(ann.get("image_id"))
        if sample is None:
            report.bad(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'; fix the record")
            continue
        person = _person(ann, k, where, report)
        if person is not None:
            sample.persons.append(person)
    return list(samples.values())


def _person(ann: dict[str, Any], k: int, where: str, report: LoadReport) -> Person | None:
    raw = ann.get("keypoints")
    try:
        kp = np.zeros((k, 3), np.float64) if raw is None else np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        report.bad(f"{where}: keypoints are not numbers; fix the record")
        return None
    if kp.size != 3 * k:
        report.bad(f"{where}: {kp.size} keypoint values, schema needs {3 * k} ({k} x [x, y, v]); fix it")
        return None
    kp = kp.reshape(k, 3)
    if not np.isfinite(kp).all():
        report.bad(f"{where}: NaN or infinite keypoint coordinates; fix the record")
        return None
    vis = kp[:, 2].astype(np.int8)
    if not np.isin(vis, (0, 1, 2)).all() or not np.array_equal(vis, kp[:, 2]):
        report.bad(f"{where}: keypoint visibility must be 0, 1 or 2; fix the record")
        return None
    xy = np.where(vis[:, None] > 0, kp[:, :2], 0.0)
    n_lab = int((vis > 0).sum())
    if "num_keypoints" in ann and int(ann["num_keypoints"]) != n_lab:
        msg = f"{where}: num_keypoints {ann['num_keypoints']}, counted {n_lab}"
        report.note("num_keypoints mismatch", msg)
    box = None
    bbox = ann.get("bbox")
    if bbox is not None:
        b = np.asarray(bbox, dtype=np.float64).reshape(-1)
        if b.size != 4 or not np.isfinite(b).all():
            report.bad(f"{where}: bbox must be 4 finite numbers x, y, w, h; fix the record")
            return None
        box = np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])
    area = ann.get("area")
    return Person(
        xy, vis, box=box, head_box=ann.get("head_box"), center=ann.get("center"), scale=ann.get("scale"),
        area=None if area is None else float(area), iscrowd=bool(ann.get("iscrowd", 0)),
        activity=ann.get("activity"), category=ann.get("activity_category"),
        activity_id=ann.get("activity_id"), extra={"id": ann["id"]} if "id" in ann else {},
    )


def _rel(path: Path | None, root: Path | None) -> str:
    """``path`` relative to ``root`` when it lies inside it, else absolute."""
    if path is None:
        return ""
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(Path(path).resolve())


def as_coco(samples: list[Sample], root: str | Path | None = None) -> dict[str, Any]:
    """A COCO keypoints dict (images, annotations, categories) for ``samples``.

    ``file_name`` is the image path relative to ``root`` when the image is inside it, else absolute.
    Unlabelled keypoints are written as 0, 0, 0; bbox is x, y, w, h (from the box, else from the labelled
    keypoints' bounds); all samples must share one schema.
    """
    if not samples:
        schema = COCO17
    else:
        schema = samples[0].schema
        for s in samples:
            if s.schema != schema:
                raise PosekitError(
                    f"{s.image_path}: schema {s.schema.name} differs from {schema.name}; "
                    "convert one schema at a time"
                )
    root = Path(root) if root is not None else None
    images, anns = [], []
    used = {s.image_id for s in samples if isinstance(s.image_id, int)}
    next_id = max(used, default=0) + 1
    ann_id = 1
    for s in samples:
        if isinstance(s.image_id, int):
            img_id = s.image_id
        else:
            img_id, next_id = next_id, next_id + 1
        img = {"id": img_id, "file_name": _rel(s.image_path, root), "width": s.width, "height": s.height}
        if s.split:
            img["split"] = s.split
        images.append(img)
        for p in s.persons:
            anns.append(_annotation(p, img_id, ann_id))
            ann_id += 1
    category = {
        "id": 1, "name": "person", "supercategory": "person", "keypoints": list(schema.keypoints),
        "skeleton": [[a + 1, b + 1] for a, b in schema.edges], "posekit_schema": schema.name,
    }
    return {"images": images, "annotations": anns, "categories": [category]}


def _annotation(p: Person, image_id: int, ann_id: int) -> dict[str, Any]:
    lab = p.visibility > 0
    xy = np.where(lab[:, None], p.keypoints, 0.0)
    pairs = zip(xy.tolist(), p.visibility.tolist(), strict=True)
    flat = [v for (x, y), vis in pairs for v in (_r(x), _r(y), int(vis))]
    if p.box is not None:
        x1, y1, x2, y2 = (float(v) for v in p.box)
    elif lab.any():
        (x1, y1), (x2, y2) = p.keypoints[lab].min(0).tolist(), p.keypoints[lab].max(0).tolist()
    else:
        x1 = y1 = x2 = y2 = 0.0
    ann: dict[str, Any] = {
        "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": int(p.iscrowd),
        "keypoints": flat, "num_keypoints": int(lab.sum()),
        "bbox": [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
        "area": float(p.area) if p.area is not None else _r((x2 - x1) * (y2 - y1)),
    }
    if p.head_box is not None:
        ann["head_box"] = [_r(v) for v in p.head_box.tolist()]
    if p.center is not None:
        ann["center"] = [_r(v) for v in p.center.tolist()]
    for key, value in (("scale", p.scale), ("activity", p.activity), ("activity_category", p.category),
                       ("activity_id", p.activity_id)):
        if value is not None:
            ann[key] = value
    return ann


def _r(v: float) -> float:
    """float32 values printed without float32 noise (4 decimals = 1/10000 px)."""
    return round(float(v), 4)
