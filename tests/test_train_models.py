"""Model zoo: output shapes, intermediate supervision, parameter and FLOP counts."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # several threads on a shared, busy CPU spin-wait and run many times slower
from torch import nn  # noqa: E402

from posekit.errors import PosekitError  # noqa: E402
from posekit.train.flops import count_flops, count_parameters  # noqa: E402
from posekit.train.loop import heatmap_loss  # noqa: E402
from posekit.train.models import MODEL_CONFIGS, create_model, get_config  # noqa: E402


def test_flops_hand_counted() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # out 8x10x12 = 960 elements x 3*9 MACs = 25,920
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # 960 x 1*9 = 8,640
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),  # in 960 elements x 4*16 = 61,440
        nn.Flatten(),
        nn.Linear(4 * 20 * 24, 5),  # 5 x 1,920 = 9,600
    )
    assert count_flops(net, (10, 12)) == 2 * (25_920 + 8_640 + 61_440 + 9_600)
    assert count_parameters(net) == (3 * 8 * 9 + 8) + (8 * 9 + 8) + (8 * 4 * 16 + 4) + (1920 * 5 + 5)


@pytest.mark.parametrize("name", list(MODEL_CONFIGS))
def test_models_output_one_heatmap_per_keypoint_per_stage(name: str) -> None:
    cfg = get_config(name)
    if cfg.input_size[0] > 64:  # the same layers on a 64 px input: keeps the test fast
        ratio = cfg.input_size[0] // cfg.output_size[0]
        cfg = replace(cfg, input_size=(64, 64), output_size=(64 // ratio, 64 // ratio))
    model = create_model(cfg, 14).eval()
    with torch.no_grad():
        outs = model(torch.zeros(2, 3, *cfg.input_size))
    stages = cfg.n_stacks if name.startswith("hourglass") else 1
    assert len(outs) == stages
    assert all(tuple(o.shape) == (2, 14, *cfg.output_size) for o in outs)


def test_depthwise_is_cheaper_and_sizes_grow() -> None:
    cfg = replace(get_config("hourglass-s"), input_size=(64, 64), output_size=(16, 16))
    dw = create_model(replace(cfg, depthwise=True), 14)
    full = create_model(replace(cfg, depthwise=False), 14)
    assert count_parameters(dw) < 0.6 * count_parameters(full)
    assert count_flops(dw, cfg.input_size) < 0.6 * count_flops(full, cfg.input_size)
    sizes = [
        count_parameters(create_model(n, 14))
        for n in ("efficientpose-s", "efficientpose-m", "efficientpose-l")
    ]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 3


def test_loss_sums_the_supervised_stages() -> None:
    torch.manual_seed(0)
    outs = [torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)]
    target, weights = torch.rand(2, 3, 4, 4), torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    per_stage = [((o - target) ** 2 * weights[:, :, None, None]).mean() for o in outs]
    assert float(heatmap_loss(outs, target, weights)) == pytest.approx(float(per_stage[0] + per_stage[1]))
    outs[0][0, 1] += 100.0  # an unlabelled keypoint's map does not count
    assert float(heatmap_loss(outs, target, weights)) == pytest.approx(float(per_stage[0] + per_stage[1]))


def test_unknown_model_and_bad_sizes_raise() -> None:
    with pytest.raises(PosekitError, match="unknown model 'nope'"):
        create_model("nope", 14)
    with pytest.raises(PosekitError, match="power of two"):
        create_model(replace(get_config("hourglass-tiny"), output_size=(12, 12)), 14)


def test_missing_torch_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from posekit.train import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(PosekitError, match=r"pip install 'posekit\[train\]'"):
        require_torch()


def test_inference_side_modules_and_cli_do_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, posekit.train.export, posekit.train.onnx_eval, posekit.train.targets\n"
        "import posekit.decode.heatmap\n"
        "from posekit.cli import build_parser\n"
        "build_parser()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
