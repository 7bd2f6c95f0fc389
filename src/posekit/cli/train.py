"""`posekit train`: train heatmap models (PyTorch), list them, export to ONNX, benchmark the loader.

posekit train --data lspet:PATH --model hourglass-s --epochs E --out RUN_DIR [--val-last N]
posekit train --data lspet:PATH --init efficientpose --freeze-epochs 1 --out RUN_DIR   (fine-tune a zoo model)
posekit train --data lspet:PATH --init movenet-thunder --cache-features 4 --out RUN_DIR   (heads only, on
    trunk features computed once for 4 views per person)
posekit train --resume RUN_DIR   (everything else is stored in the run)
posekit train models [--json]
posekit train export CHECKPOINT --out model.onnx
posekit train calibrate model.onnx --data lspet:PATH --skip N --limit M --out calibrated.onnx   (a fine-tuned
    MoveNet's joint scores matched to its zoo model's on photos the run did not train on; or --photos DIR)
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
        help="hold out this fraction (the last images) when --val-last is not given (default 0.1)",
    )
    p.add_argument("--limit", type=int, help="use only the first N training images (after the hold-out)")
    p.add_argument("--model", help="model trained from scratch (`posekit train models`; default hourglass-s)")
    p.add_argument("--init", metavar="MODEL",
                   help="fine-tune a pretrained model: a zoo name (efficientpose) or an .onnx from `posekit "
                        "train export` of such a run; its heads are mapped onto the data's joints by name")
    p.add_argument("--freeze-epochs", type=int, default=0,
                   help="with --init: keep the pretrained backbone frozen for the first N epochs (default 0)")
    p.add_argument("--freeze-layers", type=int, metavar="N",
                   help="with --init: keep the pretrained model's first N weight layers (convolutions in "
                        "graph order: the stem and the earliest blocks) frozen for the whole run; steps get "
                        "faster, as backward stops above them (MoveNet: 18 = up to block_5; default 0)")
    p.add_argument("--backbone-lr", type=float,
                   help="with --init: learning rate of the pretrained backbone (default --lr / 10)")
    p.add_argument("--cache-features", type=int, metavar="K",
                   help="with --init: keep the pretrained trunk frozen for the whole run, compute its "
                        "features once for K views of each person (the plain crop and K-1 augmented ones; "
                        "stored under RUN_DIR/features, reused when the model, data, augmentation and seed "
                        "match) and train only the heads above it; the MoveNets train this way only")
    p.add_argument("--cache-at", choices=("trunk", "image", "frozen"), default="trunk",
                   help="with --cache-features: 'trunk' caches the frozen trunk's features and trains the "
                        "heads; 'image' caches the augmented crops and trains the whole network (the trunk "
                        "at --backbone-lr); 'frozen' (with --freeze-layers N) caches what the first N "
                        "layers compute from each view and trains the rest as 'image' does, without "
                        "running those layers again each epoch")
    p.add_argument("--distil", type=float, default=0.0, metavar="W",
                   help="MoveNet with --cache-features: weight of keeping the zoo model's heads on the "
                        "joints the data does not label (LSP: the face), so their scores and places do not "
                        "drift (default 0: no loss on them)")
    p.add_argument("--epoch-size", type=int,
                   help="persons per epoch, a fresh random subset each epoch (default: all)")
    p.add_argument("--val-limit", type=int, help="validate on the first N held-out images only")
    p.add_argument("--epochs", type=int, help="total epochs (default 10; with --resume: the stored number)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (with --init: of the head)")
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
    sub = p.add_subparsers(dest="train_command", metavar="{models,export,calibrate,eval-onnx,bench-loader}")

    m = sub.add_parser("models", help="trainable models with parameter and FLOP counts")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_models)

    e = sub.add_parser("export", help="checkpoint -> ONNX with posekit metadata")
    e.add_argument("checkpoint", help="a .pt file or a run folder (its best.pt, else last.pt)")
    e.add_argument("--out", required=True, help="the .onnx file to write")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--no-calibrate", action="store_true",
                   help="a MoveNet fine-tune: keep the raw scores (by default they are calibrated on the "
                        "run's data images it never read, as `posekit train calibrate` does, when 20+)")
    e.set_defaults(func=_export)

    c = sub.add_parser(
        "calibrate", help="a fine-tuned MoveNet export with its joint scores matched to its zoo model's "
                          "(default thresholds then mean what they mean for the zoo)",
        description="Fits per joint an increasing map of the score (logit -> a x logit + b) taking the "
                    "export's scores on the photos onto its zoo model's on the same photos (no labels used), "
                    "and writes it into the export's metadata; the runtime applies it after decoding, so no "
                    "keypoint moves. Use photos like the training data that the run did not train on (e.g. "
                    "--data lspet:PATH --skip 7500 --limit 500 for a --limit 7500 --val-last 1000 run).")
    c.add_argument("model", help="the .onnx `posekit train export` wrote for a --init movenet-* run")
    c.add_argument("--out", required=True, help="the calibrated .onnx file to write (may be MODEL itself)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="KIND:PATH", help="photos of a dataset (its labels are not used)")
    src.add_argument("--photos", metavar="DIR", help="a folder of photos of people")
    c.add_argument("--skip", type=int, default=0, help="with --data: leave out its first N images")
    c.add_argument("--limit", type=int, default=500,
                   help="use N photos (default 500; --photos: evenly spread over the folder)")
    c.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    c.add_argument("--json", action="store_true", help="print the fit (per joint: scale, bias, medians)")
    c.set_defaults(func=_calibrate)

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


DATA_OPTIONS = ("data", "val_data", "val_last", "val_fraction", "limit", "val_limit")


def _split(data: dict) -> tuple[list, list]:
    """Training and validation samples from the data options (see DATA_OPTIONS)."""

    samples = _load(data["data"])
    if data.get("val_data"):
        train, val = samples, _load(data["val_data"])
    else:
        n_val = _held_out(data, len(samples))
        train, val = samples[:-n_val], samples[-n_val:]
    if data.get("limit"):
        train = train[: data["limit"]]
    if data.get("val_limit"):
        val = val[: data["val_limit"]]
    return train, val


def _held_out(data: dict, count: int) -> int:
    """How many of ``data``'s ``count`` images (the last ones) --val-last / --val-fraction hold out."""
    from posekit.errors import PosekitError

    n_val = data["val_last"] if data.get("val_last") is not None else int(
        round(count * (data.get("val_fraction") or 0.1)))
    if not 0 < n_val < count:
        raise PosekitError(f"{data['data']}: cannot hold out {n_val} of {count} images; "
                           "set --val-last or --val-fraction")
    return n_val


