"""Parity of posekit's ONNX -> torch builder (posekit.train.onnx_torch) with onnxruntime on a real photo.

For each zoo graph, every tensor a fine-tune trains on: EfficientPose's heatmaps (the graph output), MoveNet
Lightning's and Thunder's raw heads before the in-graph decoding (keypoint heatmap logits, the centre
heatmap logits, the regression and offset maps). Prints one line per tensor: shape, max |torch - ort|,
max |ort|.

    .venv/bin/python benchmarks/bench_finetune_parity.py [IMAGE]
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image

from posekit.models.registry import get_spec, onnx_path
from posekit.samples import sample_image
from posekit.train.onnx_torch import OnnxModule

HEADS = "StatefulPartitionedCall/{}/BiasAdd"
MOVENET = [HEADS.format(h) for h in ("kpt_heatmap_0/conv2d_5", "center_0/conv2d_4", "kpt_regress_0/conv2d_6",
                                     "kpt_offset_0/conv2d_7")]
GRAPHS = {"efficientpose": None, "movenet-lightning": MOVENET, "movenet-thunder": MOVENET}


def with_outputs(proto: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of ``proto`` whose outputs are the tensors ``names`` (so onnxruntime returns them)."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    del out.graph.output[:]
    out.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    return out


def main(image: str) -> None:
    torch.set_num_threads(1)
    for name, heads in GRAPHS.items():
        proto = onnx.load(str(onnx_path(get_spec(name))))
        inp = proto.graph.input[0]
        size = inp.type.tensor_type.shape.dim[1].dim_value
        rgb = np.asarray(Image.open(image).convert("RGB").resize((size, size)), np.float32)[None]
        x = rgb / 127.5 - 1.0 if name == "efficientpose" else rgb.astype(np.int32)
        heads = heads or [o.name for o in proto.graph.output]
        session = ort.InferenceSession(with_outputs(proto, heads).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        refs = session.run(None, {inp.name: x})
        with torch.no_grad():
            ours = OnnxModule(proto, heads)(torch.from_numpy(x))
        for head, ref, got in zip(heads, refs, ours, strict=True):
            diff = float(np.abs(got.numpy().astype(np.float64) - ref).max())
            print(f"{name:18} {head.split('/')[-2] if '/' in head else head:28} {str(ref.shape):20} "
                  f"max|torch-ort| {diff:.2e}  max|ort| {float(np.abs(ref).max()):.3g}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(sample_image()))
