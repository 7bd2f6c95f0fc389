"""Image activity models: labelled folders (bad input counted), pair features, trunk pooling, and the
three-model cross-validation with real onnxruntime sessions on a small generated image folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from posekit.activity.backbone import masked_pool, pool_features
from posekit.activity.features import CANONICAL_JOINTS
from posekit.activity.imageset import load_image_set
from posekit.activity.pairs import PAIR_NAMES, RICH_FEATURE_NAMES, features_of, flip_joints, pair_features
from posekit.errors import PosekitError


def _write(folder: Path, names: list[str], colour=(200, 30, 30)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (40, 30), colour).save(folder / name)


def test_labels_csv_lists_and_counts_every_bad_input(tmp_path) -> None:
    _write(tmp_path, ["a.jpg", "b.jpg", "c.jpg", "stray.jpg"])
    (tmp_path / "notes.txt").write_text("not an image")
    csv = tmp_path / "labels.csv"
    csv.write_text("name,label,class\na.jpg,0,golf\nb.jpg,1,tennis\nb.jpg,1,golf\nc.jpg,0,golf\n"
                   "gone.jpg,1,tennis\nempty.jpg,1,\n")
    s = load_image_set(f"images:{tmp_path}", csv)
    assert [p.name for p in s.paths] == ["a.jpg", "b.jpg", "c.jpg"]
    assert s.labels.tolist() == ["golf", "tennis", "golf"] and s.classes == ("golf", "tennis")
    assert s.y().tolist() == [0, 1, 0]
    assert s.counts == {"duplicate label rows": 1, "labels without an image": 1, "labels without a class": 1,
                        "images without a label": 1}
    assert s.skipped["labels without an image"] == ["gone.jpg"]
    assert s.skipped["images without a label"] == ["stray.jpg"]


@pytest.mark.parametrize(("labels", "classes", "error"), [
    ("name,class\na.jpg,golf\nb.jpg,tenis\n", ("golf", "tennis"), "unknown class 'tenis'"),
    ("name,label\na.jpg,0\n", None, "needs a header with 'name' and 'class'"),
    ("name,class\nx.jpg,golf\n", None, "no labelled image found"),
    ("name,class\na.jpg,golf\nb.jpg,golf\n", None, "only one class"),
])
def test_bad_labels_raise_one_clear_error(tmp_path, labels, classes, error) -> None:
    _write(tmp_path, ["a.jpg", "b.jpg"])
    (tmp_path / "labels.csv").write_text(labels)
    with pytest.raises(PosekitError, match=error):
        load_image_set(f"images:{tmp_path}", tmp_path / "labels.csv", classes)


def test_folder_per_class_and_a_missing_folder(tmp_path) -> None:
    _write(tmp_path / "golf", ["1.png", "2.png"])
    _write(tmp_path / "tennis", ["3.png"])
    _write(tmp_path, ["loose.png"])
    s = load_image_set(str(tmp_path))
    assert s.labels.tolist() == ["golf", "golf", "tennis"] and s.counts == {"images without a label": 1}
    with pytest.raises(PosekitError, match="no such image folder"):
        load_image_set(f"images:{tmp_path / 'nope'}")


def _person() -> np.ndarray:
    """Canonical joints of an upright person: shoulders at y=100, hips at y=200 (torso 100 px)."""
    j = {"head": (150, 40), "neck": (150, 100), "left_shoulder": (180, 100), "right_shoulder": (120, 100),
         "left_elbow": (190, 150), "right_elbow": (110, 150), "left_wrist": (195, 200),
         "right_wrist": (105, 200), "left_hip": (170, 200), "right_hip": (130, 200),
         "left_knee": (172, 280), "right_knee": (128, 280), "left_ankle": (174, 360),
         "right_ankle": (126, 360)}
    return np.array([[j[n] for n in CANONICAL_JOINTS]], dtype=np.float64)


def test_pair_features_are_scaled_distances() -> None:
    j = _person()
    f = pair_features(j)
    assert f.shape == (1, 91) and len(RICH_FEATURE_NAMES) == 76 + 91
    name = "dist_left_shoulder_right_shoulder"
    assert f[0, PAIR_NAMES.index(name)] == pytest.approx(60 / 100)
    assert f[0, PAIR_NAMES.index("dist_left_wrist_right_ankle")] == pytest.approx(np.hypot(69, 160) / 100)
    assert f[0, PAIR_NAMES.index("dist_head_neck")] == pytest.approx(0.6)
    # scale invariance, and a missing joint zeroes its pairs only
    assert np.allclose(pair_features(j * 3), f)
    j2 = j.copy()
    j2[0, CANONICAL_JOINTS.index("head")] = np.nan
    g = pair_features(j2)
    assert g[0, PAIR_NAMES.index("dist_head_neck")] == 0.0
    assert g[0, PAIR_NAMES.index(name)] == pytest.approx(0.6)
    assert features_of(j, "base").shape == (1, 76) and features_of(j).shape == (1, 167)


def test_flip_joints_mirrors_and_swaps_sides() -> None:
    j = _person()
    f = flip_joints(j, 300)
    ls, rs = CANONICAL_JOINTS.index("left_shoulder"), CANONICAL_JOINTS.index("right_shoulder")
    assert f[0, ls].tolist() == [300 - 120, 100] and f[0, rs].tolist() == [300 - 180, 100]
    assert np.array_equal(flip_joints(f, 300), j)
    # this person is mirror-symmetric about x=150, so mirroring in a 300 px image leaves it unchanged
    assert np.allclose(features_of(f), features_of(j))


def test_pooling_of_trunk_maps() -> None:
    m = np.zeros((4, 4, 2), np.float32)
    m[0, 0, 0] = 8.0  # top-left cell, channel 0
    m[:, :, 1] = np.arange(16).reshape(4, 4)
    v = pool_features([m])
    # [mean, max, cell TL, TR, BL, BR] x 2 channels
    assert v.tolist() == [0.5, 7.5, 8.0, 15.0, 2.0, 2.5, 0.0, 4.5, 0.0, 10.5, 0.0, 12.5]
    mask = np.zeros((4, 4), np.float32)
    mask[3, 3] = 1.0
    mask[0, 0] = 1.0
    assert masked_pool([m], mask).tolist() == [4.0, 7.5]
    assert masked_pool([m], np.zeros((4, 4), np.float32)).tolist() == [0.0, 0.0]


# --- real sessions: EfficientPose's trunk and MoveNet multipose on a small generated folder

def _variants(rgb: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    out = []
    for _ in range(n):
        y0, x0 = rng.integers(0, h // 8), rng.integers(0, w // 8)
        crop = rgb[y0:y0 + h * 7 // 8, x0:x0 + w * 7 // 8].astype(np.float32) * rng.uniform(0.8, 1.1)
        out.append(np.clip(crop, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def sports(tmp_path_factory, model_package) -> Path:
    """8 astronaut photos, 8 cameraman photos (people), 8 plain colours (nobody), 256 px; labels.csv with a
    label for a missing image and an image without a label."""
    skdata = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("sports")
    folder = root / "images"
    folder.mkdir()
    camera = np.repeat(skdata.camera()[:, :, None], 3, axis=2)
    rows = ["name,class"]
    for cls, images in (("astronaut", _variants(skdata.astronaut(), 8, 0)),
                        ("camera", _variants(camera, 8, 1)),
                        ("plain", [np.full((200, 256, 3), (30 * i, 200 - 20 * i, 90), np.uint8)
                                   for i in range(8)])):
        for i, rgb in enumerate(images):
            small = Image.fromarray(rgb).resize((256, 256 * rgb.shape[0] // rgb.shape[1]))
            small.save(folder / f"{cls}{i}.jpg")
            rows.append(f"{cls}{i}.jpg,{cls}")
    Image.new("RGB", (64, 64), "white").save(folder / "unlabelled.jpg")
    rows.append("missing.jpg,plain")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _posekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit", "activity", *args], capture_output=True,
                          text=True, timeout=300)


def test_compare_cross_validates_three_models_and_counts_person_less_images(sports, tmp_path) -> None:
    from posekit.activity.compare import compare_image_models

    cache = sports / "cache"
    report = compare_image_models(f"images:{sports / 'images'}", str(sports / "labels.csv"), tmp_path / "out",
                                  folds=2, seed=0, cache_dir=cache, progress=False)
    assert report["input"]["counts"] == {"labels without an image": 1, "images without a label": 1}
    assert report["backbone"] == "efficientpose-b6-b8" and len(list(cache.glob("*.npz"))) == 24
    image, both, pose = (report["models"][m] for m in ("image", "image+pose", "pose"))
    for r in (image, both, pose):
        cm = np.array(r["pooled"]["confusion"])
        assert r["pooled"]["n"] == 24 and len(r["per_fold"]) == 2
        assert r["pooled"]["accuracy"] == pytest.approx(np.trace(cm) / 24)
    # three visually distinct classes: the frozen trunk separates them all
    assert image["pooled"]["accuracy"] == 1.0 and both["pooled"]["accuracy"] == 1.0
    # nobody in the plain images: the pose-only model's own outcome, counted (and wrong) for each of them
    assert pose["images_without_person"] >= 8
    assert pose["outcome_no_person"] == pose["images_without_person"]
    assert pose["predictions"][report["models"]["pose"]["names"].index("plain0.jpg")] == "(no person)"
    assert pose["pooled"]["per_class"]["plain"]["recall"] == 0.0
    assert pose["pooled"]["accuracy"] <= 16 / 24
    assert (tmp_path / "out" / "confusion_image_pose.png").is_file()
    # cached features: a second run reads them (same numbers)
    again = compare_image_models(f"images:{sports / 'images'}", str(sports / "labels.csv"), tmp_path / "out2",
                                 modes=("image",), folds=2, seed=0, cache_dir=cache, progress=False)
    assert again["models"]["image"]["predictions"] == image["predictions"]


def test_cli_train_and_predict_label_each_person(sports, tmp_path) -> None:
    model = tmp_path / "model"
    run = _posekit("train", "--data", f"images:{sports / 'images'}", "--labels", str(sports / "labels.csv"),
                   "--image-model", "image+pose", "--out", str(model), "--cache", str(sports / "cache"),
                   "--quiet")
    assert run.returncode == 0, run.stderr
    meta = json.loads((model / "model.json").read_text())
    assert meta["mode"] == "image+pose" and meta["labels"] == ["astronaut", "camera", "plain"]
    run = _posekit("predict", str(sports / "images" / "astronaut3.jpg"), str(sports / "images" / "nope.jpg"),
                   "--model", str(model), "--out", str(tmp_path / "pred"), "--json")
    assert run.returncode == 1 and "nope.jpg" in run.stderr  # the batch goes on past a bad file
    result = json.loads(run.stdout)[0]
    assert result["top_k"][0]["category"] == "astronaut"
    assert result["people"] and result["people"][0]["top_k"][0]["category"] == "astronaut"
    assert {p["role"] for p in result["people"]} >= {"central"}


def test_cli_unknown_labels_file_is_one_line(sports, tmp_path) -> None:
    run = _posekit("compare", "--data", f"images:{sports / 'images'}", "--labels", str(tmp_path / "no.csv"),
                   "--out", str(tmp_path / "o"))
    assert run.returncode != 0 and run.stderr.strip().count("\n") == 0
    assert "no.csv" in run.stderr and "labels" in run.stderr