def _resume_config(args: argparse.Namespace, stored) -> object:
    """The stored config with this call's runtime options; PosekitError naming what a call tried to change."""
    from posekit.errors import PosekitError
    from posekit.train.loop import TrainConfig

    given = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    data = stored.data
    if not data:  # a run from before the data options were stored: the call gives them, as it used to
        if not args.data:
            raise PosekitError(f"--resume {args.resume}: this run predates stored data options; pass "
                               "the same --data (and --val-last) as the first run")
        data = {k: getattr(args, k) for k in DATA_OPTIONS}
        given = {}
    if args.init is not None:
        given["init"] = args.init
    if args.freeze_layers is not None:
        given["freeze_layers"] = args.freeze_layers
    if args.model is not None:
        given["model"] = args.model
    before = {**stored.data, "init": stored.init, "model": stored.model,
              "freeze_layers": stored.freeze_layers}
    changed = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in given.items() if before.get(k) != v]
    if changed:
        raise PosekitError(f"--resume {args.resume}: the run was started with other options "
                           f"({'; '.join(changed)}); resume without them, or start a new run with --out")
    return TrainConfig(**{**stored.__dict__, "num_workers": args.num_workers, "threads": args.threads,
                          "epochs": args.epochs or stored.epochs, "data": data})


def _train(args: argparse.Namespace) -> int:
    from posekit.errors import PosekitError
    from posekit.train import require_torch

    require_torch()
    from posekit.train.augment import NO_AUGMENT, AugmentConfig
    from posekit.train.checkpoint import load_checkpoint
    from posekit.train.loop import TrainConfig, train

    if args.resume:
        cfg = _resume_config(args, TrainConfig.from_dict(load_checkpoint(args.resume)["train_config"]))
        out = args.resume
    else:
        if not args.data or not args.out:
            raise PosekitError("posekit train needs --data KIND:PATH and --out RUN_DIR (or --resume RUN_DIR)")
        if args.init and args.model:
            raise PosekitError("--init and --model both choose the model; give one of them")
        if args.distil and args.cache_features is None:
            raise PosekitError("--distil keeps a MoveNet's unlabelled joints while it trains from a cache: "
                               "add --init movenet-lightning|thunder --cache-features K, or drop it")
        if args.cache_features is not None:
            if not args.init:
                raise PosekitError("--cache-features needs --init MODEL (a pretrained trunk to freeze)")
            if args.cache_features < 1:
                raise PosekitError(f"--cache-features {args.cache_features}: give 1 or more views per "
                                   "person")
            if args.freeze_epochs or (args.cache_at == "trunk"
                                      and (args.freeze_layers or args.backbone_lr is not None)):
                raise PosekitError("--cache-features freezes the trunk for the whole run; drop "
                                   "--freeze-epochs, --freeze-layers and --backbone-lr (or train the trunk: "
                                   "--cache-at image, which takes the last two)")
        if args.cache_at == "frozen" and not args.freeze_layers:
            raise PosekitError("--cache-at frozen caches the outputs of the layers --freeze-layers N keeps "
                               "frozen: add --freeze-layers N (e.g. 18), or use --cache-at image")
        if args.freeze_layers and not args.init:
            raise PosekitError(f"--freeze-layers {args.freeze_layers} freezes a pretrained model's first "
                               "layers: add --init MODEL, or drop it")
        cfg = TrainConfig(
            args.model or "hourglass-s",
            args.epochs or 10,
            args.batch_size,
            args.lr,
            0.0,
            args.sigma,
            args.seed,
            args.num_workers,
            args.threads,
            NO_AUGMENT if args.no_augment else AugmentConfig(),
            init=args.init,
            freeze_epochs=args.freeze_epochs,
            freeze_layers=args.freeze_layers or 0,
            backbone_lr=args.backbone_lr,
            epoch_size=args.epoch_size,
            data={k: getattr(args, k) for k in DATA_OPTIONS},
            cache_features=args.cache_features or 0,
            cache_at=args.cache_at,
            distil=args.distil,
        )
        out = args.out
    train_samples, val_samples = _split(cfg.data)
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
    if not args.no_calibrate:
        _calibrate_export(args.checkpoint, path)
    return 0


