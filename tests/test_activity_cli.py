"""`posekit activity train / eval / predict` end to end in subprocesses, on a generated MPII CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from activity_fixtures import poses, write_mpii_csv
from PIL import Image

pytestmark = pytest.mark.slow  # subprocesses that train a model: ~10 s of CPU in all


def posekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit", "activity", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str, dict]:
    root = tmp_path_factory.mktemp("activity")
    xy, _, labels = poses(60, seed=3)
    missing = np.random.default_rng(4).random((len(xy), 16)) < 0.1
    labels = list(labels)
    labels[0] = labels[61] = "NA"  # no category: dropped and counted
    csv = write_mpii_csv(root / "mpii.csv", xy, labels, missing)
    data = f"mpii-csv:{csv}"
    run = posekit("train", "--data", data, "--model", "gbt", "--seed", "1", "--out", str(root / "model"),
                  "--quiet")
    assert run.returncode == 0, run.stderr
    return root / "model", data, json.loads((root / "model" / "report.json").read_text())


def test_train_writes_model_report_and_confusion_png(trained) -> None:
    model, _, report = trained
    assert sorted(p.name for p in model.iterdir()) == ["confusion_test.png", "model.json", "model.pkl",
                                                       "report.json"]
    assert report["counts"]["person without activity category (NA or empty)"] == 2
    assert report["counts"]["persons"] == 180
    assert [report["counts"][f"{s} persons"] for s in ("train", "val", "test")] == [124, 27, 27]
    test = report["test"]
    cm = np.array(test["confusion"])
    assert cm.sum() == 27 and test["accuracy"] == pytest.approx(np.trace(cm) / 27)
    assert test["accuracy"] >= 0.8  # chance 1/3
    for key in ("f1_macro", "f1_weighted", "f1_micro", "precision_weighted", "recall_weighted"):
        assert 0.0 <= test[key] <= 1.0
    assert test["f1_micro"] == pytest.approx(test["accuracy"])
    base = report["majority_baseline"]["test"]
    # 9 test persons per class; train has 41 'arms down', 41 'arms up' (one NA each), 42 'arms out'
    assert base["label"] == "arms out" and base["accuracy"] == pytest.approx(9 / 27)
    assert base["f1_macro"] == pytest.approx((2 * 9 / (27 + 9)) / 3)
    perturbations = [(r["sigma"], r["dropout"]) for r in report["perturbed_test"]]
    assert perturbations[:3] == [(0.05, 0), (0.1, 0), (0.2, 0)]
    png = Image.open(model / "confusion_test.png")
    assert png.mode == "RGB" and png.width > 3 * 28


def test_eval_recomputes_the_test_metrics(trained) -> None:
    model, data, report = trained
    run = posekit("eval", str(model), "--data", data, "--split", "test", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_weighted", "recall_weighted", "confusion"):
        assert result["test"][key] == report["test"][key]
    assert result["majority_baseline"]["accuracy"] == report["majority_baseline"]["test"]["accuracy"]
    run = posekit("eval", str(model), "--data", data, "--split", "all")
    assert run.returncode == 0 and "all: n=178" in run.stdout


def test_eval_on_another_label_set_fails_in_one_line(trained, tmp_path: Path) -> None:
    model, _, _ = trained
    xy, _, labels = poses(10, seed=9)
    other = write_mpii_csv(tmp_path / "other.csv", xy, ["jumping" if c == "arms up" else c for c in labels])
    run = posekit("eval", str(model), "--data", f"mpii-csv:{other}", "--split", "all")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "['jumping'] are not in the model's label set" in run.stderr


def test_bad_model_folder_fails_in_one_line(trained, tmp_path: Path) -> None:
    model, data, _ = trained
    meta = json.loads((model / "model.json").read_text())
    meta["feature_version"] = 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.pkl").write_bytes((model / "model.pkl").read_bytes())
    (bad / "model.json").write_text(json.dumps(meta))
    run = posekit("eval", str(bad), "--data", data)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "feature_version 0" in run.stderr and "retrain" in run.stderr


@pytest.mark.network
def test_predict_on_people_and_on_an_empty_image(trained, tmp_path: Path, shared_data: Path,
                                                 model_package) -> None:
    model, _, _ = trained
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank)
    run = posekit("predict", str(blank), "--model", str(model), "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "no person found" in run.stderr
    assert json.loads((tmp_path / "out" / "blank.activity.json").read_text())["people"] == []
    photo = shared_data / "media" / "COCO_val2014_000000000192.jpg"
    run = posekit("predict", str(photo), "--model", str(model), "--top-k", "2", "--out",
                  str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "out" / f"{photo.stem}.activity.json").read_text())
    assert len(result["people"]) >= 1
    for person in result["people"]:
        probs = [t["probability"] for t in person["top_k"]]
        assert len(probs) == 2 and probs[0] >= probs[1] and sum(probs) <= 1.0 + 1e-6
        assert {t["category"] for t in person["top_k"]} <= {"arms down", "arms out", "arms up"}
        assert len(person["keypoints"]) == 17
    overlay = Image.open(tmp_path / "out" / f"{photo.stem}.activity.png")
    assert overlay.size == Image.open(photo).size
