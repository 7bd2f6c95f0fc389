"""Latency of a model: the onnxruntime session alone and the whole pipeline (decode file -> poses)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _time(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def _session_fn(model, rgb) -> Callable[[], object]:
    if hasattr(model, "stage_feeds"):  # two-stage models: every session one predict runs, on its inputs
        feeds = model.stage_feeds(rgb)
        return lambda: [runner.run(f) for runner, f in feeds]
    tensor, _ = model.preprocess(rgb)
    return lambda: model.infer(tensor)


def bench_model(model, image_path: Path, runs: int = 50, warmup: int = 5, peer=None) -> dict[str, Any]:
    """Median / p90 milliseconds and images per second for ``model`` on ``image_path``.

    session: the model's onnxruntime run(s) alone on a prepared input. pipeline latency: one file from disk
    to poses (read, decode, preprocess, infer, decode poses), timed per image. pipeline throughput: a
    stream of ``runs`` files through ``iter_predictions`` (decoding overlaps inference), as
    ``posekit estimate`` runs; ``pipeline_overhead_pct`` compares its time per image with the session's.
    peer: another model (fp32 beside int8) whose session is timed interleaved with ``model``'s, for
    ``speedup_vs_fp32``.
    """
    import onnxruntime

    from posekit.estimate import iter_predictions, predict_file
    from posekit.images import read_image

    image = read_image(image_path)
    run = _session_fn(model, image.rgb)
    if peer is None:
        session = _time(run, runs, warmup)
    else:  # the peer's session (e.g. fp32 for an int8 model) interleaved run by run
        peer_run = _session_fn(peer, image.rgb)
        _time(lambda: (run(), peer_run()), 0, warmup)
        session, peer_session = [], []
        for _ in range(runs):
            session += _time(run, 1, 0)
            peer_session += _time(peer_run, 1, 0)
    pipeline = _time(lambda: predict_file(model, image_path), runs, warmup)
    s_med, p_med = float(np.median(session)), float(np.median(pipeline))
    # Throughput of a stream of files (posekit estimate's path: the next file decodes during inference).
    stream = [Path(image_path)] * runs
    for _ in iter_predictions(model, stream[:warmup]):
        pass
    t0 = time.perf_counter()
    for _ in iter_predictions(model, stream):
        pass
    stream_ms = (time.perf_counter() - t0) * 1000.0 / runs
    result = {
        "model": model.spec.name,
        "input_size": getattr(model, "resolution", model.spec.input_size),
        "threads": model.runner.threads,
        "image": str(image_path),
        "image_size": list(image.size),
        "runs": runs,
        "session_ms_median": round(s_med, 3),
        "session_ms_p90": round(float(np.percentile(session, 90)), 3),
        "session_images_per_s": round(1000.0 / s_med, 2),
        "pipeline_ms_median": round(p_med, 3),
        "pipeline_ms_p90": round(float(np.percentile(pipeline, 90)), 3),
        "pipeline_latency_overhead_pct": round(100.0 * (p_med - s_med) / s_med, 1),
        "pipeline_images_per_s": round(1000.0 / stream_ms, 2),
        "pipeline_stream_ms_per_image": round(stream_ms, 3),
        "pipeline_overhead_pct": round(100.0 * (stream_ms - s_med) / s_med, 1),
        "onnxruntime": onnxruntime.__version__,
    }
    if peer is not None:
        p_ms = float(np.median(peer_session))
        result["peer_session_ms_median"] = round(p_ms, 3)
        result["speedup_vs_fp32"] = round(p_ms / s_med, 3)
    return result