def _calibrate_export(checkpoint: str, path) -> None:
    """A MoveNet fine-tune's export calibrated in place on up to 500 of the run's data images it neither
    trained nor validated on (``--limit`` left them out); a note on stderr where it cannot be."""
    import onnx

    from posekit.train.calibrate import MIN_PHOTOS, finetuned_movenet
    from posekit.train.checkpoint import load_checkpoint
    from posekit.train.export import resolve_checkpoint

    if finetuned_movenet(onnx.load(str(path), load_external_data=False)) is None:
        return
    data = load_checkpoint(resolve_checkpoint(checkpoint)).get("train_config", {}).get("data") or {}
    files = _unused_images(data)
    if len(files) < MIN_PHOTOS:
        print(f"{path}: scores not calibrated (the run read all of its data's images); run posekit train "
              f"calibrate {path} --photos DIR (photos like the training data) --out ...", file=sys.stderr)
        return
    fit = _calibrate_files(str(path), files[:500], str(path), threads=1)
    print(f"{path}: joint scores calibrated to the zoo model's on {fit.photos} of the run's unused images "
          "(posekit train calibrate; --no-calibrate keeps the raw scores)", file=sys.stderr)


def _unused_images(data: dict) -> list:
    """The image paths of a run's --data that ``_split`` gives to neither training nor validation."""
    if not data.get("limit") or not data.get("data"):
        return []
    try:
        samples = _load(data["data"])
        if not data.get("val_data"):
            samples = samples[:-_held_out(data, len(samples))]
    except Exception as err:  # PosekitError for a moved dataset: the export stands, uncalibrated
        print(f"scores not calibrated: {err}", file=sys.stderr)
        return []
    return [s.image_path for s in samples[data["limit"]:] if s.image_path is not None]


def _calibrate(args: argparse.Namespace) -> int:
    if args.data:
        samples = _load(args.data)[max(args.skip, 0):][: args.limit]
        files = [s.image_path for s in samples if s.image_path is not None]
    else:
        from posekit.convert.quantize import calibration_files

        files = calibration_files(args.photos, limit=args.limit, flag="--photos")
    fit = _calibrate_files(args.model, files, args.out, args.threads)
    if args.json:
        print(json.dumps(fit.as_dict()))
        return 0
    print(f"{args.out}: joint scores matched to the zoo model's on {fit.photos} photos")
    print(f"{'joint':16} {'scale':>6} {'bias':>6} {'zoo':>6} {'before':>6} {'after':>6}  (median scores)")
    for j, a, b, t, s0, s1 in zip(fit.joints, fit.scale, fit.bias, fit.target, fit.before, fit.after,
                                  strict=True):
        print(f"{j:16} {a:6.3f} {b:6.3f} {t:6.3f} {s0:6.3f} {s1:6.3f}")
    return 0


def _calibrate_files(model: str, files: list, out: str, threads: int):
    """`posekit.train.calibrate.calibrate_export` on the photos at ``files``, with progress bars."""
    from tqdm import tqdm

    from posekit.images import read_image
    from posekit.train.calibrate import calibrate_export

    photos = [read_image(f).rgb for f in tqdm(files, desc="read photos", unit="img", leave=False)]
    with tqdm(total=2 * len(photos), desc="calibrate", unit="img", leave=False) as bar:
        return calibrate_export(model, photos, out, threads=threads, progress=bar.update)


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
