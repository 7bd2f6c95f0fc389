"""Checkpoint -> ONNX heatmap model with everything a runtime needs in its metadata.

The graph: input ``image`` float32 (N, 3, H, W), RGB scaled to [0, 1] then normalised (x - mean) / std;
output ``heatmaps`` float32 (N, K, h, w) (the last stage only). The batch axis is dynamic.

metadata_props (all strings; `read_heatmap_model_meta` parses them back):
  posekit.kind        "heatmap"
  posekit.model       training model name, e.g. "hourglass-xs"
  posekit.schema      keypoint schema name, e.g. "lsp14" (see posekit.skeletons.SCHEMAS)
  posekit.input_size  "H,W" model input in pixels
  posekit.heatmap_size "h,w" heatmap size in pixels
  posekit.mean / posekit.std  three comma-separated floats (RGB, applied after /255)
  posekit.color       "RGB"
  posekit.decoder     "heatmap-argmax-quadratic": posekit.decode.heatmap.decode_heatmaps(refine="quadratic");
                      heatmap pixel (x, y) -> input pixel ((x + 0.5) * W / w - 0.5, (y + 0.5) * H / h - 0.5)
  posekit.crop        "box-enlarge:1.3": crop a square (input-shaped) region around the person box enlarged
                      1.3x about its centre, black outside the image (posekit.train.augment.crop_matrix)
  posekit.sigma       training Gaussian sigma in heatmap pixels
  posekit.val_pck     validation PCK@0.2 of the checkpoint (fraction), when known
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import onnx

from posekit.atomic import write_atomic
from posekit.models.heatmap import read_heatmap_meta as read_heatmap_model_meta  # noqa: F401 - public name
from posekit.skeletons import get_schema
from posekit.train.augment import EVAL_ENLARGE

# torch is imported inside the exporting functions. The runtime reads the metadata back with
# posekit.models.heatmap.read_heatmap_meta (re-exported here as read_heatmap_model_meta).
DECODER = "heatmap-argmax-quadratic"


def model_from_checkpoint(ckpt: dict[str, Any]) -> Any:
    """The trained torch model (eval mode, CPU) of a checkpoint dict; forward returns a list of stages."""
    from posekit.train.models import config_from_dict, create_model

    cfg = config_from_dict(ckpt["model_config"])
    k = ckpt.get("num_keypoints") or get_schema(ckpt["schema"]).num_keypoints
    model = create_model(cfg, k)
    model.load_state_dict(ckpt["model"])
    return model.eval()


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """The .pt file of ``checkpoint``: itself, or a run folder's best.pt, else its last.pt."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "best.pt" if (path / "best.pt").is_file() else path / "last.pt"
    return path


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17) -> Path:
    """Write the checkpoint's model as ONNX (see module docstring) atomically; returns the path.

    checkpoint: a .pt file or a run folder (its best.pt, else last.pt).
    """
    from posekit.train import require_torch

    torch = require_torch()
    from posekit.train.checkpoint import load_checkpoint

    class LastStage(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)[-1]

    ckpt = load_checkpoint(resolve_checkpoint(checkpoint))
    if ckpt.get("init"):
        return export_finetuned(ckpt, out)
    model = LastStage(model_from_checkpoint(ckpt))
    h, w = ckpt["codec"]["input_size"]
    out = Path(out)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(
            model, (torch.zeros(1, 3, h, w),), buf, dynamo=False, opset_version=opset,
            input_names=["image"], output_names=["heatmaps"],
            dynamic_axes={"image": {0: "batch"}, "heatmaps": {0: "batch"}},
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    history = ckpt.get("history") or []
    epoch_row = next((r for r in history if r["epoch"] == ckpt["epoch"]), None)
    meta = {
        "posekit.kind": "heatmap",
        "posekit.model": ckpt["model_config"]["name"],
        "posekit.schema": ckpt["schema"],
        "posekit.input_size": f"{h},{w}",
        "posekit.heatmap_size": ",".join(str(v) for v in ckpt["codec"]["heatmap_size"]),
        "posekit.mean": ",".join(repr(float(v)) for v in ckpt["mean"]),
        "posekit.std": ",".join(repr(float(v)) for v in ckpt["std"]),
        "posekit.color": "RGB",
        "posekit.decoder": DECODER,
        "posekit.crop": f"box-enlarge:{EVAL_ENLARGE}",
        "posekit.sigma": repr(float(ckpt["codec"]["sigma"])),
    }
    if epoch_row is not None and epoch_row["val_pck"] == epoch_row["val_pck"]:
        meta["posekit.val_pck"] = repr(float(epoch_row["val_pck"]))
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    write_atomic(out, proto.SerializeToString())
    return out




def export_finetuned(ckpt: dict[str, Any], out: str | Path) -> Path:
    """A fine-tuned checkpoint (``--init``) as its zoo graph with the trained weights written back: the same
    input, preprocessing, outputs and in-graph decoding as the zoo model, so `posekit.models.registry`
    runs it with the zoo family's own code. Metadata: posekit.kind "finetuned", posekit.base (zoo model),
    posekit.schema (the graph's output schema), posekit.trained_on (the data's schema), posekit.val_pck,
    posekit.grown (joints a MoveNet grew channels for, `posekit.train.pretrained.grow`: extra outputs)."""
    from posekit.train.pretrained import FINETUNED_KIND, resolve_init

    init = ckpt["init"]
    spec, source, digest = resolve_init(init["init"])
    if digest != init["sha256"]:
        from posekit.errors import PosekitError

        raise PosekitError(f"{init['init']}: changed since this run was trained (sha256 "
                           f"{init['sha256'][:12]}); export needs the graph it started from")
    from posekit.skeletons import get_schema as schema_named

    if (ckpt.get("train_config") or {}).get("cache_features"):
        from posekit.train.cached import head_module
        from posekit.train.pretrained import grow

        spec, source, _ = grow(spec, source, schema_named(ckpt["schema"]), init["channels"])  # grown joints
        config = ckpt["train_config"]
        graph = head_module(spec, source, config.get("cache_at", "trunk"), config.get("freeze_layers", 0))
    else:
        from posekit.train.pretrained import load_pretrained

        graph = load_pretrained(init["init"], schema_named(ckpt["schema"])).module.graph
        ckpt = {**ckpt, "model": {k.removeprefix("graph."): v for k, v in ckpt["model"].items()}}
    graph.load_state_dict(ckpt["model"])
    proto = graph.write_back(source)
    history = ckpt.get("history") or []
    row = next((r for r in history if r["epoch"] == ckpt["epoch"]), None)
    meta = {"posekit.kind": FINETUNED_KIND, "posekit.base": spec.base, "posekit.schema": spec.schema,
            "posekit.trained_on": ckpt["schema"], "posekit.epoch": str(ckpt["epoch"])}
    meta |= {p.key: p.value for p in proto.metadata_props if p.key == "posekit.grown"}
    if row is not None and row["val_pck"] == row["val_pck"]:
        meta["posekit.val_pck"] = repr(float(row["val_pck"]))
    kept = [p for p in proto.metadata_props if not p.key.startswith("posekit.")]
    del proto.metadata_props[:]
    for p in kept:
        proto.metadata_props.add(key=p.key, value=p.value)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    out = Path(out)
    write_atomic(out, proto.SerializeToString())
    return out
