"""`posekit train`: train heatmap models (PyTorch), list them, export to ONNX, benchmark the loader.

posekit train --data lspet:PATH --model hourglass-s --epochs E --out RUN_DIR [--val-last N]
posekit train --resume RUN_DIR
posekit train models [--json]
posekit train export CHECKPOINT --out model.onnx
posekit train bench-loader --data lspet:PATH [--model NAME] [--batches N] [--num-workers W]
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train heatmap pose models with PyTorch (needs posekit[train])",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help="training data KIND:PATH (e.g. lspet:/data/lspet-train)")
    p.add_argument("--val-data", help="validation data KIND:PATH (default: hold out part of --data)")
    p.add_argument("--val-last", type=int, help="hold out the last N images of --data for validation")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="hold out this fraction (the last images) when --val-last is not given (default 0.1)",
    )
    p.add_argument("--limit", type=int, help="use only the first N training images (after the hold-out)")
    p.add_argument("--model", default="hourglass-s", help="model name (see `posekit train models`)")
    p.add_argument("--epochs", type=int, help="total epochs (default 10; with --resume: the stored number)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--sigma", type=float, help="heatmap Gaussian sigma in heatmap pixels (default 2 at 64x64)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=2, help="data loader worker processes (default 2)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-augment", action="store_true", help="train on plain crops (no flip/rotation/...)")
    p.add_argument("--out", help="run folder: checkpoints, log.csv, curves.png")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR exactly where it stopped")
    p.add_argument("--stop-after", type=int, help="stop after this many epochs are done (resume later)")
    p.set_defaults(func=_train)
    sub = p.add_subparsers(dest="train_command", metavar="{models,export,eval-onnx,bench-loader}")

    m = sub.add_parser("models", help="trainable models with parameter and FLOP counts")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_models)

    e = sub.add_parser("export", help="checkpoint -> ONNX with posekit metadata")
    e.add_argument("checkpoint", help="a .pt file or a run folder (its best.pt, else last.pt)")
    e.add_argument("--out", required=True, help="the .onnx file to write")
    e.add_argument("--opset", type=int, default=17)
    e.set_defaults(func=_export)

    v = sub.add_parser(
        "eval-onnx", help="PCK@0.2 of an exported LSP-14 model on held-out images (onnxruntime)"
    )
    v.add_argument("model", help="the exported .onnx file")
    v.add_argument("--data", required=True, help="KIND:PATH")
    v.add_argument("--val-last", type=int, help="evaluate the last N images (default: all)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_eval_onnx)

    b = sub.add_parser("bench-loader", help="data loader images/s vs model forward+backward images/s")
    b.add_argument("--data", required=True, help="KIND:PATH")
    b.add_argument("--model", default="hourglass-s")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--batches", type=int, default=10)
    b.add_argument("--num-workers", type=int, default=2)
    b.add_argument("--threads", type=int)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench)


def _load(spec: str) -> list:
    from posekit.datasets import load_dataset

    return load_dataset(spec)


def _split(args: argparse.Namespace) -> tuple[list, list]:
    from posekit.errors import PosekitError

    samples = _load(args.data)
    if args.val_data:
        train, val = samples, _load(args.val_data)
    else:
        n_val = args.val_last if args.val_last is not None else int(round(len(samples) * args.val_fraction))
        if not 0 < n_val < len(samples):
            raise PosekitError(
                f"{args.data}: cannot hold out {n_val} of {len(samples)} images; "
                "set --val-last or --val-fraction"
            )
        train, val = samples[:-n_val], samples[-n_val:]
    if args.limit:
        train = train[: args.limit]
    return train, val


def _train(args: argparse.Namespace) -> int:
    from posekit.errors import PosekitError
    from posekit.train import require_torch

    require_torch()
    from posekit.train.augment import NO_AUGMENT, AugmentConfig
    from posekit.train.checkpoint import load_checkpoint
    from posekit.train.loop import TrainConfig, train

    if args.resume:
        stored = TrainConfig.from_dict(load_checkpoint(args.resume)["train_config"])
        if not args.data:
            raise PosekitError(
                f"--resume {args.resume}: pass the same --data (and --val-last) as the first run"
            )
        cfg = TrainConfig(
            **{
                **stored.__dict__,
                "num_workers": args.num_workers,
                "threads": args.threads,
                "epochs": args.epochs or stored.epochs,
            }
        )
        out = args.resume
    else:
        if not args.data or not args.out:
            raise PosekitError("posekit train needs --data KIND:PATH and --out RUN_DIR (or --resume RUN_DIR)")
        cfg = TrainConfig(
            args.model,
            args.epochs or 10,
            args.batch_size,
            args.lr,
            0.0,
            args.sigma,
            args.seed,
            args.num_workers,
            args.threads,
            NO_AUGMENT if args.no_augment else AugmentConfig(),
        )
        out = args.out
    train_samples, val_samples = _split(args)
    print(f"train: {len(train_samples)} images, val: {len(val_samples)} images", file=sys.stderr)
    history = train(
        cfg, train_samples, val_samples, out, resume=bool(args.resume), stop_after_epoch=args.stop_after
    )
    if history:
        print(json.dumps(history[-1]))
    return 0


def _models(args: argparse.Namespace) -> int:
    from posekit.train import require_torch

    require_torch()
    from posekit.train.flops import count_flops, count_parameters
    from posekit.train.models import MODEL_CONFIGS, create_model

    rows = []
    for name, cfg in MODEL_CONFIGS.items():
        model = create_model(cfg, 14)
        rows.append(
            {
                "name": name,
                "input": f"{cfg.input_size[1]}x{cfg.input_size[0]}",
                "heatmap": f"{cfg.output_size[1]}x{cfg.output_size[0]}",
                "params": count_parameters(model),
                "gflops": round(count_flops(model, cfg.input_size) / 1e9, 4),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'name':18} {'input':>8} {'heatmap':>8} {'params':>10} {'GFLOPs':>8}", end="")
        print("   (14 keypoints; FLOPs = 2 x MACs)")
        for r in rows:
            print(f"{r['name']:18} {r['input']:>8} {r['heatmap']:>8} {r['params']:>10,} {r['gflops']:>8.3f}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from posekit.train import require_torch

    require_torch()
    from posekit.train.export import export_onnx

    path = export_onnx(args.checkpoint, args.out, opset=args.opset)
    print(path)
    return 0


def _eval_onnx(args: argparse.Namespace) -> int:
    from posekit.train.onnx_eval import evaluate_onnx

    samples = _load(args.data)
    if args.val_last:
        samples = samples[-args.val_last :]
    result = evaluate_onnx(args.model, samples)
    for line in result["skipped"]:
        print(f"skipped: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['persons']} persons, PCK@0.2 (torso = right shoulder - left hip), percent:")
        for k, val in result["pck"].items():
            print(f"  {k:10} {100 * val:6.2f}")
        print(f"  training-log rule (bbox fallback): {100 * result['pck_train_rule']:.2f}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from posekit.train import require_torch

    require_torch()
    from posekit.train.bench import bench_loader

    result = bench_loader(
        _load(args.data), args.model, args.batch_size, args.batches, args.num_workers, args.threads
    )
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28} {v}")
    return 0
