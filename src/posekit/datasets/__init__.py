"""Dataset loaders -> one Sample type, cleaning, splits.

``load_dataset("KIND:PATH")`` with KIND in coco, mpii (auto .mat / .json / .csv), mpii-mat, mpii-json,
mpii-csv, lsp, lspet, yolo.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from posekit.datasets.coco import as_coco, load_coco
from posekit.datasets.lsp import load_lsp
from posekit.datasets.mpii import load_mpii, load_mpii_csv, load_mpii_json, load_mpii_mat
from posekit.datasets.report import LoadReport
from posekit.datasets.sample import Person, Sample
from posekit.datasets.yolo import load_yolo, write_yolo
from posekit.errors import PosekitError

_LOADERS: dict[str, Callable[..., list[Sample]]] = {
    "coco": lambda p, images_dir, report: load_coco(p, images_dir=images_dir, report=report),
    "mpii": lambda p, images_dir, report: load_mpii(p, images_dir=images_dir, report=report),
    "mpii-mat": lambda p, images_dir, report: load_mpii_mat(p, images_dir=images_dir, report=report),
    "mpii-json": lambda p, images_dir, report: load_mpii_json(p, images_dir=images_dir, report=report),
    "mpii-csv": lambda p, images_dir, report: load_mpii_csv(p, images_dir=images_dir, report=report),
    "lsp": lambda p, images_dir, report: load_lsp(p, "lsp", images_dir=images_dir, report=report),
    "lspet": lambda p, images_dir, report: load_lsp(p, "lspet", images_dir=images_dir, report=report),
    "yolo": lambda p, images_dir, report: load_yolo(p, report=report),
}
DATASET_KINDS = tuple(_LOADERS)


def parse_spec(spec: str) -> tuple[str, Path]:
    """``"KIND:PATH"`` -> (kind, path); an unknown kind raises PosekitError listing the known ones."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in _LOADERS or not path:
        raise PosekitError(
            f"dataset {spec!r}: write it as KIND:PATH with KIND one of {', '.join(DATASET_KINDS)} "
            "(e.g. coco:annotations/person_keypoints_val2017.json)"
        )
    return kind, Path(path)


def load_dataset(spec: str, images_dir: str | Path | None = None,
                 report: LoadReport | None = None) -> list[Sample]:
    """Samples of the dataset named by ``spec`` (``KIND:PATH``, see module docstring).

    images_dir overrides where a format's images are looked for (ignored by yolo, whose images sit
    beside its labels). Issues (missing images, count mismatches) are counted in ``report``.
    """
    kind, path = parse_spec(spec)
    if not path.exists():
        raise PosekitError(f"dataset {spec!r}: {path} does not exist; check the path")
    return _LOADERS[kind](path, images_dir, report if report is not None else LoadReport())


__all__ = [
    "DATASET_KINDS", "LoadReport", "Person", "Sample", "as_coco", "load_coco", "load_dataset", "load_lsp",
    "load_mpii", "load_mpii_csv", "load_mpii_json", "load_mpii_mat", "load_yolo", "parse_spec", "write_yolo",
]
