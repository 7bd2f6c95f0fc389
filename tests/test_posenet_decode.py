"""PoseNet decoding: hand-made fields with known answers, and parity with the published JS decoder."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from posekit.decode.posenet import (
    NUM_KEYPOINTS,
    POSE_CHAIN,
    DecodedPose,
    decode_multiple_poses,
    decode_single_pose,
    part_candidates,
)
from posekit.errors import PosekitError

STRIDE = 16
REF = Path(__file__).resolve().parents[1] / "tools" / "tfjs-reference"

# A standing person (x, y) in input pixels relative to the nose; dyadic values so that every sum is exact.
TEMPLATE = np.array([
    [0, 0], [7.5, -6.25], [-7.5, -6.25], [15.25, -2.5], [-15.25, -2.5],
    [24.5, 30.75], [-24.5, 30.75], [33.25, 62.5], [-33.25, 62.5], [36.75, 92.25], [-36.75, 92.25],
    [16.5, 96.5], [-16.5, 96.5], [18.25, 136.75], [-18.25, 136.75], [19.5, 174.25], [-19.5, 174.25],
])


def synth_fields(people: list[np.ndarray], peaks: list[np.ndarray], h: int = 25, w: int = 25) -> dict:
    """Fields whose decoding is known: each keypoint peaks at its nearest cell, offsets and displacements
    stored at exactly the cells the decoder reads point to the exact positions."""
    scores = np.full((h, w, NUM_KEYPOINTS), 0.01, np.float32)
    offsets = np.zeros((h, w, 2 * NUM_KEYPOINTS), np.float32)
    fwd = np.zeros((h, w, 2 * len(POSE_CHAIN)), np.float32)
    bwd = np.zeros_like(fwd)
    for xy, peak in zip(people, peaks, strict=True):
        frac = xy / STRIDE - np.floor(xy / STRIDE)
        assert not np.any(frac == 0.5), "keep keypoints off the rounding ties"
        cx, cy = np.rint(xy / STRIDE).astype(int).T
        for k in range(NUM_KEYPOINTS):
            assert scores[cy[k], cx[k], k] == 0.01, "two people share a keypoint cell"
            scores[cy[k], cx[k], k] = peak[k]
            offsets[cy[k], cx[k], k] = xy[k, 1] - cy[k] * STRIDE
            offsets[cy[k], cx[k], k + NUM_KEYPOINTS] = xy[k, 0] - cx[k] * STRIDE
        for e, (p, c) in enumerate(POSE_CHAIN):
            n = len(POSE_CHAIN)
            fwd[cy[p], cx[p], e], fwd[cy[p], cx[p], n + e] = xy[c, 1] - xy[p, 1], xy[c, 0] - xy[p, 0]
            bwd[cy[c], cx[c], e], bwd[cy[c], cx[c], n + e] = xy[p, 1] - xy[c, 1], xy[p, 0] - xy[c, 0]
    return {"scores": scores, "offsets": offsets, "displacements_fwd": fwd, "displacements_bwd": bwd}


PERSON_A = TEMPLATE + [96.25, 60.5]
PERSON_B = TEMPLATE + [288.75, 80.25]
PEAKS_A = 0.9 - 0.01 * np.arange(NUM_KEYPOINTS)
PEAKS_B = 0.8 - 0.01 * np.arange(NUM_KEYPOINTS)


def mean32(values: np.ndarray) -> float:
    """The mean the decoder reports: float32 scores summed in double in keypoint order, over 17."""
    total = 0.0
    for v in np.asarray(values, np.float32).tolist():
        total += v
    return total / NUM_KEYPOINTS


# ---------------------------------------------------------------- hand-made fields, known answers


def test_single_pose_is_cell_times_stride_plus_offset():
    f = synth_fields([PERSON_A, PERSON_B], [PEAKS_A, PEAKS_B])
    pose = decode_single_pose(f["scores"], f["offsets"], STRIDE)
    np.testing.assert_array_equal(pose.xy, PERSON_A)  # exact: dyadic positions survive float32
    np.testing.assert_array_equal(pose.scores, PEAKS_A.astype(np.float32))
    assert pose.score == mean32(PEAKS_A)


def test_single_pose_one_peak_at_a_known_cell():
    scores = np.zeros((9, 7, 17), np.float32)
    offsets = np.zeros((9, 7, 34), np.float32)
    scores[5, 2, :] = 0.75
    offsets[5, 2, :17], offsets[5, 2, 17:] = 3.25, -2.5  # y then x
    pose = decode_single_pose(scores, offsets, STRIDE)
    np.testing.assert_array_equal(pose.xy, np.tile([2 * 16 - 2.5, 5 * 16 + 3.25], (17, 1)))
    assert pose.score == pytest.approx(0.75, abs=0)


def test_single_pose_ties_go_to_the_first_cell_in_row_major_order():
    scores = np.zeros((4, 4, 17), np.float32)
    scores[3, 0, 0] = scores[1, 2, 0] = scores[1, 3, 0] = 0.5
    pose = decode_single_pose(scores, np.zeros((4, 4, 34), np.float32), STRIDE)
    np.testing.assert_array_equal(pose.xy[0], [2 * 16, 1 * 16])


def test_two_separated_people_decode_to_their_exact_keypoints():
    f = synth_fields([PERSON_B, PERSON_A], [PEAKS_B, PEAKS_A])
    poses = decode_multiple_poses(**f, output_stride=STRIDE)
    assert len(poses) == 2
    first, second = poses  # A's nose (0.9) is the strongest root
    np.testing.assert_array_equal(first.xy, PERSON_A)
    np.testing.assert_array_equal(second.xy, PERSON_B)
    np.testing.assert_array_equal(first.scores, PEAKS_A.astype(np.float32))
    assert first.score == mean32(PEAKS_A) and second.score == mean32(PEAKS_B)


@pytest.mark.parametrize(("nms_radius", "expected_poses"), [(40, 1), (33, 1), (31, 2), (20, 2)])
def test_nms_suppresses_roots_near_an_earlier_pose(nms_radius, expected_poses):
    # B is A moved 32 px right: every root of B lies exactly 32 px from A's same keypoint.
    b = PERSON_A + [32, 0]
    f = synth_fields([PERSON_A, b], [PEAKS_A, PEAKS_B])
    poses = decode_multiple_poses(**f, output_stride=STRIDE, nms_radius=nms_radius)
    assert len(poses) == expected_poses
    np.testing.assert_array_equal(poses[0].xy, PERSON_A)
    if expected_poses == 2:
        np.testing.assert_array_equal(poses[1].xy, b)
        assert poses[1].score == mean32(PEAKS_B)  # 32 px > radius: nothing of B is claimed


def test_pose_score_leaves_out_keypoints_claimed_by_an_earlier_pose():
    # B stands 150 px right of A, but B's left wrist (9) is 14.9 px from A's: inside nms_radius 20.
    b = PERSON_A + [150, 0]
    b[9] = PERSON_A[9] + [12.25, 8.5]
    f = synth_fields([PERSON_A, b], [PEAKS_A, PEAKS_B])
    poses = decode_multiple_poses(**f, output_stride=STRIDE)
    assert len(poses) == 2
    np.testing.assert_array_equal(poses[1].xy, b)
    assert poses[1].scores[9] == np.float32(PEAKS_B[9])  # reported per keypoint ...
    kept = np.delete(PEAKS_B.astype(np.float32), 9)
    # ... but not counted in the pose score
    assert poses[1].score == pytest.approx(float(np.sum(kept, dtype=np.float64)) / 17, abs=1e-12)
    wider = decode_multiple_poses(**f, output_stride=STRIDE, nms_radius=10)
    assert wider[1].score == mean32(PEAKS_B)


def test_max_poses_and_score_threshold():
    f = synth_fields([PERSON_A, PERSON_B], [PEAKS_A, PEAKS_B])
    assert len(decode_multiple_poses(**f, output_stride=STRIDE, max_poses=1)) == 1
    assert decode_multiple_poses(**f, output_stride=STRIDE, score_threshold=0.95) == []
    # Only A's nose (0.9) qualifies as a root, but the whole of A is still decoded from it.
    only = decode_multiple_poses(**f, output_stride=STRIDE, score_threshold=0.895)
    assert len(only) == 1 and np.array_equal(only[0].xy, PERSON_A)


def test_local_maximum_window_radius():
    scores = np.zeros((6, 9, 17), np.float32)
    scores[2, 2, 4], scores[2, 4, 4], scores[0, 8, 4] = 0.9, 0.8, 0.6  # 2 cells apart; one at a corner
    ys, xs, ids, vals = part_candidates(scores, 0.5, 1)
    assert list(zip(ys, xs, ids, strict=True)) == [(0, 8, 4), (2, 2, 4), (2, 4, 4)]  # row-major order
    np.testing.assert_array_equal(vals, np.float32([0.6, 0.9, 0.8]))
    ys, xs, ids, _ = part_candidates(scores, 0.5, 2)
    assert list(zip(ys, xs, ids, strict=True)) == [(0, 8, 4), (2, 2, 4)]
    scores[2, 3, 4] = 0.9  # an equal neighbour does not stop a local maximum (JS tests strictly greater)
    ys, xs, ids, _ = part_candidates(scores, 0.5, 1)
    assert list(zip(ys, xs, ids, strict=True)) == [(0, 8, 4), (2, 2, 4), (2, 3, 4)]


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((9, 9, 17), (9, 9, 17), (9, 9, 32), (9, 9, 32)), "offsets: shape (9, 9, 17), expected (9, 9, 34)"),
        (((1, 9, 9, 17), (9, 9, 34), (9, 9, 32), (9, 9, 32)), "scores: shape (1, 9, 9, 17)"),
        (((9, 9, 17), (9, 9, 34), (9, 8, 32), (9, 9, 32)), "displacements_fwd: shape (9, 8, 32)"),
        (((0, 9, 17), (0, 9, 34), (0, 9, 32), (0, 9, 32)), "scores: shape (0, 9, 17), expected (h, w, 17)"),
    ],
)
def test_bad_field_shapes_raise_one_line_errors(shapes, message):
    arrays = [np.zeros(s, np.float32) for s in shapes]
    with pytest.raises(PosekitError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        decode_multiple_poses(*arrays, output_stride=STRIDE)
    assert "\n" not in str(err.value)


def test_decoded_pose_is_a_plain_tuple():
    f = synth_fields([PERSON_A], [PEAKS_A])
    xy, scores, score = decode_multiple_poses(**f, output_stride=STRIDE)[0]
    assert isinstance(decode_single_pose(f["scores"], f["offsets"], STRIDE), DecodedPose)
    assert xy.shape == (17, 2) and scores.shape == (17,) and isinstance(score, float)


# ---------------------------------------------------------------- parity with @tensorflow-models/posenet


def _node_ready() -> bool:
    package = REF / "node_modules" / "@tensorflow-models" / "posenet"
    return shutil.which("node") is not None and package.is_dir()


node = pytest.mark.skipif(not _node_ready(), reason="needs node and tools/tfjs-reference/node_modules")


def write_fields(folder: Path, fields: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, arr in fields.items():
        arr = np.ascontiguousarray(arr, dtype="<f4")
        arr.tofile(folder / f"{name}.f32")
        manifest[name] = list(arr.shape)
    (folder / "fields.json").write_text(json.dumps(manifest))
    return folder


def run_js(script: str, *args: str) -> None:
    proc = subprocess.run(["node", str(REF / script), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def js_decode(folder: Path, *args: str) -> list:
    out = folder / f"js{'_'.join(a.strip('-') for a in args)}.json"
    run_js("posenet_decode.js", str(folder), str(out), *args)
    return json.loads(out.read_text())


def assert_same_poses(ours: list[DecodedPose], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs)
    for i, (p, js) in enumerate(zip(ours, theirs, strict=True)):
        kps = js["keypoints"]
        js_xy = np.array([[k["position"]["x"], k["position"]["y"]] for k in kps])
        js_scores = np.array([k["score"] for k in kps])
        np.testing.assert_allclose(p.xy, js_xy, rtol=0, atol=1e-3, err_msg=f"pose {i}")
        np.testing.assert_allclose(p.scores, js_scores, rtol=0, atol=1e-5, err_msg=f"pose {i}")
        assert abs(p.score - js["score"]) <= 1e-5, f"pose {i}"


def random_fields(seed: int, ties: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(9, 31, size=2)
    scores = rng.random((h, w, 17))
    if ties:  # six score levels: many equal roots, so the heap's tie order decides the output order
        scores = np.floor(scores * 6) / 6
    return {
        "scores": scores.astype(np.float32),
        "offsets": rng.normal(0, 12, (h, w, 34)).astype(np.float32),
        "displacements_fwd": rng.normal(0, 40, (h, w, 32)).astype(np.float32),
        "displacements_bwd": rng.normal(0, 40, (h, w, 32)).astype(np.float32),
    }


RANDOM_CASES = [  # seed, ties, max_poses, score_threshold, nms_radius
    (0, False, 10, 0.5, 20),
    (1, False, 25, 0.3, 12),
    (2, True, 10, 0.5, 20),
    (3, True, 40, 0.5, 8),
    (4, False, 5, 0.9, 30),
]


@node
@pytest.mark.node
@pytest.mark.parametrize(("seed", "ties", "max_poses", "threshold", "nms"), RANDOM_CASES)
def test_multi_pose_parity_on_random_fields(tmp_path, seed, ties, max_poses, threshold, nms):
    f = random_fields(seed, ties)
    folder = write_fields(tmp_path / "fields", f)
    theirs = js_decode(folder, "--max-poses", str(max_poses), "--score-threshold", str(threshold),
                       "--nms-radius", str(nms))
    ours = decode_multiple_poses(**f, output_stride=STRIDE, max_poses=max_poses,
                                 score_threshold=threshold, nms_radius=nms)
    assert len(ours) >= min(max_poses, 5)  # random fields have plenty of roots: the test compares poses
    assert_same_poses(ours, theirs)


@node
@pytest.mark.node
@pytest.mark.parametrize("seed", [0, 2])
def test_single_pose_parity_on_random_fields(tmp_path, seed):
    f = random_fields(seed, ties=seed == 2)
    folder = write_fields(tmp_path / "fields", f)
    assert_same_poses([decode_single_pose(f["scores"], f["offsets"], STRIDE)], js_decode(folder, "--single"))


@node
@pytest.mark.node
@pytest.mark.parametrize(("radius", "ties"), [(1, True), (2, True), (2, False)])
def test_root_queue_pops_in_the_js_order(tmp_path, radius, ties):
    # The whole queue, ties included: candidates from maximum_filter in the JS heap's exact pop order.
    from posekit.decode.posenet import _MaxHeap

    f = random_fields(7, ties)
    folder = write_fields(tmp_path / "fields", f)
    theirs = js_decode(folder, "--queue", "--local-maximum-radius", str(radius), "--score-threshold", "0.4")
    ys, xs, ids, vals = part_candidates(f["scores"], 0.4, radius)
    heap = _MaxHeap()
    for i, v in enumerate(vals.tolist()):
        heap.push(v, i)
    order = [heap.pop() for _ in range(len(heap))]
    ours = [(float(vals[i]), int(ys[i]), int(xs[i]), int(ids[i])) for i in order]
    assert len(ours) > 100
    assert ours == [(q["score"], q["y"], q["x"], q["id"]) for q in theirs]


# ---------------------------------------------------------------- real fields from the posenet graph

PHOTOS = {  # photo -> people posenet finds with pose score > 0.3 (decoded with the JS defaults)
    "media/COCO_val2014_000000000544.jpg": 8,  # a crowd: the decoder stops at max_poses (10)
}


def model_input(photo: Path, size: int = 385) -> np.ndarray:
    """(1, size, size, 3) float32 in -1..1: the photo stretched to the model input."""
    from PIL import Image

    rgb = Image.open(photo).convert("RGB").resize((size, size), Image.BILINEAR)
    return (np.asarray(rgb, np.float32) / 127.5 - 1.0)[None]


def real_fields(model_package: Path, photo: Path, folder: Path) -> dict:
    """Run the posenet graph with pure-JS tfjs; the scores are our float32 sigmoid of its heatmap."""
    raw = folder / "input.f32"
    folder.mkdir(parents=True, exist_ok=True)
    model_input(photo).astype("<f4").tofile(raw)
    run_js("posenet_fields.js", str(model_package / "posenet.json"), str(raw), str(folder))
    manifest = json.loads((folder / "fields.json").read_text())
    f = {n: np.fromfile(folder / f"{n}.f32", "<f4").reshape(s) for n, s in manifest.items()}
    f["scores"] = (1 / (1 + np.exp(-f.pop("heatmap")))).astype(np.float32)
    return f


@node
@pytest.mark.node
@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_parity_on_real_fields_of_a_crowded_photo(shared_data, model_package, tmp_path, photo):
    f = real_fields(model_package, shared_data / photo, tmp_path / "fields")
    assert f["scores"].shape == (25, 25, 17) and f["offsets"].shape == (25, 25, 34)
    folder = write_fields(tmp_path / "fields", f)
    ours = decode_multiple_poses(**f, output_stride=STRIDE)
    assert len(ours) == 10 and sum(p.score > 0.3 for p in ours) == PHOTOS[photo]
    assert_same_poses(ours, js_decode(folder))
    assert_same_poses([decode_single_pose(f["scores"], f["offsets"], STRIDE)], js_decode(folder, "--single"))


@node
@pytest.mark.node
@pytest.mark.network
@pytest.mark.slow
def test_offsets_are_y_first_on_real_fields(shared_data, model_package, tmp_path):
    # A COCO val2017 photo with five annotated people: with offsets read y-first (as the JS decoder does)
    # every person is found within a few pixels; reading the halves the other way round moves the
    # keypoints off the people.
    coco = shared_data / "mmpose-tests" / "coco"
    ann = json.loads((coco / "test_coco.json").read_text())
    image = next(im for im in ann["images"] if im["id"] == 197388)
    people = [np.array(a["keypoints"], float).reshape(17, 3) for a in ann["annotations"]
              if a["image_id"] == 197388 and a["num_keypoints"] > 0]
    assert len(people) == 5
    f = real_fields(model_package, coco / image["file_name"], tmp_path / "fields")
    to_input = np.array([385 / image["width"], 385 / image["height"]])

    def mean_error(offsets: np.ndarray) -> float:
        """Per annotated person, the mean distance (input px) of its labelled keypoints to the best pose."""
        poses = decode_multiple_poses(f["scores"], offsets, f["displacements_fwd"], f["displacements_bwd"],
                                      STRIDE)
        errors = []
        for gt in people:
            seen = gt[:, 2] > 0
            errors.append(min(np.linalg.norm(p.xy[seen] - gt[seen, :2] * to_input, axis=1).mean()
                              for p in poses))
        return float(np.mean(errors))

    folder = write_fields(tmp_path / "fields", f)
    assert_same_poses(decode_multiple_poses(**f, output_stride=STRIDE), js_decode(folder))
    y_first = mean_error(f["offsets"])
    x_first = mean_error(np.concatenate([f["offsets"][..., 17:], f["offsets"][..., :17]], axis=-1))
    assert y_first < STRIDE  # within one heatmap cell on average
    assert x_first > 3 * y_first
