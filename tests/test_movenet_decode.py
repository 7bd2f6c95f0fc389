"""MoveNet single-pose decoding in numpy: by hand on made-up heads, then against the graph's own decoder."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.models.movenet import HEADS, SinglePoseDecoder

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
    from posekit.models.movenet import split_onnx
    from posekit.models.runner import Runner

    model = posekit.load_model(name, threads=1)
    assert model.decoder is not None
    graph_decoder = Runner(split_onnx(name, model.spec.input_size)[1], threads=1)
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
                 for h, c in zip(HEADS, (17, 1, 34, 34), strict=True)}
        np.testing.assert_allclose(model.decode(heads), graph_decoder.run(heads)["Identity:0"], atol=2e-6)
