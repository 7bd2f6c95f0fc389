"""YOLO-pose text labels (Ultralytics layout) <-> Samples.

Layout: ``ROOT/images/<split>/NAME.jpg`` with ``ROOT/labels/<split>/NAME.txt``; one line per person:
``class cx cy w h`` then K x (x, y, v) (or K x (x, y)), all normalised to [0, 1] by the image size, which
is read from the image header. Visibility v keeps COCO's 0/1/2; with 2 values per point a point at
(0, 0) is unlabelled, any other is visible (2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.datasets.files import IMAGE_SUFFIXES, image_size, write_text_atomic
from posekit.datasets.report import LoadReport
from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError
from posekit.skeletons import COCO17, Schema


def _image_for(label: Path, labels_root: Path, images_root: Path) -> Path | None:
    base = images_root / label.relative_to(labels_root).with_suffix("")
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        if base.with_suffix(suffix).is_file():
            return base.with_suffix(suffix)
    return None


def load_yolo(path: str | Path, schema: Schema = COCO17, report: LoadReport | None = None) -> list[Sample]:
    """Samples from a YOLO-pose dataset folder (with ``images/`` and ``labels/``) or a ``labels/`` folder.

    Keypoints (K, 2) px = normalised x * width, y * height; box x1, y1, x2, y2 px from cx, cy, w, h.
    Images without a label file are samples with no persons ("image without label file"); a label file
    whose image is missing is dropped and counted ("missing image file"): without the image size its
    coordinates cannot be turned into pixels. Sample.split: the folder under labels/ (e.g. 'train').
    """
    path = Path(path)
    report = report if report is not None else LoadReport()
    if (path / "labels").is_dir():
        labels_root, images_root = path / "labels", path / "images"
    elif path.name == "labels" and path.is_dir():
        labels_root, images_root = path, path.parent / "images"
    else:
        raise PosekitError(f"{path}: no labels/ folder; point at the YOLO-pose root (images/, labels/)")
    labels = sorted(labels_root.rglob("*.txt"))
    labelled = set()
    samples = []
    for label in labels:
        image = _image_for(label, labels_root, images_root)
        if image is None:
            report.note("missing image file", f"{label} (no image beside it under {images_root})")
            continue
        labelled.add(image)
        size = image_size(image)
        if size is None:
            report.note("unreadable image", str(image))
            continue
        persons = _read_label(label, size, schema, report)
        if persons is None:
            continue
        samples.append(_sample(image, size, schema, persons, label.relative_to(labels_root)))
    if images_root.is_dir():
        for image in sorted(p for p in images_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            if image not in labelled and (size := image_size(image)) is not None:
                report.note("image without label file", str(image))
                samples.append(_sample(image, size, schema, [], image.relative_to(images_root)))
    return samples


def _sample(image: Path, size: tuple[int, int], schema: Schema, persons: list[Person], rel: Path) -> Sample:
    split = rel.parts[0] if len(rel.parts) > 1 else None
    return Sample(image, size[0], size[1], schema, persons, image_id=image.stem, split=split)


def _read_label(
    label: Path, size: tuple[int, int], schema: Schema, report: LoadReport
) -> list[Person] | None:
    k = schema.num_keypoints
    w, h = size
    persons = []
    for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label}: line {n}"
        try:
            vals = np.array([float(v) for v in line.split()])
        except ValueError:
            report.bad(f"{where}: not all numbers; fix the line")
            return None
        dims = (vals.size - 5) / k
        if dims not in (2, 3):
            report.bad(f"{where}: {vals.size} values, need 5 + {k} x 3 (or x 2) for {schema.name}; fix it")
            return None
        if not np.isfinite(vals).all():
            report.bad(f"{where}: NaN or infinite values; fix the line")
            return None
        kp = vals[5:].reshape(k, int(dims))
        if dims == 3:
            vis = kp[:, 2].astype(np.int8)
            if not np.isin(kp[:, 2], (0, 1, 2)).all():
                report.bad(f"{where}: keypoint visibility must be 0, 1 or 2; fix the line")
                return None
        else:
            vis = np.where((kp[:, :2] != 0).any(axis=1), 2, 0).astype(np.int8)
        xy = np.where(vis[:, None] > 0, kp[:, :2] * (w, h), 0.0)
        cx, cy, bw, bh = vals[1:5] * (w, h, w, h)
        box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        persons.append(Person(xy, vis, box=box, area=float(bw * bh), extra={"class": int(vals[0])}))
    return persons


def write_yolo(samples: list[Sample], out_dir: str | Path, report: LoadReport | None = None) -> int:
    """Write YOLO-pose label files ``out_dir/labels/<split>/<image stem>.txt``; returns files written.

    Images are not copied (place them under ``out_dir/images/<split>/``). Needs image sizes: a sample
    with width or height 0 is skipped and counted ("no image size"); crowd persons are skipped and
    counted ("crowd person"); persons without a box get the bounds of their labelled keypoints.
    Each file is written atomically.
    """
    out_dir = Path(out_dir)
    report = report if report is not None else LoadReport(strict=False)
    written = 0
    for s in samples:
        if not s.width or not s.height:
            report.note("no image size", str(s.image_path))
            continue
        lines = []
        for p in s.persons:
            if p.iscrowd:
                report.note("crowd person", str(s.image_path))
                continue
            line = _label_line(p, s.width, s.height)
            if line is None:
                report.note("person without box or keypoints", str(s.image_path))
                continue
            lines.append(line)
        stem = Path(s.image_path).stem if s.image_path is not None else str(s.image_id)
        write_text_atomic(out_dir / "labels" / (s.split or "") / f"{stem}.txt", "".join(lines))
        written += 1
    return written


def _label_line(p: Person, w: int, h: int) -> str | None:
    lab = p.visibility > 0
    if p.box is not None:
        x1, y1, x2, y2 = (float(v) for v in p.box)
    elif lab.any():
        (x1, y1), (x2, y2) = p.keypoints[lab].min(0), p.keypoints[lab].max(0)
    else:
        return None
    vals = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
    for (x, y), v in zip(p.keypoints.tolist(), p.visibility.tolist(), strict=True):
        vals += [x / w, y / h, v] if v > 0 else [0.0, 0.0, 0]
    return "0 " + " ".join(f"{v:.6f}" for v in vals) + "\n"
