"""MPII Human Pose: the official .mat release, HRNet/mmpose JSON and the CSV export -> Samples.

Coordinates are kept as the files give them (MATLAB's 1-based pixels for MPII). Visibility:
.mat ``is_visible`` 1 -> 2 (visible), 0 -> 1 (labelled, occluded), empty -> 2 (labelled, occlusion not
annotated; counted as "is_visible empty"); JSON ``joints_vis`` 1 -> 2, 0 -> 0; CSV -1 -> 0, else 2 (the CSV
has no occlusion flag). Unlabelled keypoints get coordinates (0, 0).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from posekit.datasets.files import default_images_dir, image_size, read_json
from posekit.datasets.report import LoadReport
from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError
from posekit.skeletons import MPII16

K = MPII16.num_keypoints


def load_mpii(path: str | Path, images_dir: str | Path | None = None,
              report: LoadReport | None = None) -> list[Sample]:
    """Pick the MPII reader by suffix: .mat (official release), .json (HRNet/mmpose), .csv (export)."""
    suffix = Path(path).suffix.lower()
    readers = {".mat": load_mpii_mat, ".json": load_mpii_json, ".csv": load_mpii_csv}
    if suffix not in readers:
        raise PosekitError(f"{path}: MPII annotations must be .mat, .json or .csv, not {suffix or '(none)'}")
    return readers[suffix](path, images_dir=images_dir, report=report)


def _sample(image_path: Path, persons: list[Person], report: LoadReport, **kw: Any) -> Sample:
    size = image_size(image_path)
    if size is None:
        report.note("missing image file", str(image_path))
    w, h = size or (0, 0)
    return Sample(image_path, w, h, MPII16, persons, **kw)


# ---- HRNet / mmpose JSON: [{image, center, scale, joints (16 x 2), joints_vis (16)}, ...] -------------

def load_mpii_json(path: str | Path, images_dir: str | Path | None = None,
                   report: LoadReport | None = None) -> list[Sample]:
    """Samples from an HRNet-style MPII JSON list, persons grouped by image name."""
    path = Path(path)
    report = report if report is not None else LoadReport()
    data = read_json(path)
    if not isinstance(data, list):
        raise PosekitError(f"{path}: an MPII JSON is a list of {{image, center, scale, joints, joints_vis}}")
    root = Path(images_dir) if images_dir is not None else default_images_dir(path)
    by_image: dict[str, list[Person]] = {}
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        try:
            name = str(rec["image"])
            xy = np.asarray(rec["joints"], dtype=np.float64)
            vis = np.asarray(rec.get("joints_vis", np.ones(K)), dtype=np.float64).reshape(-1)
            center = np.asarray(rec["center"], dtype=np.float64) if "center" in rec else None
            scale = float(rec["scale"]) if "scale" in rec else None
        except (KeyError, TypeError, ValueError) as err:
            report.bad(f"{where}: missing or malformed field ({err}); needs image and joints")
            continue
        if xy.shape != (K, 2) or vis.shape != (K,):
            report.bad(f"{where} ({name}): joints {xy.shape}, joints_vis {vis.shape}; need ({K}, 2), ({K},)")
            continue
        if not np.isfinite(xy).all():
            report.bad(f"{where} ({name}): NaN or infinite joint coordinates; fix the record")
            continue
        v = np.where(vis > 0, 2, 0).astype(np.int8)
        by_image.setdefault(name, []).append(
            Person(np.where(v[:, None] > 0, xy, 0.0), v, center=center, scale=scale, extra={"record": i})
        )
    return [_sample(root / name, persons, report, image_id=name) for name, persons in by_image.items()]


# ---- CSV export: ID, NAME, <joint>_X, <joint>_Y x 16, Scale, Activity, Category ---------------------

# "right_ankle" -> "r ankle", "upper_neck" -> "upper neck" (the CSV header's spelling)
_CSV_JOINTS = [n.replace("right_", "r ").replace("left_", "l ").replace("_", " ") for n in MPII16.keypoints]


def load_mpii_csv(path: str | Path, images_dir: str | Path | None = None,
                  report: LoadReport | None = None) -> list[Sample]:
    """Samples from the MPII CSV export (one person per row; rows of the same image are grouped).

    Activity and category "NA" are kept as given (cleaning drops them); -1 marks a missing joint.
    """
    path = Path(path)
    report = report if report is not None else LoadReport()
    root = Path(images_dir) if images_dir is not None else default_images_dir(path)
    cols = [f"{j}_{a}" for j in _CSV_JOINTS for a in "XY"]
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as err:
        raise PosekitError(f"{path}: cannot open ({err.strerror}); check the path") from None
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in ["NAME", *cols] if c not in (reader.fieldnames or [])]
        if missing:
            raise PosekitError(f"{path}: not the MPII CSV export, missing columns {missing[:3]}")
        by_image: dict[str, list[Person]] = {}
        for row in reader:
            where = f"{path}: row ID {row.get('ID', reader.line_num)}"
            try:
                xy = np.array([float(row[c]) for c in cols]).reshape(K, 2)
                scale = float(row["Scale"]) if row.get("Scale") not in (None, "") else None
            except (TypeError, ValueError):
                report.bad(f"{where}: a joint or Scale value is not a number; fix the row")
                continue
            if not np.isfinite(xy).all():
                report.bad(f"{where}: NaN or infinite joint coordinates; fix the row")
                continue
            missing_joint = (xy == -1).all(axis=1)
            report.note("missing joint (-1)", None, int(missing_joint.sum()))
            v = np.where(missing_joint, 0, 2).astype(np.int8)
            by_image.setdefault(row["NAME"], []).append(Person(
                np.where(v[:, None] > 0, xy, 0.0), v, scale=scale, activity=row.get("Activity"),
                category=row.get("Category"), extra={"id": row.get("ID")},
            ))
    return [_sample(root / name, persons, report, image_id=name) for name, persons in by_image.items()]


# ---- official release: mpii_human_pose_v1_u12_1.mat ------------------------------------------------

def _items(x: Any) -> list[Any]:
    """A MATLAB value as a list: empty -> [], a single struct -> [it], an array -> its elements."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.reshape(-1)) if x.size else []
    return [x]


