"""Estimating poses over files: decode, predict, map to original pixels, write outputs."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from posekit.errors import PosekitError
from posekit.formats import coco_image_id, to_coco_results, write_json
from posekit.images import Image, read_image
from posekit.render import draw_poses, save_png
from posekit.types import Poses


def predict_file(model, path: str | Path, full_resolution: bool = False) -> tuple[Image, Poses]:
    """Read ``path`` and return the image with its poses in original-image pixels.

    The image is decoded only as large as the model needs (JPEG DCT scaling) unless ``full_resolution``
    (for drawing overlays on the original).
    """
    image = read_image(path, None if full_resolution else model.spec.input_size)
    return image, model.predict(image.rgb).scaled(image.scale)


def _staged(model) -> bool:
    """Single-stage families split predict into preprocess -> infer -> postprocess."""
    return all(hasattr(model, name) for name in ("preprocess", "infer", "postprocess"))


def _prepare(model, path: Path, min_side: int | None, staged: bool):
    """Read (and, for single-stage models, preprocess) one file; a bad file gives its PosekitError."""
    try:
        image = read_image(path, min_side)
    except PosekitError as err:
        return err, None
    return image, (model.preprocess(image.rgb) if staged else None)


def iter_predictions(model, paths: list[Path], full_resolution: bool = False
                     ) -> Iterator[tuple[Path, Image | PosekitError, Poses | None]]:
    """(path, image or the error that file gave, poses in original pixels) for each path, in order.

    The next file is read, decoded and preprocessed in a background thread while the model runs on the
    current one (PIL, numpy and onnxruntime release the GIL): on two cores decoding costs little throughput.
    """
    min_side = None if full_resolution else model.spec.input_size
    staged = _staged(model)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_prepare, model, paths[0], min_side, staged) if paths else None
        for i, path in enumerate(paths):
            image, prepared = pending.result()
            if i + 1 < len(paths):
                pending = pool.submit(_prepare, model, paths[i + 1], min_side, staged)
            if isinstance(image, PosekitError):
                yield path, image, None
                continue
            if staged:
                poses = model.postprocess(model.infer(prepared[0]), prepared[1])
            else:
                poses = model.predict(image.rgb)
            yield path, image, poses.scaled(image.scale)


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    people: int = 0


def _output_stems(paths: list[Path]) -> list[str]:
    """Unique output names: the file stem, with the parent folder's name prefixed where stems repeat."""
    stems = [p.stem for p in paths]
    out = []
    for p, stem in zip(paths, stems, strict=True):
        out.append(stem if stems.count(stem) == 1 else f"{p.parent.name}_{stem}")
    seen: dict[str, int] = {}
    for i, s in enumerate(out):
        if s in seen:
            seen[s] += 1
            out[i] = f"{s}_{seen[s]}"
        else:
            seen[s] = 0
    return out


def estimate_batch(model, paths: list[Path], out_dir: Path, fmt: str = "posenet", render: bool = True,
                   progress: bool = True) -> BatchResult:
    """Run ``model`` over ``paths``; a bad file is recorded in ``failed`` and the batch goes on."""
    from tqdm import tqdm

    result = BatchResult()
    coco: list[dict] = []
    stems = dict(zip(paths, _output_stems(paths), strict=True))
    for path, image, poses in tqdm(iter_predictions(model, paths, full_resolution=render), total=len(paths),
                                   desc="estimate", unit="img", disable=not progress or len(paths) < 2,
                                   leave=False):
        if isinstance(image, PosekitError):
            result.failed.append((path, str(image)))
            continue
        stem = stems[path]
        result.people += len(poses)
        if fmt == "coco":
            coco.extend(to_coco_results(poses, coco_image_id(path.stem)))
        else:
            target = out_dir / f"{stem}.json"
            write_json(target, poses.to_posenet())
            result.written.append(target)
        if render:
            target = out_dir / f"{stem}.png"
            save_png(draw_poses(image.rgb, poses.scaled(1 / image.scale)), target)
            result.written.append(target)
    if fmt == "coco":
        target = out_dir / "results.json"
        write_json(target, coco)
        result.written.insert(0, target)
    return result
