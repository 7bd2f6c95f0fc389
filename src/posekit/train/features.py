"""Cached trunk features: with the pretrained trunk frozen, run it once per training view and train only the
heads above it (``posekit train --init MODEL --cache-features K``).

A view is one crop of one person: view 0 the plain crop (the box enlarged by the family's ``crop_enlarge``,
as ``posekit eval run --gt-boxes`` crops), views 1..K-1 random ones from the run's augmentation (flip with
left/right renaming, rotation, scale, photometric), drawn with `posekit.train.generator.PersonDataset` so a
view depends only on (seed, view, person). The trunk is the init graph cut at the family's ``cut`` tensor
(`trunk_graph`), run in onnxruntime with one thread; it may end in several tensors (``--cache-at frozen``:
what the frozen early layers hand to the rest, `posekit.train.pretrained.frozen_outputs`), cached flat side
by side.

On disk, a folder named by the cache key (sha256 of the init graph, the cut, the persons' images and
keypoints, the crop size, K, the augmentation and the seed): ``features.npy`` (N * K, h, w, C) float16
(view-major: row ``v * N + i`` is view v of person i), ``keypoints.npy`` (N * K, J, 2) float32 in input
pixels, ``labelled.npy`` (N * K, J) bool, ``key.json``. It is written to ``<key>.partial`` and renamed when
complete, so an interrupted build leaves no folder that looks finished; a later run with the same key reuses
it, one with another key builds its own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from tqdm import tqdm

from posekit.datasets.sample import Sample
from posekit.errors import PosekitError
from posekit.train.augment import NO_AUGMENT, AugmentConfig
from posekit.train.targets import HeatmapCodec

FORMAT = "posekit-features-1"


def trunk_graph(proto: onnx.ModelProto, cut: str) -> onnx.ModelProto:
    """``proto`` cut after tensor ``cut`` (several: comma-separated names): the nodes they need, the graph's
    input, the cut tensors as outputs (float32, shapes left to the runtime). The weights are the proto's own
    (a fine-tuned init's too)."""
    from posekit.convert.optimize import needed_nodes

    cuts = cut.split(",")
    for name in cuts:
        if not any(name in n.output for n in proto.graph.node):
            from posekit.errors import PosekitError

            raise PosekitError(f"the graph has no tensor {name!r} to cut the trunk at")
    nodes = needed_nodes(proto.graph, cuts)
    used = {name for n in nodes for name in n.input}
    inits = [t for t in proto.graph.initializer if t.name in used]
    graph = onnx.helper.make_graph(nodes, "trunk", list(proto.graph.input),
                                   [onnx.helper.make_tensor_value_info(c, onnx.TensorProto.FLOAT, None)
                                    for c in cuts], inits)
    return onnx.helper.make_model(graph, opset_imports=proto.opset_import, ir_version=proto.ir_version)


def trunk_session(proto: onnx.ModelProto, cut: str):
    """(session, its input, whether it takes int32 pixels): ``trunk_graph(proto, cut)`` in onnxruntime, one
    thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(trunk_graph(proto, cut).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    return session, feed, feed.type == "tensor(int32)"


def centred_augment(augment: AugmentConfig | None, enlarge: float) -> AugmentConfig:
    """``augment`` with its box-enlargement range rescaled to centre on ``enlarge`` (the runtime's crop);
    None: no augmentation, the plain crop at ``enlarge``."""
    if augment is None:
        return replace(NO_AUGMENT, enlarge=(enlarge, enlarge))
    lo, hi = augment.enlarge
    mid = (lo + hi) / 2
    return replace(augment, enlarge=(lo * enlarge / mid, hi * enlarge / mid))


@dataclass(frozen=True)
class CacheSpec:
    """What a cache depends on (its key): init graph sha256, cut tensor, crop (input) size, views per person,
    augmentation, seed, crop enlargement, normalisation, and a digest of the persons' images and keypoints."""

    init_sha256: str
    cut: str
    input_size: tuple[int, int]
    views: int
    augment: dict
    seed: int
    enlarge: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    data: str

    def key(self) -> str:
        text = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def data_digest(samples: Sequence[Sample]) -> str:
    """sha256 of the persons' image paths, keypoints and labels (what the views are cut from)."""
    h = hashlib.sha256()
    for s in samples:
        h.update(str(s.image_path).encode())
        for p in s.persons:
            h.update(np.ascontiguousarray(p.keypoints, np.float32).tobytes())
            h.update(np.ascontiguousarray(p.labelled, bool).tobytes())
    return h.hexdigest()


@dataclass
class FeatureCache:
    """features (N * K, h, w, C) float16 (a read-only memmap), keypoints (N * K, J, 2) float32 input px,
    labelled (N * K, J) bool; persons N, views K; row v * N + i = view v of person i. With several cut
    tensors (a comma-separated ``CacheSpec.cut``), features are (N * K, D): each row the tensors flattened
    and concatenated, ``shapes`` their shapes (without the batch axis); None for one tensor."""

    features: NDArray[np.float16]
    keypoints: NDArray[np.float32]
    labelled: NDArray[np.bool_]
    persons: int
    views: int
    path: Path
    shapes: list[tuple[int, ...]] | None = None

    @classmethod
    def open(cls, path: Path) -> FeatureCache:
        meta = json.loads((path / "key.json").read_text())
        shapes = [tuple(s) for s in meta["shapes"]] if meta.get("shapes") else None
        return cls(np.load(path / "features.npy", mmap_mode="r"), np.load(path / "keypoints.npy"),
                   np.load(path / "labelled.npy"), meta["persons"], meta["views"], path, shapes)


def _trunk_input(image: NDArray[np.float32], integer: bool) -> NDArray:
    """(3, H, W) normalised crop -> (1, H, W, 3) the graph's input (MoveNet's int32 input: rounded pixels)."""
    nhwc = image.transpose(1, 2, 0)[None]
    return np.rint(nhwc).astype(np.int32) if integer else np.ascontiguousarray(nhwc, np.float32)


# What forked cache-building workers read (set by `build_cache` before its pool starts; fork shares it).
_JOB: dict = {}


def _trunk_fn(proto: onnx.ModelProto | None, cut: str) -> Callable[[NDArray[np.float32]], list[NDArray]]:
    """(3, H, W) normalised crop -> [(1, ...) features]: the trunk's output(s), or [the NHWC crop itself]."""
    if proto is None:
        return lambda image: [image.transpose(1, 2, 0)[None]]
    session, feed, integer = trunk_session(proto, cut)
    return lambda image: session.run(None, {feed.name: _trunk_input(image, integer)})


def _worker_start() -> None:
    """In a forked worker: drop the parent's trunk session (sessions are not shared across a fork)."""
    _JOB.pop("trunk", None)


def _views(rows: Sequence[tuple[int, int]]) -> list[tuple]:
    """(view, person) pairs -> (view, person, features, keypoints, labelled); None arrays: unreadable."""
    if "trunk" not in _JOB:  # this process's own onnxruntime session, made on its first views
        _JOB["trunk"] = _trunk_fn(_JOB["proto"], _JOB["cut"])
    out = []
    for v, i in rows:
        views = _JOB["plain"] if v == 0 else _JOB["random"]
        try:
            item = views.load(v, i)
        except Exception:
            out.append((v, i, None, None, None))
            continue
        outs = _JOB["trunk"](item["image"])
        _JOB.setdefault("shapes", [o.shape[1:] for o in outs])  # the first view's, in the parent process
        feats = outs[0][0] if len(outs) == 1 else np.concatenate([o.reshape(-1) for o in outs])
        out.append((v, i, feats.astype(np.float16), item["keypoints"], item["labelled"]))
    return out


def build_cache(
    root: Path,
    spec: CacheSpec,
    proto: onnx.ModelProto | None,
    samples: Sequence[Sample],
    augment: AugmentConfig | None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    workers: int = 0,
) -> FeatureCache:
    """The cache for ``spec`` under ``root`` (reused when complete, else built; see the module docstring).
    proto: the graph whose trunk (up to ``spec.cut``) makes the features; None: the features are the
    normalised crops themselves (NHWC, float16: exact for MoveNet's 0..255 pixels), for training the whole
    network. augment: the run's augmentation (views 1..K-1; None: every view is the plain crop).
    workers: processes cutting the views (each with its own one-thread trunk session); 0 or 1: this one.
    A view depends only on (seed, view, person), so the cache is the same for any number of workers."""

    import multiprocessing

    from posekit.train.generator import PersonDataset

    final = root / spec.key()
    if (final / "key.json").is_file():
        cache = FeatureCache.open(final)
        log(f"features: reusing {final} ({cache.persons} persons x {cache.views} views)")
        return cache
    codec = HeatmapCodec(spec.input_size, (1, 1), 1.0)  # the views' heatmaps are not used: 1 x 1
    plain = PersonDataset(samples, codec, centred_augment(None, spec.enlarge), spec.seed, spec.mean,
                          spec.std)
    random_views = PersonDataset(samples, codec, centred_augment(augment, spec.enlarge), spec.seed,
                                 spec.mean, spec.std) if augment is not None else plain
    n, k = len(plain), spec.views
    partial = root / f"{spec.key()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _JOB.clear()
    _JOB.update(plain=plain, random=random_views, proto=proto, cut=spec.cut)
    first = _views([(0, 0)])[0][2]
    if first is None:
        first = _views([(0, 1)])[0][2] if n > 1 else None
    if first is None:
        _JOB.clear()
        raise PosekitError(f"{plain.bad_item_message(0)}: the first persons' images cannot be read")
    shapes = [list(map(int, shape)) for shape in _JOB["shapes"]] if len(_JOB["shapes"]) > 1 else None
    joints = plain.schema.num_keypoints
    shape = (n * k, *first.shape)
    features = np.lib.format.open_memmap(partial / "features.npy", "w+", np.float16, shape)
    keypoints = np.zeros((n * k, joints, 2), np.float32)
    labelled = np.zeros((n * k, joints), bool)
    t0 = time.time()
    bar = tqdm(total=n * k, desc="trunk features", unit="view", disable=None)
    pairs = [(v, i) for v in range(k) for i in range(n)]
    chunks = [pairs[a : a + 32] for a in range(0, len(pairs), 32)]
    pool = multiprocessing.get_context("fork").Pool(workers, _worker_start) if workers > 1 else None
    done = 0
    try:
        results = pool.imap_unordered(_views, chunks) if pool else map(_views, chunks)
        for part in results:
            for v, i, feats, kp, lab in part:
                if feats is None:  # an unreadable image: its views stay all-zero and unlabelled
                    views = plain if v == 0 else random_views
                    log(f"skipped: {views.bad_item_message(i)}")
                else:
                    row = v * n + i
                    features[row], keypoints[row], labelled[row] = feats, kp, lab
            bar.update(len(part))
            done += len(part)
            if bar.disable and done // 4000 > (done - len(part)) // 4000:  # no terminal: a line at times
                log(f"features: {done} / {n * k} views, {time.time() - t0:.0f} s")
    finally:
        if pool:
            pool.terminate()
        _JOB.clear()
    bar.close()
    features.flush()
    del features
    np.save(partial / "keypoints.npy", keypoints)
    np.save(partial / "labelled.npy", labelled)
    meta = {"format": FORMAT, "key": spec.key(), "persons": n, "views": k, "spec": asdict(spec),
            "seconds": round(time.time() - t0, 1), "workers": max(workers, 1), "shapes": shapes}
    (partial / "key.json").write_text(json.dumps(meta, indent=1, default=list))
    partial.rename(final)
    log(f"features: {n} persons x {k} views in {meta['seconds']} s, {max(workers, 1)} process(es) -> {final}")
    return FeatureCache.open(final)
