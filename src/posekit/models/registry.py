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


def load_model(name_or_path: str | Path, threads: int | None = None, precision: str = "fp32",
               calibration: str | Path | None = None, **options):
    """A ready model for a zoo name or an .onnx path; ``options`` go to the family (e.g. min_score).

    precision: ``fp32`` or ``int8`` (static int8, quantized on first use with the photos of the
    ``calibration`` folder, or posekit's default set; see ``posekit.convert.quantize``)."""
    from posekit.convert.quantize import PRECISIONS

    if precision not in PRECISIONS:
        raise PosekitError(f"--precision {precision}: use one of {', '.join(PRECISIONS)}")
    model = _load(name_or_path, threads, **options)
    if precision == "int8":
        model = to_int8(model, calibration)
    return model


def to_int8(model, calibration: str | Path | None = None):
    """``model`` with its session swapped for the int8 one (same threads)."""
    from posekit.convert.quantize import quantized_onnx

    single = all(hasattr(model, a) for a in ("runner", "preprocess", "input_name"))
    if not single or hasattr(model, "detector"):
        raise PosekitError(f"--precision int8: not available for {model.spec.name} (a pipeline of several "
                           "sessions); use --precision fp32")
    model.runner = Runner(quantized_onnx(model, calibration), threads=model.runner.threads,
                          fixed_dims=getattr(model.runner, "fixed_dims", None))
    return model


def _load(name_or_path: str | Path, threads: int | None = None, **options):
    path = Path(name_or_path)
    if str(name_or_path) not in MODELS and (path.suffix == ".onnx" or path.exists()):
        if not path.is_file():
            raise PosekitError(f"{path}: no such model file; pass a zoo name ({', '.join(list_models())})")
        from posekit.models.heatmap import HeatmapModel

        base, schema = _finetuned_base(path)
        if base is not None:  # a zoo graph with fine-tuned weights: the zoo family runs it
            from dataclasses import replace

            from posekit.skeletons import get_schema

            zoo = get_spec(base)
            spec = replace(zoo, name=path.stem, graph=str(path),
                           schema=get_schema(schema) if schema else zoo.schema,
                           summary=f"{base} fine-tuned by posekit train ({path.name})")
            return _family_model(spec, Runner(path, threads=threads), options)
        unknown = sorted(set(options) - {"min_score"})
        if unknown:
            raise PosekitError(f"model {path.name} does not take --{unknown[0].replace('_', '-')}; "
                               "it takes --min-score")
        return HeatmapModel.from_path(path, threads=threads, **options)
    spec = get_spec(str(name_or_path))
    family = FAMILIES[spec.family]
    if hasattr(family, "load"):  # families with their own graphs / several sessions
        _check_options(spec, options)
        return family.load(spec, threads=threads, **options)
    return _family_model(spec, Runner(onnx_path(spec), threads=threads), options)


def _finetuned_base(path: Path) -> tuple[str | None, str]:
    """The zoo model a `posekit train export` of an --init run was fine-tuned from and the schema of its
    outputs (the zoo's, or with grown joints: ``coco17+neck+head_top``), else (None, "")."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # not ONNX: HeatmapModel.from_path reports it
        return None, ""
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("posekit.kind") != "finetuned":
        return None, ""
    return props.get("posekit.base"), props.get("posekit.schema", "")


def _family_model(spec: ModelSpec, runner: Runner, options: dict):
    _check_options(spec, options)
    return FAMILIES[spec.family](spec, runner, **options)


def _check_options(spec: ModelSpec, options: dict) -> None:
    family = FAMILIES[spec.family]
    accepted = set(inspect.signature(family.__init__).parameters) - {"self", "spec", "runner"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        def flags(names: list[str]) -> str:
            return ", ".join("--" + k.replace("_", "-") for k in names) or "no options"

        raise PosekitError(f"model {spec.name} does not take {flags(unknown)}; "
                           f"it takes {flags(sorted(accepted))}")
