"""Fine-tuned image activity models (`posekit.activity.finetune`) with real onnxruntime / torch parts on a
small generated image folder: the tuned blocks start equal to the frozen trunk, a training step moves only
them, and `posekit activity compare --models image-ft` runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_activity_images import _variants

B6 = "efficientnet-lite4/model/blocks_6/Add_0/add"
B8 = "efficientnet-lite4/model/blocks_8/Add_0/add"
CLASSES = ("astronaut", "camera", "plain")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, model_package) -> Path:
    """8 astronaut crops, 8 cameraman crops, 8 plain colours, 160 px wide, and labels.csv."""
    skdata = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("ft")
    (root / "images").mkdir()
    camera = np.repeat(skdata.camera()[:, :, None], 3, axis=2)
    rows = ["name,class"]
    for cls, images in zip(CLASSES, (_variants(skdata.astronaut(), 8, 0), _variants(camera, 8, 1),
                                     [np.full((120, 160, 3), (30 * i, 200 - 20 * i, 90), np.uint8)
                                      for i in range(8)]), strict=True):
        for i, rgb in enumerate(images):
            Image.fromarray(rgb).resize((160, 160 * rgb.shape[0] // rgb.shape[1])).save(
                root / "images" / f"{cls}{i}.jpg")
            rows.append(f"{cls}{i}.jpg,{cls}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def data(folder):
    """Records, cut tensors and class indices of the folder (features cached under the folder)."""
    from posekit.activity.compare import load_records
    from posekit.activity.finetune import load_cut_tensors

    images, records, _ = load_records(f"images:{folder / 'images'}", str(folder / "labels.csv"),
                                      folder / "cache", 1, False)
    cut = load_cut_tensors(images.paths, folder / "cache", 1, progress=False)
    return images, records, cut, images.y()


def test_tuned_blocks_start_equal_to_the_frozen_trunk(data) -> None:
    import torch

    from posekit.activity.backbone import TrunkFeatures, pool_features
    from posekit.activity.finetune import _network, _proba, tuned_trunk
    from posekit.activity.image_model import design, fit_image_model
    from posekit.images import read_image

    images, records, cut, y = data
    assert cut.shape == (24, 2, 46, 46, 56)
    trunk = TrunkFeatures()
    frozen = trunk.maps(read_image(images.paths[0]).rgb)
    np.testing.assert_array_equal(cut[0, 0], frozen[0])  # the cached tensor is onnxruntime's blocks_6 map
    with torch.no_grad():
        tuned = tuned_trunk()(torch.from_numpy(cut[:1, 0]))[0][0].numpy()
    # the torch blocks 7-8 from the cached tensor give onnxruntime's blocks_8 map
    np.testing.assert_allclose(tuned, frozen[1], atol=2e-4 * np.abs(frozen[1]).max())
    np.testing.assert_allclose(pool_features([cut[0, 0], tuned]), records[0].image, rtol=1e-4, atol=1e-4)
    # and the whole network (tuned blocks + the frozen head) answers the frozen model's probabilities
    for mode in ("image", "image+pose"):
        model = fit_image_model(records, y, images.classes, mode)
        network = _network(tuned_trunk(), model.estimator, model.info["power"], len(images.classes))
        proba = _proba(network, cut, design(records, mode), design(records, mode, flip=True), 8)
        np.testing.assert_allclose(proba, model.predict_proba(records), atol=1e-5)


def test_one_training_step_changes_only_the_tuned_blocks(data) -> None:
    import onnx
    import onnxruntime as ort

    from posekit.activity.backbone import BACKBONES, DEFAULT_BACKBONE, trunk_onnx
    from posekit.activity.finetune import FineTune, _network, optimiser, train_step, tuned_trunk
    from posekit.activity.image_model import design, fit_image_model

    images, records, cut, y = data
    model = fit_image_model(records, y, images.classes, "image")
    trunk = tuned_trunk()
    network = _network(trunk, model.estimator, model.info["power"], len(images.classes))
    proto = onnx.load(trunk_onnx(BACKBONES[DEFAULT_BACKBONE]))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    # the tuned part: exactly the six convolutions (weights + biases) of blocks 7 and 8, the last six
    assert sorted(trunk.param_names) == sorted(i for n in convs[-6:] for i in n.input[1:3])
    before = {n: p.detach().clone() for n, p in network.named_parameters()}
    scaler = network.mean.clone()
    loss = train_step(network, optimiser(network, FineTune()), cut[:, 0], design(records, "image"), y, 1e-3)
    assert np.isfinite(loss)
    changed = {n for n, p in network.named_parameters() if not bool((p == before[n]).all())}
    assert changed == set(before)  # every tuned weight moved (trunk and head) ...
    assert bool((network.mean == scaler).all())  # ... the standardisation did not
    # written back into the trunk graph: blocks_6 (the frozen part) is bit-identical, blocks_8 moved
    new = trunk.write_back(proto)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 368, 368, 3)).astype(np.float32)

    def run(p):
        s = ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"])
        return dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: image}),
                        strict=True))

    old_out, new_out = run(proto), run(new)
    np.testing.assert_array_equal(new_out[B6], old_out[B6])
    assert np.abs(new_out[B8] - old_out[B8]).max() > 1e-4


def test_cli_compare_runs_the_fine_tuned_model(folder, tmp_path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "posekit", "activity", "compare",
                          "--data", f"images:{folder / 'images'}", "--labels", str(folder / "labels.csv"),
                          "--models", "image-ft", "--folds", "2", "--cache", str(folder / "cache"),
                          "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "image-ft" in run.stdout
    report = json.loads((out / "report.json").read_text())
    r = report["models"]["image-ft"]
    assert r["pooled"]["n"] == 24 and len(r["per_fold"]) == 2
    for fold in r["per_fold"]:
        assert [e["epoch"] for e in fold["model_val_curve"]] == [0, 1, 2, 3, 4]
        assert fold["model_best_epoch"] in range(5)
    assert (out / "confusion_image-ft.png").is_file()
    assert len(list((folder / "cache" / "cut-tensors").glob("*.npy"))) == 24


def test_fuse_weights_the_pose_model_only_where_there_is_a_person() -> None:
    from posekit.activity.image_model import fuse

    image = np.array([[0.6, 0.4], [0.2, 0.8]])
    pose = np.array([[0.0, 1.0], [0.0, 0.0]])  # the second image: nobody found
    np.testing.assert_allclose(fuse(image, pose, 0.3), [[0.42, 0.58], [0.2, 0.8]])
    np.testing.assert_allclose(fuse(image, pose, 0.0), image)


def test_late_fusion_model_fits_chooses_its_weight_and_round_trips(data, tmp_path) -> None:
    from posekit.activity.compare import load_image_model, save_image_model
    from posekit.activity.image_model import FUSION_WEIGHTS, fit_image_model

    images, records, _, y = data
    model = fit_image_model(records, y, images.classes, "image+pose-late")
    assert model.info["weight"] in FUSION_WEIGHTS and len(model.info["inner_cv_f1_macro"]) == 5
    proba = model.predict_proba(records)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == y).mean() == 1.0  # three visually distinct classes, seen in training
    loaded, meta = load_image_model(save_image_model(model, tmp_path / "m", {}))
    assert meta["mode"] == "image+pose-late"
    np.testing.assert_array_equal(loaded.predict_proba(records), proba)
