"""EfficientPose: the input normalisation measured on real photos, MPII-16 output, real onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest

import posekit
from posekit.models.efficientpose import GRAPH_JOINTS, NORMALISATIONS, TO_MPII
from posekit.skeletons import MPII16

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


@pytest.fixture(scope="module")
def models(model_package):
    return {n: posekit.load_model("efficientpose", normalisation=n, min_score=0.0) for n in NORMALISATIONS}


def test_channel_permutation_reaches_every_mpii_joint():
    assert sorted(TO_MPII) == list(range(16))
    assert [GRAPH_JOINTS[c] for c in TO_MPII] == list(MPII16.keypoints)


def test_astronaut_peak_confidence_per_normalisation(models, astronaut):
    # Mean heatmap peak over the 16 joints on the astronaut (a bust portrait, out of MPII's full-body
    # distribution): -1..1 gives the strongest peaks (0.32), the JS wrapper's x*2-1 the flattest (0.15).
    peaks = {}
    for name, model in models.items():
        tensor, _ = model.preprocess(astronaut)
        peaks[name] = float(model.infer(tensor).reshape(16, -1).max(axis=1).mean())
    assert peaks["minus1_1"] == pytest.approx(0.316, abs=0.02)
    assert peaks["times2_minus1"] == pytest.approx(0.147, abs=0.02)
    assert peaks["minus1_1"] > 2 * peaks["times2_minus1"] and peaks["minus1_1"] > peaks["imagenet"]


def test_astronaut_neck_and_thorax_below_the_face(models, astronaut):
    poses = models["minus1_1"].predict(astronaut)
    assert len(poses) == 1 and poses.schema is MPII16
    neck, thorax = poses.xy[0, MPII16.index("upper_neck")], poses.xy[0, MPII16.index("thorax")]
    # Chin / neck ring of the suit near (215, 190), read off the photo.
    assert np.hypot(*(neck - [215, 190])) < 25 and np.hypot(*(thorax - [215, 195])) < 25
    assert 0 <= poses.scores.min() and poses.scores.max() <= 1


def _mpii_hits(model, shared_data) -> tuple[int, int]:
    """Joints within half a head segment (head_top - upper_neck) of the truth on the 5 mmpose MPII crops
    (non-square crops: the letterbox padding and its mapping back are part of what is checked)."""
    from PIL import Image

    folder = shared_data / "mmpose-tests" / "mpii"
    hits = total = 0
    for rec in json.loads((folder / "test_mpii.json").read_text()):
        im = np.asarray(Image.open(folder / rec["image"]).convert("RGB"))
        c, half = np.array(rec["center"]), rec["scale"] * 200 * 1.25 / 2
        x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - half))
        crop = im[y0:int(min(im.shape[0], c[1] + half)), x0:int(min(im.shape[1], c[0] + half))]
        xy = model.predict(crop).xy[0] + [x0, y0]
        gt, vis = np.array(rec["joints"]), np.array(rec["joints_vis"]) > 0
        head = np.linalg.norm(gt[MPII16.index("head_top")] - gt[MPII16.index("upper_neck")])
        hits += int(((np.linalg.norm(xy - gt, axis=1) <= 0.5 * head) & vis).sum())
        total += int(vis.sum())
    return hits, total


@pytest.mark.slow
def test_mpii_photos_choose_minus1_to_1(models, shared_data):
    # Measured: -1..1 76/76, ImageNet mean/std 72/76, the JS wrapper's x*2-1 41/76.
    hits = {name: _mpii_hits(model, shared_data) for name, model in models.items()}
    assert hits["minus1_1"][0] >= 0.95 * hits["minus1_1"][1]
    assert hits["times2_minus1"][0] <= 0.7 * hits["times2_minus1"][1]
    assert max(hits, key=lambda n: hits[n][0]) == "minus1_1"
