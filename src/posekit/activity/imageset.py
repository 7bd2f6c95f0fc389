"""Labelled image folders for activity recognition: ``images:DIR`` with a labels CSV, or a folder per class.

Two layouts:

- ``images:DIR`` + ``labels.csv``: a CSV with a header holding ``name`` (file name relative to DIR) and
  ``class`` (the class name; the mpii-sports layout also has ``label``, the class index, which is not needed).
- ``DIR`` with one sub-folder per class (``DIR/tennis/*.jpg``): the folder name is the class.

Bad input is listed, skipped and counted, never fatal for the batch: images in DIR that the labels file
does not name (``images without a label``), labels naming a missing file (``labels without an image``),
duplicate label rows (the first one is kept), rows with an empty class. ``classes`` restricts the class
set: a label outside it raises PosekitError naming the class and the fix (an unknown class is a typo more
often than new data).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.images import IMAGE_SUFFIXES

MAX_LISTED = 20  # bad-input names kept in the report per kind (all are counted)


@dataclass
class ImageSet:
    """Labelled images: paths (N,), class names (N,), the sorted class list, and the bad-input accounting.

    skipped: kind -> the first ``MAX_LISTED`` names of that kind; counts: kind -> how many (all of them).
    """

    paths: list[Path]
    labels: NDArray[np.str_]
    classes: tuple[str, ...]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def y(self) -> NDArray[np.int64]:
        """(N,) class indices into ``classes``."""
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[c] for c in self.labels], dtype=np.int64)

    def report(self) -> dict:
        """Counts and the listed names of every kind of skipped input (JSON-ready)."""
        return {"images": len(self), "classes": len(self.classes), "counts": dict(self.counts),
                "skipped": {k: list(v) for k, v in self.skipped.items()}}


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _note(skipped: dict[str, list[str]], counts: dict[str, int], kind: str, name: str) -> None:
    counts[kind] = counts.get(kind, 0) + 1
    if len(skipped.setdefault(kind, [])) < MAX_LISTED:
        skipped[kind].append(name)


def parse_images_spec(data: str) -> Path:
    """``images:DIR`` or a plain folder -> the folder, or PosekitError naming the input and the fix."""
    folder = Path(data[len("images:"):] if data.startswith("images:") else data)
    if not folder.is_dir():
        raise PosekitError(f"{data}: no such image folder; pass --data images:DIR (a folder of images)")
    return folder


def load_image_set(data: str, labels_csv: str | Path | None = None,
                   classes: tuple[str, ...] | None = None) -> ImageSet:
    """The labelled images of ``data`` (module docstring): with ``labels_csv`` the CSV layout, else a folder
    per class. ``classes``: the allowed class names (None: whatever the labels hold)."""
    folder = parse_images_spec(data)
    skipped: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    if labels_csv is not None:
        pairs = _from_csv(folder, Path(labels_csv), skipped, counts)
    else:
        pairs = _from_class_folders(folder, skipped, counts)
    if not pairs:
        raise PosekitError(f"{data}: no labelled image found; pass --labels labels.csv (name,class columns) "
                           "or use a folder with one sub-folder per class")
    found = sorted({c for _, c in pairs})
    if classes is not None:
        unknown = [c for c in found if c not in classes]
        if unknown:
            raise PosekitError(f"{labels_csv or data}: unknown class {unknown[0]!r} (known: "
                               f"{', '.join(classes)}); fix the label or train a model on these classes")
        found = list(classes)
    if len(found) < 2 and classes is None:
        raise PosekitError(f"{data}: only one class ({found[0]!r}); activity models need at least two")
    pairs.sort(key=lambda p: p[0].name)
    return ImageSet([p for p, _ in pairs], np.array([c for _, c in pairs], dtype=str), tuple(found),
                    skipped, counts)


def _from_csv(folder: Path, labels_csv: Path, skipped: dict[str, list[str]],
              counts: dict[str, int]) -> list[tuple[Path, str]]:
    try:
        with labels_csv.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise PosekitError(f"{labels_csv}: cannot read the labels file ({err}); pass a CSV with "
                           "name,class columns") from None
    if not rows or not {"name", "class"} <= set(rows[0]):
        raise PosekitError(f"{labels_csv}: the labels file needs a header with 'name' and 'class' columns")
    on_disk = {p.name: p for p in folder.iterdir() if _is_image(p)}
    pairs, seen = [], set()
    for row in rows:
        name, cls = (row.get("name") or "").strip(), (row.get("class") or "").strip()
        if name in seen:
            _note(skipped, counts, "duplicate label rows", name)
        elif not cls:
            _note(skipped, counts, "labels without a class", name)
        elif name not in on_disk:
            _note(skipped, counts, "labels without an image", name)
        else:
            pairs.append((on_disk[name], cls))
        seen.add(name)
    for name in sorted(set(on_disk) - seen):
        _note(skipped, counts, "images without a label", name)
    return pairs


def _from_class_folders(folder: Path, skipped: dict[str, list[str]],
                        counts: dict[str, int]) -> list[tuple[Path, str]]:
    pairs = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            pairs += [(p, entry.name) for p in sorted(entry.iterdir()) if _is_image(p)]
        elif _is_image(entry):
            _note(skipped, counts, "images without a label", entry.name)
    return pairs
