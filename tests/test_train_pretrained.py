"""Fine-tuning zoo models: the torch builder equals onnxruntime, heads map by joint name, runs resume and
export back into the zoo graph, bad input is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from test_train_export import _lspet_folder  # noqa: E402
from train_fixtures import BLOBS3  # noqa: E402

from posekit.errors import PosekitError  # noqa: E402
from posekit.skeletons import COCO17, LSP14, get_schema  # noqa: E402


@pytest.fixture(scope="module")
def efficientpose(model_package: Path):
    from posekit.train.pretrained import load_pretrained

    torch.set_num_threads(1)
    return load_pretrained("efficientpose", LSP14)


def _ort(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _photo(size: int = 368) -> np.ndarray:
    """A real photo (the cached astronaut sample), (1, size, size, 3) float32 pixels 0..255 / 127.5 - 1
    (EfficientPose's input)."""
    from PIL import Image

    from posekit.samples import sample_image

    rgb = Image.open(sample_image()).convert("RGB").resize((size, size))
    return (np.asarray(rgb, np.float32) / 127.5 - 1.0)[None]


def test_torch_builder_equals_onnxruntime_and_writes_back(efficientpose) -> None:
    x = _photo()
    graph = efficientpose.module.graph
    with torch.no_grad():
        ours = graph(torch.from_numpy(x))[0].numpy()
    ref = _ort(efficientpose.proto, x)
    assert ours.shape == ref.shape == (1, 368, 368, 16)
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()
    # trained values go back into the graph: perturb the last deconvolution, onnxruntime follows
    name = next(n for n in graph.param_names if n.startswith("upscaled_confs"))
    with torch.no_grad():
        graph.weights[graph.param_names.index(name)].mul_(1.5)
        changed = graph(torch.from_numpy(x))[0].numpy()
    written = _ort(graph.write_back(efficientpose.proto), x)
    assert np.abs(changed - ref).max() > 1e-2
    assert np.abs(written - changed).max() < 1e-4 * np.abs(changed).max()
    with torch.no_grad():
        graph.weights[graph.param_names.index(name)].div_(1.5)


def test_frozen_outputs_cache_each_tensor_once_and_leave_constants_to_the_rest(efficientpose) -> None:
    """--cache-at frozen on EfficientPose: the Unsqueeze-Concat building its deconvolutions' output shape from
    constants is no frozen output (it was refused as a non-float one), blocks_8's output, which the rest reads
    as NHWC and through a Transpose, is cached once, and the rest of the graph fed with it equals the whole
    graph; MoveNet's block_5 output (read through two Transposes) is cached once too."""
    from posekit.train.cached import head_module
    from posekit.train.features import trunk_graph
    from posekit.train.pretrained import frozen_outputs, resolve_init

    spec, proto = efficientpose.spec, efficientpose.proto
    image = proto.graph.input[0].name
    assert frozen_outputs(proto, image, [spec.heatmaps], 27) == [spec.cut]  # 27 layers: the trunk cut
    (start,) = frozen_outputs(proto, image, [spec.heatmaps], 18)
    assert start.startswith("efficientnet-lite4/model/blocks_5/")
    x = _photo()
    features = _ort(trunk_graph(proto, start), x)
    assert features.shape == (1, 46, 46, 56)
    with torch.no_grad():
        (ours,) = head_module(spec, proto, "frozen", 18)(torch.from_numpy(features))
    ref = _ort(proto, x)
    assert np.abs(ours.numpy() - ref).max() < 1e-4 * np.abs(ref).max()

    mspec, mproto, _ = resolve_init("movenet-lightning")
    starts = frozen_outputs(mproto, mspec.image, list(mspec.heads), 18)
    producers = {o: n for n in mproto.graph.node for o in n.output}
    assert len(starts) == 2 and any(s.endswith("block_5_add/add") for s in starts)
    assert not any(producers[s].op_type == "Transpose" and producers[s].input[0] in starts for s in starts)


def test_heads_by_joint_name(efficientpose) -> None:
    from posekit.models.efficientpose import GRAPH_JOINTS
    from posekit.train.pretrained import channel_map

    channels = channel_map(efficientpose.spec, LSP14)
    assert [GRAPH_JOINTS[c] for c in channels] == [
        "upper_neck" if j == "neck" else j for j in LSP14.keypoints
    ]  # LSP's neck is MPII's upper neck; every LSP joint has its channel
    x = torch.from_numpy(_photo()).permute(0, 3, 1, 2)
    with torch.no_grad():
        (lsp,) = efficientpose.module(x)
        full = efficientpose.module.graph(x.permute(0, 2, 3, 1))[0]
    assert lsp.shape == (1, 14, 368, 368)
    assert torch.equal(lsp[0, LSP14.index("neck")], full[0, :, :, GRAPH_JOINTS.index("upper_neck")])
    assert len(efficientpose.backbone()) == 54 and len(efficientpose.head()) == 113


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (BLOBS3, "schema mpii16 shares 0 joints with the data's blobs3 \\(none\\)"),
        (COCO17, "coco17 has joints mpii16 lacks \\(nose, left_eye"),
        (get_schema("mpii16"), None),
    ],
)
def test_schema_checks(schema, message) -> None:
    from posekit.train.pretrained import _efficientpose, channel_map

    if message is None:
        assert len(channel_map(_efficientpose(), schema)) == 16
    else:
        with pytest.raises(PosekitError, match=message):
            channel_map(_efficientpose(), schema)


