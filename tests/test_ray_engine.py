"""The Ray engine on a real local Ray runtime (and a two-node cluster on this machine): parity with the local
engine, a killed actor, resume, and posekit.PoseEstimator in a user's own Ray Data pipeline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from PIL import Image as PILImage  # noqa: E402

from posekit.cli.estimate import load_pipeline  # noqa: E402
from posekit.errors import PosekitError  # noqa: E402
from posekit.estimate import estimate_batch  # noqa: E402
from posekit.ray_engine import (  # noqa: E402
    OPTION_DEFAULTS,
    PoseEstimator,
    estimate_ray,
    find_inputs,
    require_ray,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_runtime():
    """One local Ray runtime (2 CPUs) for the module; workers import this checkout's posekit."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    ray.init(num_cpus=2, runtime_env={"env_vars": env}, log_to_driver=False, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """Real photos: the sample portrait, a 1,000 px JPEG of it (reduced JPEG decode), two people side by side,
    and a file that is not an image."""
    from posekit.samples import sample_image

    folder = tmp_path_factory.mktemp("images")
    photo = PILImage.open(sample_image()).convert("RGB")
    photo.save(folder / "a_portrait.png")
    photo.resize((1000, 1000)).save(folder / "b_large.jpg", quality=92)
    pair = PILImage.new("RGB", (1024, 512))
    pair.paste(photo, (0, 0))
    pair.paste(photo.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT), (512, 0))
    pair.save(folder / "c_pair.jpg", quality=92)
    photo.crop((100, 0, 400, 512)).save(folder / "d_crop.jpg", quality=92)
    (folder / "e_bad.jpg").write_bytes(b"not an image")
    return sorted(folder.iterdir())


def local_results(paths, out: Path, options: dict, fmt="posenet", render=False):
    import argparse

    model = load_pipeline(argparse.Namespace(**{**OPTION_DEFAULTS, **options}), 2)
    return estimate_batch(model, paths, out, fmt=fmt, render=render, progress=False)


def assert_same_poses(a: list[dict], b: list[dict]) -> None:
    """Same people, keypoints within 1e-4 px, scores within 1e-5."""
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        assert pa["score"] == pytest.approx(pb["score"], abs=1e-5)
        xa = np.array([[k["position"]["x"], k["position"]["y"]] for k in pa["keypoints"]])
        xb = np.array([[k["position"]["x"], k["position"]["y"]] for k in pb["keypoints"]])
        np.testing.assert_allclose(xa, xb, atol=1e-4, rtol=0)
        assert [k["part"] for k in pa["keypoints"]] == [k["part"] for k in pb["keypoints"]]


@pytest.mark.parametrize("options, render, decode", [
    ({"model": "movenet-multipose"}, False, "read"),
    ({"model": "movenet-thunder"}, True, "actor"),
])
def test_ray_poses_equal_local_engine(ray_runtime, images, tmp_path, options, render, decode):
    local = local_results(images, tmp_path / "local", options, render=render)
    ray_out = tmp_path / "ray"
    result = estimate_ray(images, ray_out, options, render=render, shard_size=2, decode=decode,
                          progress=False)
    assert result.images == 5 and result.processed == 5 and result.shards == 3
    assert [p for p, _ in result.failed] == [str(images[-1])]
    assert "not a readable image" in result.failed[0][1]
    people = 0
    for path in images[:-1]:
        want = json.loads((tmp_path / "local" / f"{path.stem}.json").read_text())
        got = json.loads((ray_out / f"{path.stem}.json").read_text())
        assert_same_poses(got, want)
        people += len(got)
        assert (ray_out / f"{path.stem}.png").is_file() == render
    assert people == result.people == local.people
    if options["model"] == "movenet-multipose":
        assert len(json.loads((ray_out / "c_pair.json").read_text())) == 2  # both people found
    manifest = json.loads((ray_out / "manifest.json").read_text())
    assert [s["images"] for s in manifest["shards"]] == [2, 2, 1]
    assert sum(s["failed"] for s in manifest["shards"]) == 1


def test_cli_coco_matches_local_engine(ray_runtime, images, tmp_path, capsys):
    from posekit.cli import main

    local_results(images, tmp_path / "local", {"model": "movenet-thunder"}, fmt="coco")
    rc = main(["estimate", *map(str, images), "--engine", "ray", "--model", "movenet-thunder",
               "--format", "coco", "--no-render", "--out", str(tmp_path / "ray"), "--shard-size", "3",
               "--actors", "1", "--cpus-per-actor", "2", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1  # the bad file
    assert "4 image(s)" in captured.out and "img/s" in captured.out
    assert "e_bad.jpg: not a readable image" in captured.err
    want = json.loads((tmp_path / "local" / "results.json").read_text())
    got = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert [r["image_id"] for r in got] == [r["image_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g["keypoints"], w["keypoints"], atol=1e-4, rtol=0)


def test_uris_that_pyarrow_reads(ray_runtime, images, tmp_path):
    """Inputs as URIs (file:// here; s3://, gs://, hdfs:// take the same pyarrow path): listed and read
    through pyarrow's filesystems, the same poses as the local engine; an unreadable URI is recorded."""
    folder = images[0].parent
    uris = find_inputs([f"file://{folder}", f"file://{folder}/missing.jpg"])
    assert uris == [f"file://{p}" for p in images] + [f"file://{folder}/missing.jpg"]
    local_results(images, tmp_path / "local", {"model": "movenet-multipose"})
    result = estimate_ray(uris, tmp_path / "ray", {"model": "movenet-multipose"}, render=False,
                          shard_size=4, progress=False)
    assert sorted(Path(p).name for p, _ in result.failed) == ["e_bad.jpg", "missing.jpg"]
    assert "missing.jpg: cannot read" in dict(result.failed)[uris[-1]]
    for path in images[:-1]:
        assert_same_poses(json.loads((tmp_path / "ray" / f"{path.stem}.json").read_text()),
                          json.loads((tmp_path / "local" / f"{path.stem}.json").read_text()))


def test_killed_actor_loses_and_duplicates_nothing(ray_runtime, images, tmp_path):
    marker = tmp_path / "killed"

    class KillsItselfOnce(PoseEstimator):
        """Dies (the whole worker process, no cleanup) on its first batch, once per test."""

        def __call__(self, batch):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            return super().__call__(batch)

    paths = images[:-1]  # four good images
    clean = estimate_ray(paths, tmp_path / "clean", {"model": "movenet-thunder"}, render=False, shard_size=2,
                         batch_size=1, progress=False)
    result = estimate_ray(paths, tmp_path / "killed_run", {"model": "movenet-thunder"}, render=False,
                          shard_size=2, batch_size=1, actors=1, cpus_per_actor=1, progress=False,
                          estimator=KillsItselfOnce)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # an actor process did die
    assert result.processed == 4 and result.people == clean.people
    lines = [json.loads(line) for s in sorted((tmp_path / "killed_run" / "shards").iterdir())
             for line in s.read_text().splitlines()]
    assert sorted(r["path"] for r in lines) == sorted(map(str, paths))  # each image exactly once
    for path in paths:
        got = json.loads((tmp_path / "killed_run" / f"{path.stem}.json").read_text())
        assert_same_poses(got, json.loads((tmp_path / "clean" / f"{path.stem}.json").read_text()))


def test_the_same_file_twice_gives_two_results(ray_runtime, images, tmp_path):
    result = estimate_ray([images[0], images[0]], tmp_path, {"model": "movenet-thunder"}, render=False,
                          progress=False)
    assert result.processed == 2 and result.images == 2
    lines = (tmp_path / "shards" / "shard-00000.jsonl").read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == [str(images[0])] * 2
    stem = f"{images[0].parent.name}_a_portrait"  # the local engine's names for a repeated stem
    assert sorted(p.name for p in result.written) == [f"{stem}.json", f"{stem}_1.json"]


def test_resume_after_interrupted_job(ray_runtime, images, tmp_path):
    stop = images[3]

    class Interrupted(PoseEstimator):
        """The job dies at the fourth image (an error Ray does not retry)."""

        def __call__(self, batch):
            if str(stop) in [str(p) for p in batch["path"]]:
                raise RuntimeError("interrupted")
            return super().__call__(batch)

    out = tmp_path / "out"
    opts = {"model": "movenet-thunder"}
    with pytest.raises(Exception, match="interrupted"):
        estimate_ray(images, out, opts, render=False, shard_size=1, batch_size=1, actors=1, progress=False,
                     estimator=Interrupted)
    done = sorted(p.name for p in (out / "shards").iterdir())
    assert "shard-00003.jsonl" not in done and not (out / f"{stop.stem}.json").exists()
    with pytest.raises(PosekitError, match="another job"):  # the folder is claimed from the start
        estimate_ray(images[:2], out, opts, render=False, shard_size=1, progress=False)
    # a half-written shard from a killed driver is a temporary file, never a shard
    (out / "shards" / ".shard-00004.jsonl.123.tmp").write_text('{"path": "half')
    result = estimate_ray(images, out, opts, render=False, shard_size=1, batch_size=1, progress=False)
    assert result.skipped_shards == len(done) and result.processed == 5 - len(done)
    assert result.shards == 5 and len(result.failed) == 1
    fresh = estimate_ray(images, tmp_path / "fresh", opts, render=False, shard_size=1, progress=False)
    for path in images[:-1]:
        assert_same_poses(json.loads((out / f"{path.stem}.json").read_text()),
                          json.loads((tmp_path / "fresh" / f"{path.stem}.json").read_text()))
    assert fresh.people == result.people
    again = estimate_ray(images, out, opts, render=False, shard_size=1, progress=False)
    assert again.processed == 0 and again.skipped_shards == 5
    with pytest.raises(PosekitError, match="another job"):
        estimate_ray(images[:2], out, opts, render=False, shard_size=1, progress=False)


def test_pose_estimator_in_a_users_pipeline(ray_runtime, images):
    import posekit

    assert posekit.PoseEstimator is PoseEstimator
    ds = ray.data.from_items([{"path": str(p), "tag": i} for i, p in enumerate(images)])
    rows = ds.map_batches(posekit.PoseEstimator, fn_constructor_kwargs={"model": "movenet-thunder"},
                          compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1, batch_size=2,
                          batch_format="numpy").take_all()
    rows = sorted(rows, key=lambda r: r["tag"])
    assert [r["path"] for r in rows] == [str(p) for p in images]
    assert rows[-1]["error"].startswith(str(images[-1])) and rows[-1]["people"] == 0
    model = posekit.load_model("movenet-thunder", threads=1)
    from posekit.estimate import predict_file

    for row, path in zip(rows[:-1], images[:-1], strict=True):
        _, poses = predict_file(model, path)
        assert_same_poses(json.loads(row["poses"]), poses.to_posenet())


def test_unknown_option_and_missing_ray(monkeypatch, tmp_path, images, capsys):
    with pytest.raises(PosekitError, match="unknown option"):
        PoseEstimator(modell="movenet-thunder")
    with pytest.raises(PosekitError, match="movenet-nope"):
        estimate_ray(images, tmp_path, {"model": "movenet-nope"}, progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(PosekitError, match=r"pip install 'posekit\[ray\]'"):
        require_ray()
    from posekit.cli import main

    assert main(["estimate", str(images[0]), "--engine", "ray", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("posekit: error: --engine ray needs Ray, which is not installed; install it: "
                           "pip install 'posekit[ray]'")


def test_two_node_cluster(ray_runtime, images, tmp_path):
    """A head and a worker node on this machine: actors on both, poses equal the local engine's."""
    from ray.cluster_utils import Cluster

    ray.shutdown()
    src = str(Path(__file__).resolve().parents[1] / "src")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    nodes = tmp_path / "nodes"
    nodes.mkdir()

    class RecordsNode(PoseEstimator):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            (nodes / ray.get_runtime_context().get_node_id()).touch()

    try:
        result = estimate_ray(images, tmp_path / "ray", {"model": "movenet-thunder"}, render=False,
                              address=cluster.address, shard_size=2, batch_size=1, actors=2, cpus_per_actor=1,
                              progress=False, estimator=RecordsNode)  # the engine connects (--ray-address)
        assert ray.cluster_resources()["CPU"] == 2 and len(ray.nodes()) == 2
        assert len(list(nodes.iterdir())) == 2  # one actor on each node
        assert result.processed == 5
        local_results(images, tmp_path / "local", {"model": "movenet-thunder"})
        for path in images[:-1]:
            assert_same_poses(json.loads((tmp_path / "ray" / f"{path.stem}.json").read_text()),
                              json.loads((tmp_path / "local" / f"{path.stem}.json").read_text()))
    finally:
        ray.shutdown()
        cluster.shutdown()