def _get(obj: Any, name: str) -> Any:
    """A struct field, None when absent or empty."""
    v = getattr(obj, name, None)
    if isinstance(v, np.ndarray) and v.size == 0:
        return None
    if isinstance(v, str) and not v.strip():
        return None
    return v


def _num(v: Any) -> float | None:
    """A MATLAB scalar that may be a number, a 1-element array, a string such as '1', or empty."""
    if v is None:
        return None
    if isinstance(v, np.ndarray):
        if v.size != 1:
            return None
        v = v.reshape(-1)[0]
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_mpii_mat(path: str | Path, images_dir: str | Path | None = None,
                  report: LoadReport | None = None) -> list[Sample]:
    """Samples from the official MPII release (``RELEASE`` struct), every image, train and test.

    split: 'train' / 'test' from img_train. Person.head_box from annorect x1, y1, x2, y2; center from
    objpos; activity / category / activity_id from act (an act_id of -1 means none). Persons whose
    annopoints are empty have all visibility 0 (test images; counted as "person without annopoints").
    Sample.extra["single_person"]: the 0-based indices of the persons in MPII's single-person subset.
    """
    import scipy.io

    path = Path(path)
    report = report if report is not None else LoadReport()
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except FileNotFoundError:
        raise PosekitError(f"{path}: no such file; check the path") from None
    except Exception as err:  # scipy raises MatReadError, ValueError, IndexError... on corrupt files
        msg = f"{path}: not a readable MATLAB v5 file ({err}); re-download the MPII release"
        raise PosekitError(msg) from None
    release = mat.get("RELEASE")
    if release is None or _get(release, "annolist") is None:
        raise PosekitError(f"{path}: no RELEASE.annolist; this is not mpii_human_pose_v1_u12_1.mat")
    root = Path(images_dir) if images_dir is not None else default_images_dir(path)
    annolist = _items(release.annolist)
    img_train = _items(_get(release, "img_train"))
    single = _items(_get(release, "single_person"))
    acts = _items(_get(release, "act"))
    from tqdm import tqdm

    samples = []
    for i, anno in enumerate(tqdm(annolist, desc="MPII images", unit="img", disable=None, leave=False)):
        image = _get(anno, "image")
        name = _get(image, "name") if image is not None else None
        if not isinstance(name, str):
            report.bad(f"{path}: annolist({i + 1}).image.name is missing; fix the record")
            continue
        act = acts[i] if i < len(acts) else None
        act_kw = _activity(act)
        persons = []
        for r, rect in enumerate(_items(_get(anno, "annorect"))):
            p = _mat_person(rect, f"{path}: annolist({i + 1}).annorect({r + 1})", report)
            if p is not None:
                p.activity, p.category, p.activity_id = act_kw
                persons.append(p)
        train = _num(img_train[i]) if i < len(img_train) else None
        split = None if train is None else ("train" if train == 1 else "test")
        sp = [int(v) - 1 for v in (_num(x) for x in _items(single[i] if i < len(single) else None))
              if v is not None]
        image_path = root / name
        if not os.path.exists(image_path):
            report.note("missing image file", str(image_path))
        size = image_size(image_path) if os.path.exists(image_path) else None
        w, h = size or (0, 0)
        samples.append(Sample(image_path, w, h, MPII16, persons, image_id=name, split=split,
                              extra={"index": i, "single_person": sp}))
    return samples


def _activity(act: Any) -> tuple[str | None, str | None, int | None]:
    if act is None:
        return None, None, None
    act_id = _num(_get(act, "act_id"))
    name, cat = _get(act, "act_name"), _get(act, "cat_name")
    return (name if isinstance(name, str) else None, cat if isinstance(cat, str) else None,
            None if act_id is None or act_id < 0 else int(act_id))


def _mat_person(rect: Any, where: str, report: LoadReport) -> Person | None:
    xy = np.zeros((K, 2), np.float64)
    vis = np.zeros(K, np.int8)
    points = _items(_get(_get(rect, "annopoints"), "point")) if _get(rect, "annopoints") is not None else []
    if not points:
        report.note("person without annopoints", where)
    for pt in points:
        jid, x, y = _num(_get(pt, "id")), _num(_get(pt, "x")), _num(_get(pt, "y"))
        if jid is None or not 0 <= jid < K or x is None or y is None:
            report.bad(f"{where}: a point lacks a valid id (0-{K - 1}), x or y; fix the record")
            return None
        if not (np.isfinite(x) and np.isfinite(y)):
            report.bad(f"{where}: NaN or infinite coordinates for joint {int(jid)}; fix the record")
            return None
        iv = _num(_get(pt, "is_visible"))
        if iv is None:
            report.note("is_visible empty", f"{where} joint {int(jid)}")
        xy[int(jid)] = (x, y)
        vis[int(jid)] = 1 if iv == 0 else 2
    head = [_num(_get(rect, n)) for n in ("x1", "y1", "x2", "y2")]
    objpos = _get(rect, "objpos")
    center = None
    if objpos is not None:
        cx, cy = _num(_get(objpos, "x")), _num(_get(objpos, "y"))
        center = None if cx is None or cy is None else (cx, cy)
    return Person(xy, vis, head_box=None if None in head else head, center=center,
                  scale=_num(_get(rect, "scale")))
