"""Where to cut a zoo model for cached-feature fine-tuning: per view, the trunk's cost (onnxruntime, one
thread, batch 1) and the cached tensor's size; per image, the heads' forward + backward above the cut (torch,
one thread) and the whole graph's forward + backward (what the uncached loop pays).

    python benchmarks/bench_finetune_cut.py movenet-lightning movenet-thunder efficientpose [--batch 8]

Prints one JSON line per model: trunk_s, feature_shape, feature_kib (float16), head_step_s_per_image,
whole_step_s_per_image.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def measure(name: str, batch: int, repeats: int = 3) -> dict:
    import torch

    from posekit.train.cached import head_module
    from posekit.train.features import trunk_session
    from posekit.train.onnx_torch import OnnxModule
    from posekit.train.pretrained import resolve_init

    torch.set_num_threads(1)
    spec, proto, _ = resolve_init(name)
    session, feed, integer = trunk_session(proto, spec.cut)
    h, w = spec.input_size
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (1, h, w, 3))
    x = pixels.astype(np.int32) if integer else ((pixels / 255 - 0.5) / 0.5).astype(np.float32)
    feats = session.run(None, {feed.name: x})[0]
    t0 = time.perf_counter()
    for _ in range(repeats):
        feats = session.run(None, {feed.name: x})[0]
    trunk_s = (time.perf_counter() - t0) / repeats

    def step_time(module, inputs) -> float:
        params = [p for p in module.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, 1e-6)
        t0 = time.perf_counter()
        for _ in range(repeats):
            loss = sum(o.float().pow(2).mean() for o in module(inputs))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / repeats / batch

    head = head_module(spec, proto)
    head_s = step_time(head, torch.from_numpy(np.repeat(feats, batch, 0)))
    image = [spec.image] if spec.image else None  # MoveNet: after its int32 -> float cast and resize
    whole = OnnxModule(proto, list(spec.heads or (spec.heatmaps,)), inputs=image)
    whole_x = torch.from_numpy(np.repeat(x, batch, 0).astype(np.float32))
    whole_s = step_time(whole, whole_x)
    return {"model": name, "cut": spec.cut, "trunk_s": round(trunk_s, 4),
            "feature_shape": list(feats.shape[1:]), "feature_kib": round(feats[0].size * 2 / 1024, 1),
            "batch": batch,
            "head_step_s_per_image": round(head_s, 4), "whole_step_s_per_image": round(whole_s, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    for name in args.models:
        print(json.dumps(measure(name, args.batch)), flush=True)


if __name__ == "__main__":
    main()
