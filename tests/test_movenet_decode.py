"""MoveNet single-pose decoding in numpy: by hand on made-up heads, then against the graph's own decoder."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.decode.movenet import MultiPoseDecoder, SinglePoseDecoder

H = W = 8
K = 2


def toy_decoder() -> SinglePoseDecoder:
    y, x = np.mgrid[:H, :W].astype(np.float32)
    weight = 1.0 / (np.sqrt((y - H / 2) ** 2 + (x - W / 2) ** 2) + 1.8)
    return SinglePoseDecoder(weight.astype(np.float32), np.float32(1.8), np.float32(1.0 / H))


def test_decodes_a_made_up_person_exactly() -> None:
    # One person centred at cell (y 3, x 5): joint 0 regressed 2 rows up, joint 1 one column left. The
    # keypoint heatmap has a bright but far cell for joint 0 at (7, 0), which the distance weighting rejects
    # in favour of the dimmer cell next to the regressed point.
    logit = -10.0
    heatmap = np.full((1, H, W, K), logit, np.float32)
    center = np.full((1, H, W, 1), logit, np.float32)
    regress = np.zeros((1, H, W, 2 * K), np.float32)
    offset = np.zeros((1, H, W, 2 * K), np.float32)
    center[0, 3, 5, 0] = 2.0
    center[0, 0, 0, 0] = 2.5  # brighter, but far from the middle: the centre weighting prefers (3, 5)
    regress[0, 3, 5] = [-2.0, 0.0, 0.0, -1.0]  # joint 0 at (1, 5), joint 1 at (3, 4)
    heatmap[0, 7, 0, 0] = 3.0
    heatmap[0, 1, 6, 0] = 1.0
    heatmap[0, 3, 4, 1] = 0.5
    offset[0, 1, 6] = [0.25, -0.5, 0.0, 0.0]
    offset[0, 3, 4] = [0.0, 0.0, 0.5, 0.75]
    out = toy_decoder()(heatmap, center, regress, offset)
    assert out.shape == (1, 1, K, 3)
    sig = 1.0 / (1.0 + np.exp(-np.float32([1.0, 0.5])))
    np.testing.assert_allclose(out[0, 0], [[(1 + 0.25) / H, (6 - 0.5) / H, sig[0]],
                                           [(3 + 0.5) / H, (4 + 0.75) / H, sig[1]]], rtol=1e-6)


def test_a_batch_decodes_as_its_images_one_by_one() -> None:
    rng = np.random.default_rng(1)
    heads = [rng.normal(0, 2, (5, H, W, c)).astype(np.float32) for c in (K, 1, 2 * K, 2 * K)]
    decoder = toy_decoder()
    whole = decoder(*heads)
    for i in range(5):
        np.testing.assert_array_equal(whole[i:i + 1], decoder(*(h[i:i + 1] for h in heads)))


@pytest.mark.network
@pytest.mark.parametrize("name", ["movenet-lightning", "movenet-thunder"])
def test_numpy_decoding_equals_the_graphs_decoder(model_package, name: str) -> None:
    """The graph's decoder part (onnxruntime) and ``SinglePoseDecoder`` give the same rows: on the heads of
    real photos and on random heads (whose arg-maxes fall anywhere)."""
    from skimage import data

    import posekit
    from posekit.convert import cached_onnx
    from posekit.models.movenet import HEADS, split_onnx
    from posekit.models.runner import Runner

    model = posekit.load_model(name, threads=1)
    assert model.decoder is not None
    graph_decoder = Runner(split_onnx(model.spec)[1], threads=1)
    whole = Runner(cached_onnx(name), threads=1)
    photos = [data.astronaut(), np.repeat(data.camera()[:, :, None], 3, axis=2), data.chelsea()]
    rng = np.random.default_rng(0)
    for rgb in photos:
        tensor, _ = model.preprocess(rgb)
        heads = model.runner.run(model.session_input(tensor))
        mine = model.infer(tensor)
        theirs = graph_decoder.run(heads)["Identity:0"]
        np.testing.assert_allclose(mine, theirs, atol=2e-6)
        np.testing.assert_allclose(mine, whole.run({"input": tensor})["Identity:0"], atol=1e-4)
    side = model.spec.input_size // 4
    for _ in range(20):
        heads = {h: rng.normal(0, 3, (1, side, side, c)).astype(np.float32)
                 for h, c in zip(HEADS[False], (17, 1, 34, 34), strict=True)}
        np.testing.assert_allclose(model.decode(heads), graph_decoder.run(heads)["Identity:0"], atol=2e-6)


def test_multipose_decodes_a_made_up_person_exactly() -> None:
    # One centre peak at (y 2, x 3) of an 8 x 10 map, box offset (+0.5, -0.5) and scale (4, 6): the box is
    # y 0.5..4.5, x 0..5.5 (clipped at 0). Joint 0 is regressed to (2, 1): its brightest cell (6, 8) lies
    # outside the box, so the dimmer cell (2, 1) inside is chosen. Joint 1 is regressed outside the box, to
    # (4, 9): its heat at (4, 5), inside, weighs most there, but too little to count in the person score.
    h, w, k = 8, 10, 2
    decoder = MultiPoseDecoder(np.float32(1e-6), np.float32(0.3), np.float32(0.127), people=2)
    heatmap = np.full((1, h, w, k), -20.0, np.float32)
    center = np.full((1, h, w, 1), -20.0, np.float32)
    regress = np.zeros((1, h, w, 2 * k), np.float32)
    offset = np.zeros((1, h, w, 2 * k), np.float32)
    box_scale = np.zeros((1, h, w, 2), np.float32)
    box_offset = np.zeros((1, h, w, 2), np.float32)
    center[0, 2, 3, 0] = 3.0
    box_offset[0, 2, 3] = [0.5, -0.5]
    box_scale[0, 2, 3] = [4.0, 6.0]
    regress[0, 2, 3] = [0.0, -2.0, 2.0, 6.0]  # joint 0 at (2, 1), joint 1 at (4, 9)
    heatmap[0, 6, 8, 0] = 5.0
    heatmap[0, 2, 1, 0] = 1.0
    heatmap[0, 4, 5, 1] = 2.0
    offset[0, 2, 1, :2] = [0.25, 0.5]
    out = decoder(heatmap, center, regress, offset, box_scale, box_offset)
    assert out.shape == (1, 2, 3 * k + 5)
    person = out[0, 0]
    sig = 1.0 / (1.0 + np.exp(-np.float32([1.0, 2.0, 3.0])))
    width = 0.3 * min(h, w)
    np.testing.assert_allclose(person[:3], [(2 + 0.25) / h, (1 + 0.5) / w, sig[0]], rtol=1e-6)
    # joint 1: (4, 5) is the box's best cell (its heat x exp(-(0 + 16) / 2.4)); no offset
    score1 = sig[1] * np.exp(-16 / width)
    np.testing.assert_allclose(person[3:6], [4 / h, 5 / w, score1], rtol=1e-5)
    np.testing.assert_allclose(person[6:10], [0.5 / h, 0.0, 4.5 / h, 5.5 / w], rtol=1e-6)
    kept = [s for s in (sig[0], score1) if s > 0.127]
    np.testing.assert_allclose(person[10], sig[2] * sum(kept) / len(kept), rtol=1e-5)


@pytest.mark.network
def test_multipose_numpy_decoding_equals_the_graphs_decoder(model_package) -> None:
    """The same for MultiPose: real photos at three aspect ratios (two people side by side among them), and
    random heads of odd sizes, whose boxes and peaks fall anywhere."""
    from skimage import data

    import posekit
    from posekit.convert import cached_onnx
    from posekit.models.movenet import HEADS, split_onnx
    from posekit.models.runner import Runner

    model = posekit.load_model("movenet-multipose", threads=1)
    assert isinstance(model.decoder, MultiPoseDecoder)
    graph_decoder = Runner(split_onnx(model.spec)[1], threads=1)
    whole = Runner(cached_onnx("movenet-multipose"), threads=1)
    a = data.astronaut()
    for rgb in (a, np.concatenate([a, a], axis=1), data.coffee(), np.ascontiguousarray(a[:, :200])):
        tensor, _ = model.preprocess(rgb)
        heads = model.runner.run(model.session_input(tensor))
        mine = model.infer(tensor)
        np.testing.assert_allclose(mine, next(iter(graph_decoder.run(heads).values())), atol=1e-6)
        np.testing.assert_allclose(mine, next(iter(whole.run({"input": tensor}).values())), atol=1e-4)
    rng = np.random.default_rng(0)
    for shape in ((8, 12), (5, 5), (16, 9)) * 5:
        heads = {h: rng.normal(0, 2, (1, *shape, c)).astype(np.float32)
                 for h, c in zip(HEADS[True], (17, 1, 34, 34, 2, 2), strict=True)}
        np.testing.assert_allclose(model.decode(heads), next(iter(graph_decoder.run(heads).values())),
                                   atol=1e-6)
