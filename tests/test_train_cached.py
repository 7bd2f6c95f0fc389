"""Fine-tuning heads on cached trunk features (``--cache-features``): the cache reproduces the whole graph's
heads, the MoveNet spec maps LSP's joints onto COCO-17, a tiny run goes end to end through the CLI, resumes,
and exports a zoo graph that onnxruntime and the zoo MoveNet class run with the trained weights."""

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

from posekit.errors import PosekitError  # noqa: E402
from posekit.skeletons import LSP14  # noqa: E402


def _posekit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "posekit", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def test_movenet_spec_maps_lsp_joints_by_name() -> None:
    from posekit.train.pretrained import SPECS, channel_map

    spec = SPECS["movenet-lightning"]()
    # LSP14: r/l ankle, knee, hip, wrist, elbow, shoulder (COCO channels 16..5), neck, head top (none)
    expected = [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, -1, -1]
    assert channel_map(spec, LSP14, allow_missing=True) == expected
    with pytest.raises(PosekitError, match=r"lacks \(neck, head_top\)"):
        channel_map(spec, LSP14)


def test_cached_features_give_the_whole_graphs_heads(tmp_path: Path, model_package: Path) -> None:
    """Heads run on the cached (float16) trunk features equal the whole zoo graph run on the same crop."""
    from posekit.datasets import load_dataset
    from posekit.train.augment import AugmentConfig
    from posekit.train.cached import _batches, head_module, start_tensors
    from posekit.train.features import CacheSpec, build_cache, centred_augment, data_digest
    from posekit.train.generator import PersonDataset
    from posekit.train.onnx_torch import OnnxModule
    from posekit.train.pretrained import early_layers, resolve_init
    from posekit.train.targets import HeatmapCodec

    torch.set_num_threads(1)
    samples = load_dataset(f"lspet:{_lspet_folder(tmp_path / 'lspet', 3)}")
    spec, proto, digest = resolve_init("movenet-lightning")
    augment = AugmentConfig()
    key = CacheSpec(digest, spec.cut, spec.input_size, 2, {}, 0, spec.crop_enlarge, spec.mean, spec.std,
                    data_digest(samples))
    (tmp_path / "cache" / f"{key.key()}.partial").mkdir(parents=True)  # an interrupted build: not reused
    lines: list[str] = []
    cache = build_cache(tmp_path / "cache", key, proto, samples, augment, lines.append)
    assert cache.features.shape == (6, 48, 48, 24) and cache.features.dtype == np.float16
    assert not (tmp_path / "cache" / f"{key.key()}.partial").exists()
    again = build_cache(tmp_path / "cache", key, proto, samples, augment, lines.append)
    assert "reusing" in lines[-1] and again.path == cache.path

    whole = OnnxModule(proto, list(spec.heads), inputs=["input"])
    head = head_module(spec, proto)
    codec = HeatmapCodec(spec.input_size, (1, 1), 1.0)
    for view, aug in ((0, None), (1, augment)):
        data = PersonDataset(samples, codec, centred_augment(aug, spec.crop_enlarge), 0, spec.mean, spec.std)
        item = data.load(view, 2)
        pixels = torch.from_numpy(np.rint(item["image"].transpose(1, 2, 0))[None].astype(np.int32))
        row = view * 3 + 2
        np.testing.assert_allclose(cache.keypoints[row], item["keypoints"], atol=1e-5)
        with torch.no_grad():
            ref = whole(pixels)
            ours = head(torch.from_numpy(np.asarray(cache.features[row : row + 1], np.float32)))
        for r, o in zip(ref, ours, strict=True):
            assert r.shape == o.shape
            assert np.abs(r.numpy() - o.numpy()).max() < 5e-3 * np.abs(r.numpy()).max()

    # --cache-at image: the cache holds the crops themselves (0..255 pixels, exact in float16) and the
    # whole network runs from where the float image enters it
    crops_key = CacheSpec(digest, spec.image, spec.input_size, 2, {}, 0, spec.crop_enlarge, spec.mean,
                          spec.std, data_digest(samples))
    crops = build_cache(tmp_path / "cache", crops_key, None, samples, augment, lines.append)
    assert crops.path != cache.path and crops.features.shape == (6, 192, 192, 3)
    plain = PersonDataset(samples, codec, centred_augment(None, spec.crop_enlarge), 0, spec.mean, spec.std)
    pixels = np.rint(plain.load(0, 2)["image"].transpose(1, 2, 0))  # (x / 255) / (1 / 255): ~integers
    np.testing.assert_array_equal(crops.features[2], pixels)  # view 0 of person 2: integer pixels, exact
    with torch.no_grad():
        ref = whole(torch.from_numpy(pixels[None].astype(np.int32)))
        from_image = head_module(spec, proto, "image")(torch.from_numpy(pixels[None]))
    for r, o in zip(ref, from_image, strict=True):
        assert np.abs(r.numpy() - o.numpy()).max() < 1e-4 * np.abs(r.numpy()).max()

    # --cache-at frozen --freeze-layers 18: the cache holds what the first 18 layers hand to the rest (more
    # than one tensor: the decoder reads block_2's output too), flat side by side; the rest of the graph fed
    # from a cached row equals the whole graph on that view's crop
    starts = start_tensors(spec, proto, "frozen", 18)
    assert len(starts) > 1 and spec.image not in starts
    frozen_key = CacheSpec(digest, ",".join(starts), spec.input_size, 2, {}, 0, spec.crop_enlarge, spec.mean,
                           spec.std, data_digest(samples))
    frozen = build_cache(tmp_path / "cache", frozen_key, proto, samples, augment, lines.append)
    assert frozen.shapes is not None and len(frozen.shapes) == len(starts)
    assert frozen.features.shape == (6, sum(int(np.prod(s)) for s in frozen.shapes))
    rest = head_module(spec, proto, "frozen", 18)
    inputs, _, _ = next(_batches(frozen, np.array([1 * 3 + 2]), 1, False))  # view 1 (augmented) of person 2
    assert [tuple(t.shape[1:]) for t in inputs] == frozen.shapes
    item = PersonDataset(samples, codec, centred_augment(augment, spec.crop_enlarge), 0, spec.mean,
                         spec.std).load(1, 2)
    with torch.no_grad():
        ref = whole(torch.from_numpy(np.rint(item["image"].transpose(1, 2, 0))[None].astype(np.int32)))
        ours = rest(*inputs)
    for r, o in zip(ref, ours, strict=True):
        assert r.shape == o.shape
        assert np.abs(r.numpy() - o.numpy()).max() < 5e-3 * np.abs(r.numpy()).max()
    assert not set(rest.param_names) & early_layers(proto, 18)[0]  # the frozen layers are not in the module


