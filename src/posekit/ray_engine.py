"""Batch inference on a Ray cluster (Ray Data): the same models, options and outputs as the local engine.

``PoseEstimator`` is the whole engine on the workers: a callable class for ``ray.data.Dataset.map_batches``
that loads the pipeline once per actor (one onnxruntime session, threads = the actor's CPUs) and maps a batch
of paths (or of images the read tasks decoded) to poses through the same predict path as the local engine.
``estimate_ray`` is the driver: shards of the input list, one JSONL per finished shard plus ``manifest.json``
(a rerun into the same folder skips finished shards), then the local engine's outputs (one JSON per image, or
one COCO ``results.json``). Ray is imported only here: ``pip install 'posekit[ray]'``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.atomic import write_atomic
from posekit.errors import PosekitError

INSTALL = "pip install 'posekit[ray]'"
# The pipeline flags of `posekit estimate` and their defaults (`load_pipeline` reads them).
OPTION_DEFAULTS: dict[str, Any] = {
    "model": None, "mode": "whole", "detector": "movenet-multipose", "margin": 0.25, "min_score": 0.25,
    "precision": "fp32", "calibration": None, "resolution": None, "output_stride": None, "max_poses": None,
    "nms_radius": None, "min_part_score": None,
}


def require_ray():
    """The ``ray`` module, or a PosekitError with the install command."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PosekitError(f"--engine ray needs Ray, which is not installed; install it: {INSTALL}") from None
    return ray


def load_options(options: dict[str, Any], threads: int | None):
    """The pipeline ``options`` (the CLI's flag names, see OPTION_DEFAULTS) name, as the CLI loads it."""
    from posekit.cli.estimate import load_pipeline

    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise PosekitError(f"PoseEstimator: unknown option(s) {', '.join(unknown)}; "
                           f"use {', '.join(OPTION_DEFAULTS)}")
    return load_pipeline(argparse.Namespace(**{**OPTION_DEFAULTS, **options}), threads)


def _assigned_cpus() -> int | None:
    """The CPUs Ray gave this actor (None outside Ray: onnxruntime then takes all cores)."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # not in a Ray worker
        return None
    return max(1, int(cpus)) if cpus else None


def is_uri(path: str) -> bool:
    return "://" in str(path)


def find_inputs(inputs: list[str]) -> list[str]:
    """`find_images` for local paths; for URIs (s3://, gs://, hdfs://, file://: what pyarrow's filesystems
    read, where the credentials exist) the file itself, or the images under a folder, sorted."""
    from posekit.images import IMAGE_SUFFIXES, find_images

    found: list[str] = []
    for item in map(str, inputs):
        if not is_uri(item):
            found.extend(map(str, find_images([item])))
            continue
        import pyarrow.fs as pafs

        scheme = item.split("://", 1)[0]
        try:
            fs, root = pafs.FileSystem.from_uri(item)
            info = fs.get_file_info(root)
            if info.type == pafs.FileType.Directory:
                infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
                names = sorted(i.path for i in infos if i.type == pafs.FileType.File
                               and Path(i.path).suffix.lower() in IMAGE_SUFFIXES)
                found.extend(f"{scheme}://{n}" for n in names)
            else:
                found.append(item)
        except (OSError, ValueError) as err:
            raise PosekitError(f"{item}: cannot list ({err}); check the URI and the credentials") from None
    return found


def read_uri(uri: str, min_side: int | None = None):
    """`read_image` for a URI pyarrow's filesystems read; errors name the URI."""
    import pyarrow.fs as pafs

    from posekit.images import decode_image

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        with fs.open_input_file(path) as f:
            data = f.read()
    except (OSError, ValueError) as err:
        raise PosekitError(f"{uri}: cannot read ({err}); check the URI and the credentials") from None
    return decode_image(data, min_side, label=uri)


