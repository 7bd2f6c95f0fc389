"""Models for the service: loaded once, shared by a thread pool as large as the cores.

Each model runs onnxruntime on one thread (``threads=1``) and the pool runs at most ``threads`` decodes or
inferences at once, so concurrent requests fill the cores without oversubscribing them (onnxruntime
sessions are safe to run from several threads; the models keep no state between calls).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from posekit.errors import PosekitError
from posekit.models.detectors import DEFAULT_DETECTOR, DETECTORS
from posekit.models.registry import get_spec, list_models
from posekit.models.runner import default_threads

T = TypeVar("T")
# Top-down mode with a multi-person model runs this one on each detected person instead.
TOPDOWN_SINGLE = "movenet-thunder"


class UnknownModel(PosekitError):
    """A model name that is not in the zoo (the service answers 404)."""


class BadOption(PosekitError):
    """A detector or TTA setting that does not fit the request (the service answers 422)."""


class ModelPool:
    """``get(name, mode, min_score, detector, tta)``: a ready model; ``run(fn, *args)``: ``fn`` on a pool
    thread. A model is loaded once per (name, mode, detector, tta)."""

    def __init__(self, preload: list[str], threads: int | None = None, precision: str = "fp32") -> None:
        if not preload:
            raise PosekitError("give at least one --model to load at start")
        self.default = preload[0]
        self.threads = threads or default_threads()
        self.precision = precision
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="posekit-model")
        self._models: dict[tuple[str, str, str | None, str], object] = {}
        self._lock = threading.Lock()
        for name in preload:
            self.get(name)

    def loaded(self) -> list[str]:
        return sorted({key[0] for key in self._models if key[1] == "whole"})

    def resolve(self, name: str | None = None, mode: str = "whole", detector: str | None = None,
                tta: str = "none") -> tuple[str, str, str | None, str]:
        """(model name, mode, detector, tta) that serves a request for ``name`` (None: the default) in
        ``mode``; ``detector`` (top-down only, None: the default detector) and ``tta`` (none, flip,
        flip,rot: one-person models and top-down) are checked here."""
        name = name or self.default
        if name not in list_models():  # only zoo names: a client never names a file on the server
            raise UnknownModel(f"unknown model {name!r}; known models: {', '.join(list_models())}")
        if mode == "topdown":
            if get_spec(name).multi_person:
                name = TOPDOWN_SINGLE
            detector = detector or DEFAULT_DETECTOR
            if detector not in DETECTORS:
                raise BadOption(f"detector={detector}: use one of {', '.join(DETECTORS)}")
        elif detector is not None:
            raise BadOption(f"detector={detector}: a detector is used with mode=topdown only; add "
                            "mode=topdown or leave the detector out")
        if tta not in ("none", "flip", "flip,rot"):
            raise BadOption(f"tta={tta}: use none, flip or flip,rot")
        if tta != "none" and mode == "whole" and get_spec(name).multi_person:
            raise BadOption(f"tta={tta}: {name} finds several people on the whole image; use mode=topdown "
                            "(test-time augmentation runs on one person's crop)")
        return name, mode, detector, tta

    def get(self, name: str | None = None, mode: str = "whole", min_score: float | None = None,
            detector: str | None = None, tta: str = "none"):
        """The model (``mode`` "whole") or top-down pipeline ("topdown") for a zoo name, loaded on first
        use, as a shallow copy sharing its sessions with ``min_score`` set (None: the model's default)."""
        key = self.resolve(name, mode, detector, tta)
        model = self._models.get(key)
        if model is None:
            with self._lock:  # one load per model even when its first requests arrive together
                model = self._models.get(key) or self._load(*key)
                self._models[key] = model
        if min_score is None:
            return model
        view = copy.copy(model)
        view.min_score = min_score
        return view

    async def get_async(self, name: str | None = None, mode: str = "whole", min_score: float | None = None,
                        detector: str | None = None, tta: str = "none"):
        """``get`` for the event loop: a model's first load runs on a pool thread."""
        if self.resolve(name, mode, detector, tta) not in self._models:
            await self.run(self.get, name, mode, None, detector, tta)
        return self.get(name, mode, min_score, detector, tta)

    def _load(self, name: str, mode: str, detector: str | None, tta: str):
        if mode == "topdown":
            from posekit.models.topdown import load_topdown

            return load_topdown(name, detector, threads=1, tta=tta, precision=self.precision)
        from posekit.models.registry import load_model

        model = load_model(name, threads=1, precision=self.precision)
        if tta == "none":
            return model
        from posekit.models.tta import CropModel

        return CropModel(model, tta=tta, min_score=getattr(model, "min_score", 0.0))

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on a pool thread (the event loop stays free)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