@pytest.mark.parametrize(
    ("init", "message"),
    [
        ("movenet-multipose", "movenet-multipose has no trainable heads here"),
        ("no-such-model", "unknown model 'no-such-model'"),
        ("missing.onnx", "no such file"),
        ("plain.onnx", "not a posekit fine-tuned export"),
        ("garbage.onnx", "not a readable ONNX file"),
    ],
)
def test_bad_init(init: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onnx import TensorProto, helper

    from posekit.train.pretrained import resolve_init

    monkeypatch.chdir(tmp_path)
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "plain.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"not onnx")
    with pytest.raises(PosekitError, match=message):
        resolve_init(init)


def _posekit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "posekit", *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip


@pytest.mark.slow
def test_cli_finetune_resume_export_estimate(tmp_path: Path, model_package: Path) -> None:
    data = f"lspet:{_lspet_folder(tmp_path / 'lspet', 4)}"
    run = tmp_path / "run"
    common = ["--num-workers", "0", "--threads", "1"]
    r = _posekit("train", "--data", data, "--val-last", "2", "--init", "efficientpose", "--epochs", "2",
                 "--batch-size", "2", "--freeze-epochs", "1", "--freeze-layers", "3", "--lr", "1e-5",
                 "--stop-after", "1", "--out", str(run), *common)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "epoch 0 (pretrained start)" in r.stderr and "backbone frozen" in r.stderr
    assert "the first 3 weight layers (to efficientnet-lite4/model/blocks_0/tpu_batch" in r.stderr
    rows = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]
    # resume needs nothing but the run folder, and refuses a changed model or data
    r = _posekit("train", "--resume", str(run), "--init", "movenet-thunder", *common)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "init 'efficientpose' -> 'movenet-thunder'" in r.stderr
    r = _posekit("train", "--resume", str(run), "--val-last", "1", *common)
    assert r.returncode == 2 and "val_last 2 -> 1" in r.stderr
    r = _posekit("train", "--resume", str(run), "--freeze-layers", "4", *common)
    assert r.returncode == 2 and "freeze_layers 3 -> 4" in r.stderr
    r = _posekit("train", "--resume", str(run), *common)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr and json.loads(r.stdout)["epoch"] == 2
    out = tmp_path / "ft.onnx"
    r = _posekit("train", "export", str(run / "last.pt"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["posekit.kind"] == "finetuned" and props["posekit.base"] == "efficientpose"
    assert props["posekit.trained_on"] == "lsp14"
    # the export is the zoo graph with the trained weights: same inputs / outputs, run by the zoo family
    from posekit.models.efficientpose import EfficientPose
    from posekit.models.registry import load_model, onnx_path

    zoo = onnx.load(onnx_path(load_model("efficientpose").spec))
    ours = onnx.load(out)
    assert [n.op_type for n in ours.graph.node] == [n.op_type for n in zoo.graph.node]
    changed = {a.name for a, b in zip(ours.graph.initializer, zoo.graph.initializer, strict=True)
               if not np.array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))}
    assert changed
    # --freeze-layers 3: the stem and block 0's two convolutions kept the zoo's weights through both epochs;
    # the backbone's next layer trained in epoch 2 (after --freeze-epochs 1)
    from posekit.train.pretrained import early_layers

    first3, _ = early_layers(zoo, 3)
    first4, _ = early_layers(zoo, 4)
    assert len(first3) == 6 and not first3 & changed and first4 - first3 <= changed
    model = load_model(out)
    assert isinstance(model, EfficientPose) and model.schema.name == "mpii16"
    from posekit.models.tta import batch_runner

    assert model.spec.graph == str(out) and batch_runner(model) is None  # top-down never swaps in zoo weights
    r = _posekit("eval", "run", "--model", str(out), "--dataset", data, "--gt-boxes", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["persons"] == 4
    # and it can start another run
    r = _posekit("train", "--data", data, "--val-last", "2", "--init", str(out), "--epochs", "1",
                 "--batch-size", "2", "--stop-after", "0", "--out", str(tmp_path / "b"), *common)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "epoch 0 (pretrained start)" in r.stderr


def test_head_from_inner_tensors_equals_whole_graph(efficientpose) -> None:
    """A module fed a trunk's inner tensor (as cached features are) computes the same heatmaps as the whole
    graph, runs only the nodes after the cut and trains only their weights."""
    from posekit.train.onnx_torch import OnnxModule

    cut = "efficientnet-lite4/model/blocks_8/Add_0/add"
    proto = efficientpose.proto
    trunk, head = OnnxModule(proto, [cut]), OnnxModule(proto, inputs=[cut])
    x = torch.from_numpy(_photo())
    with torch.no_grad():
        whole = efficientpose.module.graph(x)[0]
        features = trunk(x)[0]
        split = head(features)[0]
    assert torch.allclose(split, whole, atol=1e-5)
    assert not set(head.param_names) & set(trunk.param_names)
    assert len(head.nodes) + len(trunk.nodes) <= len(proto.graph.node)
    with pytest.raises(TypeError, match="takes 1 input"):
        head(features, features)


def test_movenet_raw_heads_equal_onnxruntime(model_package: Path) -> None:
    """MoveNet Lightning's raw heads (before the in-graph decoding) come out of the builder as onnxruntime
    computes them: the tensors a head fine-tune trains."""
    import onnxruntime as ort

    from posekit.models.registry import get_spec, onnx_path
    from posekit.train.onnx_torch import OnnxModule

    proto = onnx.load(str(onnx_path(get_spec("movenet-lightning"))))
    heads = [f"StatefulPartitionedCall/{h}/BiasAdd"
             for h in ("kpt_heatmap_0/conv2d_5", "kpt_offset_0/conv2d_7")]
    exposed = onnx.ModelProto()
    exposed.CopyFrom(proto)
    del exposed.graph.output[:]
    exposed.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in heads)
    x = ((_photo(192) + 1.0) * 127.5).round().astype(np.int32)  # pixels 0..255, MoveNet's int32 input
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    refs = session.run(None, {proto.graph.input[0].name: x})
    with torch.no_grad():
        ours = OnnxModule(proto, heads)(torch.from_numpy(x))
    assert [r.shape for r in refs] == [(1, 48, 48, 17), (1, 48, 48, 34)]
    for ref, got in zip(refs, ours, strict=True):
        assert np.abs(got.numpy() - ref).max() < 1e-5 * np.abs(ref).max() + 1e-4