def decode_batch(batch: dict[str, np.ndarray], min_side: int | None) -> dict[str, np.ndarray]:
    """Ray Data read-side step: decode each ``path`` as the local engine does (``read_image`` at the model's
    size, or full resolution for overlays). Adds ``image`` ((H, W, 3) uint8 each; (0, 0, 3) for a bad
    file), ``scale`` (original pixels per array pixel) and ``error`` ('' or the file's one-line error)."""
    from posekit.images import read_image

    images, scales, errors = [], [], []
    for path in batch["path"]:
        try:
            image = read_uri(str(path), min_side) if is_uri(path) else read_image(str(path), min_side)
        except PosekitError as err:
            images.append(np.zeros((0, 0, 3), np.uint8))
            scales.append(1.0)
            errors.append(str(err))
            continue
        images.append(image.rgb)
        scales.append(image.scale)
        errors.append("")
    ragged = np.empty(len(images), dtype=object)
    ragged[:] = images
    return {**batch, "image": ragged, "scale": np.asarray(scales, np.float64), "error": np.asarray(errors)}


class PoseEstimator:
    """Poses for a Ray Data batch; give the class itself to ``map_batches``::

        ds.map_batches(PoseEstimator, fn_constructor_kwargs={"model": "movenet-thunder"},
                       compute=ray.data.ActorPoolStrategy(size=4), num_cpus=2, batch_size=16,
                       batch_format="numpy")

    Batch in: ``path`` (str: a file, or a URI pyarrow's filesystems read), and where the read tasks decoded
    (``decode_batch``) ``image``, ``scale``, ``error``. Batch out: ``path``, ``poses`` (PoseNet JSON text,
    original-image pixels, as the local engine writes), ``people`` (int), ``error`` ('' or the bad file's
    one-line error: the batch goes on) and the other input columns except ``image``. ``options`` are
    `posekit estimate`'s pipeline flags (model, mode, min_score, precision, ...); ``threads`` defaults to
    the actor's CPUs. ``overlay_dir``: write each image's overlay PNG there, named by the ``stem`` column (or
    the file stem); ``full_resolution``: decode at full size (the local engine does so when it draws
    overlays, so poses match it exactly); ``coco``: add a ``coco`` column (COCO keypoint results JSON text,
    image id from the file stem).
    """

    def __init__(self, threads: int | None = None, overlay_dir: str | None = None,
                 full_resolution: bool | None = None, coco: bool = False, **options: Any) -> None:
        self.model = load_options(options, threads or _assigned_cpus())
        self.coco = coco
        self.overlay_dir = Path(overlay_dir) if overlay_dir else None
        self.full_resolution = bool(overlay_dir) if full_resolution is None else full_resolution

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from posekit.estimate import iter_predictions

        paths = [str(p) for p in batch["path"]]
        if "image" in batch:
            results = [self._predict_array(rgb, float(s), e)
                       for rgb, s, e in zip(batch["image"], batch["scale"], batch["error"], strict=True)]
        elif any(is_uri(p) for p in paths):
            results = [self._predict_uri(p) for p in paths]
        else:
            results = [(image, poses) for _, image, poses in
                       iter_predictions(self.model, [Path(p) for p in paths], self.full_resolution)]
        stems = batch["stem"] if "stem" in batch else [Path(p).stem for p in paths]
        from posekit.formats import coco_image_id, to_coco_results

        out_poses, people, errors, coco = [], [], [], []
        for (image, poses), stem, path in zip(results, stems, paths, strict=True):
            if isinstance(image, (PosekitError, str)):
                out_poses.append("[]")
                people.append(0)
                errors.append(str(image))
                coco.append("[]")
                continue
            if self.coco:
                coco.append(json.dumps(to_coco_results(poses, coco_image_id(Path(path).stem))))
            if self.overlay_dir is not None:
                from posekit.render import draw_poses, save_png

                overlay = draw_poses(image.rgb, poses.scaled(1 / image.scale))
                save_png(overlay, self.overlay_dir / f"{stem}.png")
            out_poses.append(json.dumps(poses.to_posenet()))
            people.append(len(poses))
            errors.append("")
        rest = {k: v for k, v in batch.items() if k not in ("image", "scale", "error")}
        out = {**rest, "poses": np.asarray(out_poses, dtype=object), "people": np.asarray(people, np.int64),
               "error": np.asarray(errors, dtype=object)}
        if self.coco:
            out["coco"] = np.asarray(coco, dtype=object)
        return out

    def _predict_uri(self, uri: str):
        try:
            image = read_uri(uri, None if self.full_resolution else self.model.spec.input_size)
        except PosekitError as err:
            return err, None
        return image, self.model.predict(image.rgb).scaled(image.scale)

    def _predict_array(self, rgb: np.ndarray, scale: float, error: str):
        from posekit.images import Image

        if error:
            return error, None
        image = Image(np.ascontiguousarray(rgb, dtype=np.uint8), scale, (0, 0))
        return image, self.model.predict(image.rgb).scaled(scale)


