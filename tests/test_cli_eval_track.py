"""``posekit eval track`` on PoseTrack-style files the tests write, and on the real PoseTrack18 sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posekit.cli import main
from posekit.skeletons import COCO17

POSETRACK_NAMES = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", *COCO17.keypoints[5:]]
CENTERS = {0: (100.0, 100.0), 1: (400.0, 100.0)}  # two people 300 px apart; head size 0.6 x 50 = 30 px


def person_xy(center: tuple[float, float]) -> np.ndarray:
    """17 joints spread 10 px apart around ``center`` (all far closer to it than to the other person)."""
    return np.array(center) + np.stack([np.arange(17) * 3.0 - 24, np.arange(17) % 4 * 10.0], axis=1)


def write_gt(path: Path, frames: int = 5, names: list[str] = POSETRACK_NAMES, head: bool = True,
             labelled: list[bool] | None = None) -> None:
    images, anns = [], []
    for f in range(frames):
        images.append({"id": 1000 + f, "file_name": f"images/val/000001_test/{f:06d}.jpg",
                       "frame_id": 1000 + f, "vid_id": "000001", "nframes": frames,
                       "is_labeled": True if labelled is None else labelled[f]})
        for tid, c in CENTERS.items():
            kp = np.concatenate([person_xy(c), np.ones((17, 1))], axis=1)
            kp[3:5] = 0  # ears unlabelled, as in PoseTrack18
            ann = {"image_id": 1000 + f, "track_id": tid, "keypoints": kp.ravel().tolist(),
                   "bbox": [c[0] - 40, c[1] - 40, 80, 120], "id": 10 * f + tid, "category_id": 1}
            if head:
                ann["bbox_head"] = [c[0] - 15, c[1] - 40, 30, 40]
            anns.append(ann)
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person", "keypoints": names}]}))


def write_jsonl(path: Path, frames: range, swap_from: int | None = None, dx: float = 0.0,
                extra_score: float | None = None) -> None:
    lines = []
    for f in frames:
        poses = []
        for tid, c in CENTERS.items():
            track = 1 - tid if swap_from is not None and f >= swap_from else tid
            xy = person_xy(c) + [dx, 0]
            kps = [{"part": n, "position": {"x": float(x), "y": float(y)}, "score": 0.9}
                   for n, (x, y) in zip(COCO17.keypoints, xy, strict=True)]
            if extra_score is not None:
                kps[0]["score"] = extra_score
            poses.append({"score": 0.9, "keypoints": kps, "track_id": 10 + track})
        lines.append(json.dumps({"frame": f, "time": f / 25, "poses": poses}))
    path.write_text("\n".join(lines) + "\n")


def run_json(capsys, *args: str | Path) -> dict:
    assert main(["eval", "track", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


SCORED = [n for n in POSETRACK_NAMES if n not in ("head_bottom", "head_top", "left_ear", "right_ear")]


@pytest.mark.parametrize("swap_from, dx, idsw, mota, motp", [
    (None, 0.0, 0, 100.0, 100.0),
    (2, 0.0, 2, 80.0, 100.0),  # both GT tracks switch once, per joint: 2 of 10 GT keypoints
    (None, 3.0, 0, 100.0, 90.0),  # 3 px = 0.1 head size
    (None, 16.0, 0, -100.0, 0.0),  # beyond half a head: every keypoint is a miss and a false positive
])
def test_jsonl_predictions_exact_numbers(tmp_path, capsys, swap_from, dx, idsw, mota, motp) -> None:
    write_gt(tmp_path / "gt.json")
    write_jsonl(tmp_path / "pred.jsonl", range(5), swap_from, dx)
    out = run_json(capsys, "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.jsonl")
    assert out["rule"] == "head" and out["frames"] == 5
    assert out["joints_left_out"] == ["head_bottom", "head_top", "left_ear", "right_ear"]
    assert list(out["metrics"]) == [*SCORED, "total"]
    for name in SCORED:
        m = out["metrics"][name]
        assert (m["num_gt"], m["num_switches"]) == (10, idsw)
        assert m["mota"] == pytest.approx(mota) and m["motp"] == pytest.approx(motp)
    assert out["metrics"]["total"]["num_switches"] == idsw * 13


def test_missing_frame_counts_misses_and_min_score_drops_keypoints(tmp_path, capsys) -> None:
    write_gt(tmp_path / "gt.json")
    write_jsonl(tmp_path / "pred.jsonl", range(4), extra_score=0.2)  # no line for frame 4; noses score 0.2
    out = run_json(capsys, "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.jsonl",
                   "--min-keypoint-score", "0.3")
    assert out["frames_without_predictions"] == 1
    nose, hip = out["metrics"]["nose"], out["metrics"]["left_hip"]
    assert (nose["num_gt"], nose["num_misses"], nose["num_matches"]) == (10, 10, 0)
    assert (hip["num_misses"], hip["num_matches"], hip["mota"]) == (2, 8, pytest.approx(80.0))


def test_posetrack_json_predictions_and_oks_rule_without_head_boxes(tmp_path, capsys) -> None:
    write_gt(tmp_path / "gt.json", names=list(COCO17.keypoints), head=False)
    pred = json.loads((tmp_path / "gt.json").read_text())
    for ann in pred["annotations"]:
        kp = np.array(ann["keypoints"], float).reshape(17, 3)
        kp[:, 0] += 2.0
        kp[:, 2] = 0.8
        kp[3:5] = 0  # (0, 0, 0): not predicted, as poseval's converter reads it
        ann["keypoints"], ann["scores"], ann["score"] = kp.ravel().tolist(), kp[:, 2].tolist(), 0.8
        del ann["bbox"]
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    out = run_json(capsys, "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.json")
    assert out["rule"] == "oks" and out["joints_left_out"] == ["left_ear", "right_ear"]
    area = 80 * 120  # the GT bbox area (no 'area' field)
    for name in ("nose", "left_ankle"):
        k = 2 * dict(zip(COCO17.keypoints, [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062,
                                            .107, .107, .087, .087, .089, .089], strict=True))[name]
        sim = np.exp(-4.0 / (2 * area * k ** 2))
        assert out["metrics"][name]["motp"] == pytest.approx(100 * sim)
        assert out["metrics"][name]["mota"] == 100.0


def test_folders_pair_by_stem_and_poseval_frames(tmp_path, capsys) -> None:
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    write_gt(tmp_path / "gt" / "000001_test.json", labelled=[True, False, True, True, True])
    write_jsonl(tmp_path / "pred" / "000001_test.jsonl", range(5))
    out = run_json(capsys, "--gt", tmp_path / "gt", "--pred", tmp_path / "pred")
    assert out["frames"] == 4 and out["metrics"]["nose"]["num_gt"] == 8
    out = run_json(capsys, "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--poseval-frames")
    assert out["frames"] == 3 and out["metrics"]["nose"]["num_gt"] == 6  # poseval drops the last frame


def test_table_output(tmp_path, capsys) -> None:
    write_gt(tmp_path / "gt.json", frames=3)
    write_jsonl(tmp_path / "pred.jsonl", range(3), swap_from=1)
    assert main(["eval", "track", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "pred.jsonl")
                 ]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["joint", "MOTA", "MOTP", "Prec", "Rec", "IDSW", "numGT", "FP", "FN"]
    assert lines[2].split() == ["nose", "66.7", "100.0", "100.0", "100.0", "2", "6", "0", "0"]
    assert lines[15].split() == ["total", "66.7", "100.0", "100.0", "100.0", "26", "78", "0", "0"]
    assert lines[-1] == ("left out (not predicted, or never labelled in the GT): "
                         "head_bottom, head_top, left_ear, right_ear")


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    write_gt(tmp / "gt.json")
    write_jsonl(tmp / "pred.jsonl", range(5))
    write_jsonl(tmp / "late.jsonl", range(50, 52))
    (tmp / "junk.json").write_text("{not json")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "mpii.jsonl").write_text(json.dumps({"frame": 0, "poses": [{"track_id": 1, "keypoints": [
        {"part": "thorax", "position": {"x": 1, "y": 2}, "score": 1}]}]}) + "\n")
    (tmp / "noid.jsonl").write_text(json.dumps({"frame": 0, "poses": [{"keypoints": []}]}) + "\n")
    gt, pred = str(tmp / "gt.json"), str(tmp / "pred.jsonl")
    return {
        "missing": (["--gt", str(tmp / "nope.json"), "--pred", pred], "nope.json: no such file or folder"),
        "not json": (["--gt", gt, "--pred", str(tmp / "junk.json")], "junk.json: not valid JSON"),
        "wrong layout": (["--gt", str(tmp / "list.json"), "--pred", pred], "list.json: not a PoseTrack JSON"),
        "no joints": (["--gt", gt, "--pred", str(tmp / "mpii.jsonl")], "share none with"),
        "no frames": (["--gt", gt, "--pred", str(tmp / "late.jsonl")], "no predicted frame of any video"),
        "no track id": (["--gt", gt, "--pred", str(tmp / "noid.jsonl")], "pose 0 has no integer 'track_id'"),
    }


@pytest.mark.parametrize("case", ["missing", "not json", "wrong layout", "no joints", "no frames",
                                  "no track id"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case: str) -> None:
    args, message = _bad_inputs(tmp_path)[case]
    assert main(["eval", "track", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("posekit: error: ")


def test_subprocess_exit_code(tmp_path) -> None:
    args, _ = _bad_inputs(tmp_path)["no frames"]
    out = subprocess.run([sys.executable, "-m", "posekit", "eval", "track", *args], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1


# --- the real PoseTrack18 sample (mmpose's test files) ----------------------------------------------------

def test_real_gt_against_itself(shared_data, capsys) -> None:
    gt = shared_data / "mmpose-tests/posetrack18/annotations/val"
    out = run_json(capsys, "--gt", gt, "--pred", gt)
    total = out["metrics"]["total"]
    assert (out["rule"], out["videos"], out["joints_left_out"]) == ("head", 3, ["left_ear", "right_ear"])
    assert (total["mota"], total["motp"], total["num_switches"], total["num_gt"]) == (100.0, 100.0, 0, 181)


def test_real_people_with_two_ids_swapped(shared_data, tmp_path, capsys) -> None:
    """Video 012834's one labelled frame (11 people) repeated as 6 frames; tracks 0 and 1 swap ids from
    frame 3 in the predictions: each of their labelled joints switches once (its GT track now pairs with
    the other id), the other nine people's never."""
    src = json.loads((shared_data / "mmpose-tests/posetrack18/annotations/val/012834_mpii_test.json")
                     .read_text())
    img, anns = src["images"][0], src["annotations"]
    gt = {"categories": src["categories"], "images": [], "annotations": []}
    for f in range(6):
        gt["images"].append(dict(img, id=f, file_name=f"images/val/012834_mpii_test/{f:06d}.jpg"))
        gt["annotations"] += [dict(a, image_id=f, id=100 * f + n) for n, a in enumerate(anns)]
    pred = json.loads(json.dumps(gt))
    for a in pred["annotations"]:
        if a["image_id"] >= 3 and a["track_id"] in (0, 1):
            a["track_id"] = 1 - a["track_id"]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    out = run_json(capsys, "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.json")
    assert [a["track_id"] for a in anns[:2]] == [0, 1]
    names = src["categories"][0]["keypoints"]
    expected = {n: int(anns[0]["keypoints"][3 * k + 2] > 0) + int(anns[1]["keypoints"][3 * k + 2] > 0)
                for k, n in enumerate(names) if n not in ("left_ear", "right_ear")}
    assert {n: m["num_switches"] for n, m in out["metrics"].items() if n != "total"} == expected
    assert out["metrics"]["total"]["num_switches"] == 25  # 11 + 14 labelled joints