@pytest.mark.parametrize(
    ("stored_data", "call", "expected"),
    [
        ({"data": "lspet:a", "val_last": 8}, {}, {"data": "lspet:a", "val_last": 8}),
        ({"data": "lspet:a", "val_last": 8}, {"data": "lspet:a", "val_last": 8},
         {"data": "lspet:a", "val_last": 8}),
        ({"data": "lspet:a", "val_last": 8}, {"data": "lspet:b"}, "data 'lspet:a' -> 'lspet:b'"),
        ({"data": "lspet:a"}, {"model": "hourglass-xs"}, "model 'hourglass-s' -> 'hourglass-xs'"),
        ({"data": "lspet:a"}, {"freeze_layers": 18}, "freeze_layers 0 -> 18"),
        ({"data": "lspet:a"}, {"freeze_layers": 0}, {"data": "lspet:a"}),
        ({}, {"data": "lspet:a", "val_last": 8}, {"data": "lspet:a", "val_last": 8}),  # a run from before
        ({}, {}, "pass the same --data"),
    ],
)
def test_resume_options(stored_data: dict, call: dict, expected) -> None:
    import argparse

    from posekit.cli.train import DATA_OPTIONS, _resume_config
    from posekit.train.loop import TrainConfig

    stored = TrainConfig(data=stored_data)
    args = argparse.Namespace(resume="run", init=None, model=None, freeze_layers=None, num_workers=0,
                              threads=1, epochs=None, **{k: None for k in DATA_OPTIONS})
    for k, v in call.items():
        setattr(args, k, v)
    if isinstance(expected, str):
        with pytest.raises(PosekitError, match=expected):
            _resume_config(args, stored)
    else:
        cfg = _resume_config(args, stored)
        assert {k: v for k, v in cfg.data.items() if v is not None} == expected
        assert cfg.threads == 1 and cfg.model == stored.model