def test_cache_built_by_worker_processes_equals_the_serial_one(tmp_path: Path, model_package: Path) -> None:
    """--num-workers W cuts the views in W forked processes (each with its own trunk session): the cache
    is the same, row for row, as one process builds; an unreadable image is skipped there too."""
    from posekit.datasets import load_dataset
    from posekit.train.augment import AugmentConfig
    from posekit.train.features import CacheSpec, build_cache, data_digest
    from posekit.train.pretrained import resolve_init

    folder = _lspet_folder(tmp_path / "lspet", 5)
    (folder / "images" / "im00004.jpg").write_bytes(b"not a jpeg")
    samples = load_dataset(f"lspet:{folder}")
    spec, proto, digest = resolve_init("movenet-lightning")
    for start, graph in ((spec.cut, proto), (spec.image, None)):
        key = CacheSpec(digest, start, spec.input_size, 3, {}, 0, spec.crop_enlarge, spec.mean, spec.std,
                        data_digest(samples))
        lines: list[str] = []
        one = build_cache(tmp_path / "one", key, graph, samples, AugmentConfig(), lines.append)
        many = build_cache(tmp_path / "many", key, graph, samples, AugmentConfig(), lines.append, workers=2)
        assert "2 process(es)" in lines[-1]
        np.testing.assert_array_equal(np.asarray(many.features), np.asarray(one.features))
        np.testing.assert_array_equal(many.keypoints, one.keypoints)
        np.testing.assert_array_equal(many.labelled, one.labelled)
        bad = [n for n in lines if n.startswith("skipped:") and "im00004.jpg" in n]
        assert len(bad) == 6  # 3 views of the unreadable image, in each build
        assert not one.labelled[3::5].any() and one.labelled[2::5].any()


