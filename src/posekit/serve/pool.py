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
from posekit.models.registry import get_spec, list_models
from posekit.models.runner import default_threads

T = TypeVar("T")
# Top-down mode with a multi-person model runs this one on each detected person instead.
TOPDOWN_SINGLE = "movenet-thunder"


class UnknownModel(PosekitError):
    """A model name that is not in the zoo (the service answers 404)."""


class ModelPool:
    """``get(name, mode, min_score)``: a ready model; ``run(fn, *args)``: ``fn`` on a pool thread."""

    def __init__(self, preload: list[str], threads: int | None = None, precision: str = "fp32") -> None:
        if not preload:
            raise PosekitError("give at least one --model to load at start")
        self.default = preload[0]
        self.threads = threads or default_threads()
        self.precision = precision
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="posekit-model")
        self._models: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        for name in preload:
            self.get(name)

    def loaded(self) -> list[str]:
        return sorted({name for name, mode in self._models if mode == "whole"})

    def resolve(self, name: str | None = None, mode: str = "whole") -> tuple[str, str]:
        """(model name, mode) that serves a request for ``name`` (None: the default) in ``mode``."""
        name = name or self.default
        if name not in list_models():  # only zoo names: a client never names a file on the server
            raise UnknownModel(f"unknown model {name!r}; known models: {', '.join(list_models())}")
        if mode == "topdown" and get_spec(name).multi_person:
            name = TOPDOWN_SINGLE
        return name, mode

    def get(self, name: str | None = None, mode: str = "whole", min_score: float | None = None):
        """The model (``mode`` "whole") or top-down pipeline ("topdown") for a zoo name, loaded on first
        use, as a shallow copy sharing its sessions with ``min_score`` set (None: the model's default)."""
        key = self.resolve(name, mode)
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

    async def get_async(self, name: str | None = None, mode: str = "whole", min_score: float | None = None):
        """``get`` for the event loop: a model's first load runs on a pool thread."""
        if self.resolve(name, mode) not in self._models:
            await self.run(self.get, name, mode)
        return self.get(name, mode, min_score)

    def _load(self, name: str, mode: str):
        if mode == "topdown":
            from posekit.models.topdown import load_topdown

            return load_topdown(name, threads=1, precision=self.precision)
        from posekit.models.registry import load_model

        return load_model(name, threads=1, precision=self.precision)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on a pool thread (the event loop stays free)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
