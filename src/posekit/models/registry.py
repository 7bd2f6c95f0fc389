"""The model zoo: names -> frozen specs, and `load_model`."""

from __future__ import annotations

import inspect
from pathlib import Path

from posekit.errors import PosekitError
from posekit.models import blazepose, efficientpose, movenet, posenet
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {
    s.name: s for s in (*movenet.SPECS, *posenet.SPECS, *efficientpose.SPECS, *blazepose.SPECS)
}
FAMILIES = {
    "movenet": movenet.MoveNet,
    "posenet": posenet.PoseNet,
    "efficientpose": efficientpose.EfficientPose,
    "blazepose": blazepose.BlazePose,
}
DEFAULT_MODEL = "movenet-multipose"


def list_models() -> list[str]:
    return sorted(MODELS)


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise PosekitError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def onnx_path(spec: ModelSpec) -> Path:
    """The converted ONNX file for ``spec`` (fetching and converting it on first use)."""
    from posekit.convert import cached_onnx

    return cached_onnx(spec.graph)


def load_model(name_or_path: str | Path, threads: int | None = None, **options):
    """A ready model for a zoo name or an .onnx path; ``options`` go to the family (e.g. min_score)."""
    path = Path(name_or_path)
    if str(name_or_path) not in MODELS and (path.suffix == ".onnx" or path.exists()):
        if not path.is_file():
            raise PosekitError(f"{path}: no such model file; pass a zoo name ({', '.join(list_models())})")
        from posekit.models.heatmap import HeatmapModel

        unknown = sorted(set(options) - {"min_score"})
        if unknown:
            raise PosekitError(f"model {path.name} does not take --{unknown[0].replace('_', '-')}; "
                               "it takes --min-score")
        return HeatmapModel.from_path(path, threads=threads, **options)
    spec = get_spec(str(name_or_path))
    family = FAMILIES[spec.family]
    accepted = set(inspect.signature(family.__init__).parameters) - {"self", "spec", "runner"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        def flags(names: list[str]) -> str:
            return ", ".join("--" + k.replace("_", "-") for k in names) or "no options"

        raise PosekitError(f"model {spec.name} does not take {flags(unknown)}; "
                           f"it takes {flags(sorted(accepted))}")
    if hasattr(family, "load"):  # families with their own graphs / several sessions
        return family.load(spec, threads=threads, **options)
    return family(spec, Runner(onnx_path(spec), threads=threads), **options)
