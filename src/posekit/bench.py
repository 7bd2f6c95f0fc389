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


def bench_model(model, image_path: Path, runs: int = 50, warmup: int = 5) -> dict[str, Any]:
    """Median / p90 milliseconds and images per second for ``model`` on ``image_path``.

    session: the model's onnxruntime run(s) alone on a prepared input. pipeline latency: one file from disk
    to poses (read, decode, preprocess, infer, decode poses), timed per image. pipeline throughput: a
    stream of ``runs`` files through ``iter_predictions`` (decoding overlaps inference), as
    ``posekit estimate`` runs; ``pipeline_overhead_pct`` compares its time per image with the session's.
    """
    import onnxruntime

    from posekit.estimate import iter_predictions, predict_file
    from posekit.images import read_image

    image = read_image(image_path)
    if hasattr(model, "stage_feeds"):  # two-stage models: every session one predict runs, on its inputs
        feeds = model.stage_feeds(image.rgb)
        session = _time(lambda: [runner.run(f) for runner, f in feeds], runs, warmup)
    else:
        tensor, _ = model.preprocess(image.rgb)
        session = _time(lambda: model.infer(tensor), runs, warmup)
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
    return {
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