@dataclass
class RayResult:
    images: int = 0
    processed: int = 0  # images run in this call (the rest were in finished shards)
    shards: int = 0
    skipped_shards: int = 0
    people: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _inputs_key(paths: list[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode()).hexdigest()


def _check_manifest(out_dir: Path, job: dict[str, Any]) -> None:
    """A rerun must be the same job (inputs and options) to reuse the finished shards."""
    path = out_dir / "manifest.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        raise PosekitError(f"{path}: unreadable manifest; delete it and shards/, or choose another --out"
                           ) from None
    if old.get("job") != job:
        raise PosekitError(f"{out_dir}: holds results of another job (different inputs or options); "
                           "choose another --out folder or delete it")


def _write_manifest(out_dir: Path, job: dict[str, Any], shards: list[dict[str, Any]]) -> None:
    text = json.dumps({"job": job, "shards": shards}, indent=1) + "\n"
    write_atomic(out_dir / "manifest.json", text.encode())


def _read_shard(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def estimate_ray(paths: list[str | Path], out_dir: str | Path, options: dict[str, Any] | None = None,
                 fmt: str = "posenet", render: bool = True, address: str | None = None,
                 actors: int | None = None, cpus_per_actor: int = 1, shard_size: int = 1000,
                 batch_size: int = 16, decode: str = "actor", progress: bool = True,
                 estimator: Callable = PoseEstimator, runtime_env: dict | None = None) -> RayResult:
    """Run the pipeline ``options`` name over ``paths`` with Ray Data; write what `estimate_batch` writes.

    ``out_dir/shards/shard-NNNNN.jsonl`` (one line per image: path, poses, people, error) is written,
    atomically, when all of its images are back; ``manifest.json`` lists the finished shards. A rerun with the
    same inputs and options skips them. ``decode``: "actor" (default) sends paths and decodes in the actor,
    overlapped with inference as the local engine does; "read" decodes in Ray Data read tasks and sends arrays
    (measured slower on LSP Extended: decoding at the model's size costs under 1 ms, moving arrays more).
    ``address``: None starts a local Ray runtime (unless one is running), else "auto" or "ray://host:port".
    ``actors``: default the cluster's CPUs // ``cpus_per_actor``. ``estimator``: PoseEstimator or a subclass.
    """
    from posekit.estimate import _output_stems

    if decode not in ("read", "actor"):
        raise PosekitError(f"decode={decode!r}: use 'read' or 'actor'")
    if shard_size < 1 or cpus_per_actor < 1 or (actors is not None and actors < 1):
        raise PosekitError("--actors, --cpus-per-actor and --shard-size must be at least 1")
    options = dict(options or {})
    probe = load_options(options, 1)  # bad model names and options fail here, before Ray starts
    min_side = None if render else probe.spec.input_size
    del probe
    out_dir = Path(out_dir)
    paths = [str(p) for p in paths]
    stems = _output_stems([Path(p) for p in paths])
    job = {"inputs": len(paths), "inputs_sha256": _inputs_key(paths), "options": options, "format": fmt,
           "render": render, "shard_size": shard_size}
    _check_manifest(out_dir, job)
    if not (out_dir / "manifest.json").is_file():  # claim the folder before any shard exists
        _write_manifest(out_dir, job, [])
    shard_dir = out_dir / "shards"
    n_shards = -(-len(paths) // shard_size)
    names = [f"shard-{i:05d}.jsonl" for i in range(n_shards)]
    pending = [i for i in range(n_shards) if not (shard_dir / names[i]).is_file()]
    result = RayResult(images=len(paths), shards=n_shards, skipped_shards=n_shards - len(pending))
    if pending:
        _run_shards(paths, stems, pending, names, out_dir, job, options, fmt, render, min_side, address,
                    actors, cpus_per_actor, shard_size, batch_size, decode, progress, estimator, runtime_env,
                    result)
    return _finish(out_dir, paths, stems, names, job, fmt, render, result)


def _run_shards(paths, stems, pending, names, out_dir, job, options, fmt, render, min_side, address, actors,
                cpus_per_actor, shard_size, batch_size, decode, progress, estimator, runtime_env,
                result: RayResult) -> None:
    from tqdm import tqdm

    ray = require_ray()
    import logging
    import warnings

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own bar reports progress
    warnings.filterwarnings("ignore", module="ray.data")
    if not ray.is_initialized():
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                 logging_level="ERROR")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours below counts images
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
    rows = [{"path": paths[i], "stem": stems[i], "shard": s, "index": i}
            for s in pending for i in range(s * shard_size, min((s + 1) * shard_size, len(paths)))]
    expected = {s: min((s + 1) * shard_size, len(paths)) - s * shard_size for s in pending}
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // batch_size, 1000)))
    if decode == "read":
        # num_cpus=0: decoding at the model's size is a small part of the work and the actors hold the
        # CPUs; the pool is capped (unbounded, Ray started 50+ worker processes on 2 cores).
        ds = ds.map_batches(decode_batch, fn_kwargs={"min_side": min_side}, batch_size=batch_size,
                            batch_format="numpy", num_cpus=0, compute=ray.data.TaskPoolStrategy(size=actors))
    kwargs = {**options, "threads": cpus_per_actor, "full_resolution": render, "coco": fmt == "coco",
              "overlay_dir": str(out_dir.resolve()) if render else None}
    ds = ds.map_batches(estimator, fn_constructor_kwargs=kwargs,
                        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor,
                        batch_size=batch_size, batch_format="numpy")
    got: dict[int, dict[int, dict]] = {s: {} for s in pending}
    start = time.perf_counter()
    with tqdm(total=len(rows), desc="estimate (ray)", unit="img", disable=not progress, leave=False) as bar:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(batch["path"])):
                shard = int(batch["shard"][i])
                row = {"path": str(batch["path"][i]), "stem": str(batch["stem"][i]),
                       "poses": json.loads(batch["poses"][i]), "people": int(batch["people"][i]),
                       "error": str(batch["error"][i])}
                if fmt == "coco":
                    row["coco"] = json.loads(batch["coco"][i])
                index = int(batch["index"][i])
                if index not in got[shard]:  # a retried batch can not count twice
                    got[shard][index] = row
                    bar.update(1)
                    result.processed += 1
                if len(got[shard]) == expected[shard]:
                    _write_shard(out_dir, names[shard], got.pop(shard), fmt)
                    expected.pop(shard)
    result.seconds = time.perf_counter() - start
    if expected:
        raise PosekitError(f"{out_dir}: Ray returned no results for {sum(expected.values())} image(s) in "
                           f"{len(expected)} shard(s); run the same command again to finish them")


