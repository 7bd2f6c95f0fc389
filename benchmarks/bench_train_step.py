"""One MoveNet training step (forward + backward, batch 64 by default, grown to LSP's 14 joints,
``--freeze-layers 18``) in four variants, each round run in its own process and the variants alternated:
from the cached crops (``--cache-at image``) or from the frozen layers' cached outputs
(``--cache-at frozen``), each with glibc's default allocator settings or with
``posekit.train.loop.keep_freed_memory`` (which the trainer calls).

    python benchmarks/bench_train_step.py [--model movenet-lightning] [--rounds 3] [--steps 5] [--threads 2]

Prints per variant the steady-state seconds per step (median over each process's steps after the first) per
round, and the ratios to ``image`` (the default allocator) round by round.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VARIANTS = ("image", "image+keep", "frozen", "frozen+keep")


def one(model: str, variant: str, steps: int, threads: int, batch: int) -> float:
    import numpy as np
    import torch

    from posekit.skeletons import LSP14
    from posekit.train.cached import _objective, head_module
    from posekit.train.loop import keep_freed_memory
    from posekit.train.onnx_torch import OnnxModule
    from posekit.train.pretrained import early_layers, grow, resolve_init

    torch.set_num_threads(threads)
    if variant.endswith("+keep") and not keep_freed_memory():
        raise SystemExit("keep_freed_memory: no glibc mallopt here")
    spec, proto, _ = resolve_init(model)
    spec, proto, channels = grow(spec, proto, LSP14)
    fixed, _ = early_layers(proto, 18)
    at = variant.split("+")[0]
    module = head_module(spec, proto, at, 18)
    size = spec.input_size
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (batch, *size, 3)).astype(np.float32))
    if at == "frozen":
        with torch.no_grad():
            inputs = OnnxModule(proto, module.inputs, inputs=[spec.image])(x)
    else:
        inputs = [x]
    for name, p in zip(module.param_names, module.weights, strict=True):
        p.requires_grad_(name not in fixed and "center_0/" not in name)
    objective = _objective(spec, channels, spec.sigma)
    xy = torch.rand(batch, 14, 2) * size[0]
    labelled = torch.ones(batch, 14, dtype=torch.bool)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        objective.loss(module(*inputs), xy, labelled).backward()
        times.append(time.perf_counter() - t)
        module.zero_grad(set_to_none=True)
    return float(np.median(times[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="movenet-lightning")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(one(args.model, args.variant, args.steps, args.threads, args.batch)))
        return
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for v in VARIANTS:
            cmd = [sys.executable, __file__, "--variant", v, "--model", args.model,
                   "--steps", str(args.steps), "--threads", str(args.threads), "--batch", str(args.batch)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results[v].append(json.loads(out.splitlines()[-1]))
    base = results["image"]
    print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads,
                      "seconds_per_step": {v: [round(t, 3) for t in ts] for v, ts in results.items()},
                      "ratio_to_image": {v: [round(t / b, 2) for t, b in zip(ts, base, strict=True)]
                                         for v, ts in results.items() if v != "image"}}, indent=1))


if __name__ == "__main__":
    main()
