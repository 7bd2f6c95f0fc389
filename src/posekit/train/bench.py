"""Is training input-bound? Data loader images/s against model forward+backward images/s."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from posekit.datasets.sample import Sample
from posekit.train.augment import AugmentConfig
from posekit.train.generator import PersonDataset, make_loader
from posekit.train.loop import default_sigma, heatmap_loss
from posekit.train.models import create_model, get_config
from posekit.train.targets import HeatmapCodec


def bench_loader(
    samples: Sequence[Sample],
    model: str = "hourglass-s",
    batch_size: int = 32,
    batches: int = 10,
    num_workers: int = 2,
    threads: int | None = None,
) -> dict[str, float]:
    """Images/s of the augmenting loader (first batch excluded: worker start-up) and of one training step
    (forward + backward + Adam step, CPU fp32 or CUDA) on batches of ``batch_size``."""
    if threads:
        torch.set_num_threads(threads)
    cfg = get_config(model)
    codec = HeatmapCodec(cfg.input_size, cfg.output_size, default_sigma(cfg.output_size))
    dataset = PersonDataset(samples, codec, AugmentConfig())
    loader = make_loader(dataset, batch_size, True, num_workers, drop_last=True)
    it = iter(loader)
    first = next(it)
    t0, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            n += len(next(it)["image"])
        except StopIteration:
            break
    loader_rate = n / (time.perf_counter() - t0)
    del it

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = create_model(cfg, dataset.schema.num_keypoints).to(device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    images, targets, weights = (first[k].to(device) for k in ("image", "heatmaps", "weights"))

    def step() -> None:
        loss = heatmap_loss(net(images), targets, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    model_rate = batches * len(images) / (time.perf_counter() - t0)
    return {
        "model": model,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "num_workers": num_workers,
        "batch_size": batch_size,
        "loader_images_per_s": round(loader_rate, 1),
        "train_step_images_per_s": round(model_rate, 1),
    }
