"""A thin wrapper over an onnxruntime CPU session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def default_threads() -> int:
    """Physical-ish core count: onnxruntime is slower with hyper-threads (POSEKIT_THREADS overrides)."""
    env = os.environ.get("POSEKIT_THREADS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Runner:
    """One onnxruntime session: ``run(feeds) -> {output name: array}``. ``fixed_dims``: symbolic input
    dimensions fixed for this session (``{"image_d0": 1}``: a free batch dimension run as batch 1, which
    lets onnxruntime plan for that shape)."""

    def __init__(self, onnx_path: str | Path, threads: int | None = None,
                 fixed_dims: dict[str, int] | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.fixed_dims = dict(fixed_dims or {})
        for name, value in self.fixed_dims.items():
            opts.add_free_dimension_override_by_name(name, value)
        self.path = Path(onnx_path)
        self.threads = opts.intra_op_num_threads
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, NDArray]) -> dict[str, NDArray[np.float32]]:
        outs = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, outs, strict=True))

    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)