def _write_shard(out_dir: Path, name: str, rows: dict[int, dict], fmt: str) -> None:
    """The per-image JSONs first, then the shard file: a shard file on disk means its outputs are complete."""
    from posekit.formats import write_json

    ordered = [rows[i] for i in sorted(rows)]  # input order
    if fmt != "coco":
        for row in ordered:
            if not row["error"]:
                write_json(out_dir / f"{row['stem']}.json", row["poses"])
    text = "".join(json.dumps(row) + "\n" for row in ordered)
    write_atomic(out_dir / "shards" / name, text.encode())


def _finish(out_dir: Path, paths: list[str], stems: list[str], names: list[str], job: dict, fmt: str,
            render: bool, result: RayResult) -> RayResult:
    """Totals from all shard files, the manifest, and for --format coco the merged results.json."""
    from posekit.formats import write_json

    shards, coco = [], []
    for name in names:
        rows = _read_shard(out_dir / "shards" / name)
        failed = [(r["path"], r["error"]) for r in rows if r["error"]]
        people = sum(r["people"] for r in rows)
        shards.append({"name": name, "images": len(rows), "failed": len(failed), "people": people})
        result.failed.extend(failed)
        result.people += people
        for r in rows:
            if r["error"]:
                continue
            if fmt == "coco":
                coco.extend(r["coco"])
            else:
                result.written.append(out_dir / f"{r['stem']}.json")
            if render:
                result.written.append(out_dir / f"{r['stem']}.png")
    if fmt == "coco":
        write_json(out_dir / "results.json", coco)
        result.written.insert(0, out_dir / "results.json")
    _write_manifest(out_dir, job, shards)
    return result