def _heads_graph(proto: onnx.ModelProto, start: str, outputs: list[str]) -> onnx.ModelProto:
    """The graph's nodes from inner tensor ``start`` (now its input) to ``outputs``, for onnxruntime."""
    from posekit.convert.optimize import needed_nodes

    nodes = needed_nodes(proto.graph, outputs, [start])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(nodes, "heads", [value(start, onnx.TensorProto.FLOAT, None)],
                                   [value(n, onnx.TensorProto.FLOAT, None) for n in outputs],
                                   list(proto.graph.initializer))
    return onnx.helper.make_model(graph, opset_imports=proto.opset_import, ir_version=proto.ir_version)


@pytest.mark.slow
def test_cached_movenet_finetune_cli_resume_export(tmp_path: Path, model_package: Path) -> None:
    import onnxruntime as ort

    from posekit.models.movenet import MoveNet
    from posekit.models.registry import load_model
    from posekit.train.cached import MoveNetObjective, four_heads, head_module
    from posekit.train.checkpoint import load_checkpoint
    from posekit.train.onnx_torch import OnnxModule
    from posekit.train.pretrained import grow, resolve_init

    data = f"lspet:{_lspet_folder(tmp_path / 'lspet', 10)}"
    run = tmp_path / "run"
    common = ["--num-workers", "0", "--threads", "1"]
    r = _posekit("train", "--data", data, "--val-last", "2", "--init", "movenet-lightning", "--out", str(run),
                 *common)  # fmt: skip
    assert r.returncode == 2 and "add --cache-features K" in r.stderr
    r = _posekit("train", "--data", data, "--val-last", "2", "--model", "hourglass-tiny",
                 "--cache-features", "2", "--out", str(run), *common)  # fmt: skip
    assert r.returncode == 2 and "--cache-features needs --init" in r.stderr
    r = _posekit("train", "--data", data, "--val-last", "2", "--init", "movenet-lightning",
                 "--cache-features", "2", "--epochs", "2", "--batch-size", "4", "--lr", "1e-3",
                 "--stop-after", "1", "--out", str(run), *common)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "features: 8 persons x 2 views" in r.stderr
    r = _posekit("train", "--resume", str(run), *common)
    assert r.returncode == 0, r.stderr
    assert "features: reusing" in r.stderr and "resumed" in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["epoch"] == 2
    rows = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2"]

    assert "grows output channels for neck, head_top" in r.stderr

    out = tmp_path / "lightning-ft.onnx"
    r = _posekit("train", "export", str(run / "last.pt"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    # the export is the zoo graph (same nodes, then the grown joints' two per head) with the trained head
    # weights: onnxruntime's raw heads equal the trained torch heads on the same trunk features
    spec, zoo, _ = resolve_init("movenet-lightning")
    spec, grown, _ = grow(spec, zoo, LSP14)
    exported = onnx.load(str(out))
    grown_ops = ["Conv", "Transpose"] * 3
    assert [n.op_type for n in exported.graph.node] == [n.op_type for n in zoo.graph.node] + grown_ops
    head = head_module(spec, grown)
    head.load_state_dict(load_checkpoint(run / "last.pt")["model"])
    feats = np.random.default_rng(0).uniform(0, 6, (1, 48, 48, 24)).astype(np.float32)
    names = list(spec.heads)
    assert len(names) == 7
    session = ort.InferenceSession(_heads_graph(exported, spec.cut, names).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(names, {spec.cut: feats})
    with torch.no_grad():
        want = [t.numpy() for t in head(torch.from_numpy(feats))]
        zoo_heads = [t.numpy() for t in head_module(spec, grown)(torch.from_numpy(feats))]
    for g, w in zip(got, want, strict=True):
        assert np.abs(g - w).max() < 1e-4 * np.abs(w).max()
    assert np.abs(got[0] - zoo_heads[0]).max() > 1e-3  # the heatmap head was trained
    assert np.abs(got[4] - zoo_heads[4]).max() > 1e-3  # and the grown joints' heatmaps
    np.testing.assert_allclose(got[1], zoo_heads[1], atol=1e-4)  # the centre head was kept
    model = load_model(out, threads=1, min_score=0.0)
    assert isinstance(model, MoveNet) and model.spec.graph == str(out)
    assert model.schema.name == "coco17+neck+head_top"
    rgb = np.random.default_rng(1).integers(0, 255, (120, 90, 3), np.uint8)
    poses = model.predict(rgb)
    assert poses.xy.shape[1:] == (19, 2)
    # the runtime (the graph's decoding for the 17, numpy for the grown 2) = the training's decoding of the
    # exported network's heads, computed by torch from the same input image
    tensor, lb = model.preprocess(rgb)
    network = OnnxModule(exported, names, inputs=[spec.image])
    with torch.no_grad():
        heads = network(torch.from_numpy(tensor.astype(np.float32)))
    rows = MoveNetObjective(spec, list(range(19))).decoder(*(h.numpy() for h in four_heads(heads)))
    xy = lb.to_image(rows[0, 0, :, 1::-1] * np.float32(spec.input_size[0]))
    np.testing.assert_allclose(poses.xy[0], xy, atol=0.05)
    np.testing.assert_allclose(poses.scores[0], rows[0, 0, :, 2], atol=1e-4)


def test_movenet_grows_channels_for_lsp_joints(model_package: Path) -> None:
    """LSP's neck and head top on a COCO-17 MoveNet: new channels beside the heads, seeded from the shoulders
    (neck: their mean, exactly, in the linear regression head) and the nose; the zoo's outputs untouched."""
    import onnxruntime as ort

    from posekit.models.movenet import grown_heads
    from posekit.skeletons import get_schema
    from posekit.train.pretrained import channel_map, grow, resolve_init

    spec, zoo, _ = resolve_init("movenet-lightning")
    grown_spec, grown, channels = grow(spec, zoo, LSP14)
    assert grown_spec.schema == "coco17+neck+head_top" and len(grown_spec.joints) == 19
    assert channels == [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 17, 18]
    schema = get_schema(grown_spec.schema)
    assert schema.keypoints[17:] == ("neck", "head_top")
    assert {(schema.keypoints[a], schema.keypoints[b]) for a, b in schema.edges[16:]} == {
        ("neck", "head_top"), ("right_shoulder", "neck"), ("left_shoulder", "neck")}
    x = np.random.default_rng(2).integers(0, 255, (1, 192, 192, 3)).astype(np.int32)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    probe = onnx.ModelProto()
    probe.CopyFrom(grown)  # + the zoo's regression head as an output
    probe.graph.output.append(onnx.helper.make_tensor_value_info(spec.heads[2], onnx.TensorProto.FLOAT,
                                                                 [None] * 4))
    run = [ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
           for m in (zoo, grown, probe)]
    before = run[0].run(None, {"input": x})[0]
    after = run[1].run(None, {"input": x})
    np.testing.assert_array_equal(after[0], before)  # the zoo's output is the same
    names = [o.name for o in run[1].get_outputs()]
    assert names[1:] == list(grown_heads())
    heads = dict(zip(names, after, strict=True))
    regress = run[2].run([spec.heads[2]], {"input": x})[0]  # (1, 48, 48, 34): joint j at 2j, 2j + 1
    neck = heads[grown_heads()[2]][..., 0:2]
    np.testing.assert_allclose(neck, 0.5 * (regress[..., 10:12] + regress[..., 12:14]), atol=1e-4)
    # a grown export as --init keeps its channels; one grown for other joints is refused
    assert grow(spec, grown, LSP14)[1].graph.node[-1].name == grown.graph.node[-1].name
    assert len(grow(spec, grown, LSP14)[1].graph.node) == len(grown.graph.node)
    with pytest.raises(PosekitError, match="grew joints neck,head_top"):
        grow(spec, grown, get_schema("coco17+neck"))
    # a run checkpointed before posekit grew joints (its channels hold -1) resumes and exports ungrown
    before = channel_map(spec, LSP14, allow_missing=True)
    old_spec, old_graph, old_channels = grow(spec, zoo, LSP14, trained=before)
    assert old_spec == spec and old_graph is zoo and old_channels[-2:] == [-1, -1]


def test_distillation_keeps_the_unlabelled_channels_only(model_package: Path) -> None:
    """``--distil``: the loss grows by weight x `distil_loss` against the teacher's heads on the channels
    LSP does not label (COCO's face joints), and not at all for a drift of the labelled channels."""
    from posekit.skeletons import COCO17
    from posekit.train.cached import MoveNetObjective, distil_loss, four_heads
    from posekit.train.pretrained import SPECS, grow, resolve_init

    spec, zoo, _ = resolve_init("movenet-lightning")
    spec, _, channels = grow(SPECS["movenet-lightning"](), zoo, LSP14)
    g = torch.Generator().manual_seed(0)
    shapes = [(2, 48, 48, 17), (2, 48, 48, 1), (2, 48, 48, 34), (2, 48, 48, 34), (2, 48, 48, 2),
              (2, 48, 48, 4), (2, 48, 48, 4)]  # the zoo's four heads, then the grown heatmap/regress/offset
    teacher_out = [torch.randn(s, generator=g) for s in shapes]

    class Teacher(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return teacher_out

    objective = MoveNetObjective(spec, channels)
    objective.teach(Teacher(), 0.5)
    face = [COCO17.index(j) for j in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    assert objective.unlabelled == face
    xy = torch.rand(2, 14, 2) * 150 + 20
    labelled = torch.ones(2, 14, dtype=torch.bool)
    body_drift = [t.clone() for t in teacher_out]
    body_drift[0][..., 5:] -= 2.0  # the labelled joints' heatmaps move: no distillation term
    face_drift = [t.clone() for t in teacher_out]
    face_drift[0][..., face] -= 2.0
    inputs = [torch.zeros(2, 192, 192, 3)]  # the head module's input tensors
    for outputs, extra in ((body_drift, 0.0), (face_drift, None)):
        data = objective.data_loss(outputs, xy, labelled)
        total = objective.loss(outputs, xy, labelled, inputs)
        expected = 0.5 * distil_loss(four_heads(outputs), four_heads(teacher_out), face)
        assert float(total - data) == pytest.approx(float(expected) if extra is None else extra, abs=1e-3)
        assert float(objective.loss(outputs, xy, labelled)) == pytest.approx(float(data))  # no inputs
    assert float(distil_loss(four_heads(face_drift), four_heads(teacher_out), face)) > 10.0


def test_distil_needs_a_cache() -> None:
    r = _posekit("train", "--data", "lspet:/nonexistent", "--out", "/tmp/x", "--init", "movenet-lightning",
                 "--distil", "0.1")
    assert r.returncode != 0 and "--distil" in r.stderr and "Traceback" not in r.stderr


def test_freeze_layers_keeps_the_first_layers_and_trains_the_rest(tmp_path: Path, model_package: Path
                                                                   ) -> None:
    """--freeze-layers 18 on a whole-network MoveNet run (--cache-at image): the stem and blocks 0-5 keep the
    zoo's weights, the trunk's next layer and the heads train, the option is stored for --resume, and
    meaningless uses are refused in one line."""
    from posekit.train.checkpoint import load_checkpoint
    from posekit.train.pretrained import early_layers, resolve_init

    data = f"lspet:{_lspet_folder(tmp_path / 'lspet', 10)}"
    run = tmp_path / "run"
    common = ["--num-workers", "0", "--threads", "1"]
    base = ["train", "--data", data, "--val-last", "2", "--init", "movenet-lightning", "--cache-features",
            "1", "--epochs", "1", "--batch-size", "4", "--lr", "1e-3", "--backbone-lr", "1e-3"]
    r = _posekit(*base, "--freeze-layers", "18", "--cache-at", "image", "--out", str(run), *common)
    assert r.returncode == 0, r.stderr
    assert "the first 18 weight layers (to " in r.stderr and "/block_5_project_BN/" in r.stderr

    _, zoo, _ = resolve_init("movenet-lightning")
    first18, _ = early_layers(zoo, 18)
    first19, _ = early_layers(zoo, 19)
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["train_config"]["freeze_layers"] == 18
    from posekit.train.cached import head_module
    from posekit.train.pretrained import grow

    spec, _, _ = resolve_init("movenet-lightning")
    spec, grown, _ = grow(spec, zoo, LSP14)
    head = head_module(spec, grown, "image")
    zoo_w = {n: p.detach().numpy().copy() for n, p in zip(head.param_names, head.weights, strict=True)}
    head.load_state_dict(ckpt["model"])
    after = {n: p.detach().numpy() for n, p in zip(head.param_names, head.weights, strict=True)}
    moved = {n for n in after if not np.array_equal(after[n], zoo_w[n])}
    assert len(first18) == 36 and first18 <= set(after) and not first18 & moved
    assert first19 - first18 <= moved  # block_6's expansion trained
    assert any("heatmap" in n for n in moved)

    r = _posekit("train", "--resume", str(run), "--freeze-layers", "5", *common)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "freeze_layers 18 -> 5" in r.stderr

    # --cache-at frozen: the same layers frozen, their outputs cached; the export keeps the zoo's first 18
    # layers, carries the trained rest, and runs as the zoo model does
    frozen_run = tmp_path / "frozen"
    r = _posekit(*base, "--freeze-layers", "18", "--cache-at", "frozen", "--out", str(frozen_run), *common)
    assert r.returncode == 0, r.stderr
    assert "--cache-at frozen: the first 18 weight layers stay frozen" in r.stderr
    exported = tmp_path / "frozen.onnx"
    r = _posekit("train", "export", str(frozen_run / "last.pt"), "--out", str(exported), "--no-calibrate")
    assert r.returncode == 0, r.stderr
    trained = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(exported)).graph.initializer}
    zoo_inits = {i.name: onnx.numpy_helper.to_array(i) for i in zoo.graph.initializer}
    assert all(np.array_equal(trained[n], zoo_inits[n]) for n in first18)
    assert any(not np.array_equal(trained[n], zoo_inits[n]) for n in first19 - first18)
    image = Path(data.removeprefix("lspet:")) / "images" / "im00001.jpg"
    r = _posekit("estimate", "--model", str(exported), str(image), "--no-render", "--min-score", "0",
                 "--out", str(tmp_path / "est"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    poses = json.loads((tmp_path / "est" / "im00001.json").read_text())
    assert poses and len(poses[0]["keypoints"]) == 17 + 2  # the zoo's 17 and the grown neck and head top
    r = _posekit(*base, "--cache-at", "frozen", "--out", str(tmp_path / "e"), *common)
    assert r.returncode == 2 and "add --freeze-layers N" in r.stderr and "Traceback" not in r.stderr
    r = _posekit(*base, "--freeze-layers", "18", "--out", str(tmp_path / "b"), *common)  # trunk cached
    assert r.returncode == 2 and "drop --freeze-epochs, --freeze-layers and --backbone-lr" in r.stderr
    r = _posekit(*base, "--freeze-layers", "999", "--cache-at", "image", "--out", str(tmp_path / "c"),
                 *common)  # fmt: skip
    assert r.returncode == 2 and "features:" not in r.stderr  # refused before building a cache
    assert r.stderr.splitlines()[-1].startswith(
        "posekit: error: --freeze-layers 999: the model has 77 weight layers; give 0 to 76")
    r = _posekit("train", "--data", data, "--val-last", "2", "--model", "hourglass-tiny", "--freeze-layers",
                 "2", "--out", str(tmp_path / "d"), *common)  # fmt: skip
    assert r.returncode == 2 and "add --init MODEL" in r.stderr
