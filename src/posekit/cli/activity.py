"""`posekit activity train|eval|predict|train-cnn`: activity recognition from poses (and images)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activity", help="train, evaluate and run activity classifiers (MPII categories)")
    asub = p.add_subparsers(dest="activity_command", required=True, metavar="ACTION")

    tp = asub.add_parser("train", help="train a pose-feature classifier (gbt or mlp)")
    tp.add_argument("--data", required=True, metavar="KIND:PATH", help="e.g. mpii-csv:mpii_human_pose.csv")
    tp.add_argument("--model", choices=("gbt", "mlp"), default="gbt")
    tp.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    tp.add_argument("--out", required=True, metavar="MODEL_DIR")
    tp.add_argument("--threads", type=int, default=1, help="CPU threads for training (default 1; 0 = all)")
    tp.add_argument("--json", action="store_true", help="print the report as JSON")
    tp.add_argument("--quiet", action="store_true", help="no progress bar")
    tp.set_defaults(func=run_train)

    ep = asub.add_parser("eval", help="recompute a trained model's metrics on a split of a dataset")
    ep.add_argument("model_dir", metavar="MODEL_DIR")
    ep.add_argument("--data", required=True, metavar="KIND:PATH")
    ep.add_argument("--split", choices=("test", "val", "train", "all"), default="test")
    ep.add_argument("--seed", type=int, default=None, help="split seed (default: the model's)")
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(func=run_eval)

    pp = asub.add_parser("predict", help="top-k activity categories of the people in images")
    pp.add_argument("images", nargs="+", metavar="IMAGE")
    pp.add_argument("--model", required=True, metavar="MODEL_DIR")
    pp.add_argument("--pose-model", default="movenet-multipose",
                    help="zoo pose model (default movenet-multipose)")
    pp.add_argument("--top-k", type=int, default=3)
    pp.add_argument("--min-score", type=float, default=0.25, help="drop people whose pose score is lower")
    pp.add_argument("--out", default="out", help="folder for <image>.activity.json and .activity.png")
    pp.add_argument("--json", action="store_true", help="print the results as JSON")
    pp.set_defaults(func=run_predict)

    cp = asub.add_parser("train-cnn", help="train the two-stage image + pose-map CNN (torch, images)")
    cp.add_argument("--data", required=True, metavar="KIND:PATH")
    cp.add_argument("--images", required=True, metavar="DIR", help="folder of the dataset's images")
    cp.add_argument("--out", required=True, metavar="RUN_DIR")
    cp.add_argument("--config", default="b0-cpu", help="model size: b0, b0-cpu, tiny (default b0-cpu)")
    cp.add_argument("--input", choices=("rgb+pose", "rgb"), default="rgb+pose",
                    help="4 channels (image + pose map) or the image only")
    cp.add_argument("--epochs", type=int, default=10)
    cp.add_argument("--batch-size", type=int, default=16)
    cp.add_argument("--lr", type=float, default=1e-3)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    cp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    cp.add_argument("--quiet", action="store_true")
    cp.set_defaults(func=run_train_cnn)


def _summary(name: str, m: dict, base: dict | None) -> str:
    line = (f"{name}: n={m['n']} accuracy {m['accuracy']:.4f}  F1 macro {m['f1_macro']:.4f} "
            f"weighted {m['f1_weighted']:.4f} micro {m['f1_micro']:.4f}  precision weighted "
            f"{m['precision_weighted']:.4f} recall weighted {m['recall_weighted']:.4f}")
    if base:
        line += (f"\n  majority baseline ({base['label']}): accuracy {base['accuracy']:.4f} "
                 f"F1 macro {base['f1_macro']:.4f} weighted {base['f1_weighted']:.4f}")
    return line


def run_train(args: argparse.Namespace) -> int:
    from posekit.activity.train import train_activity

    report = train_activity(args.data, args.out, kind=args.model, seed=args.seed, progress=not args.quiet,
                            threads=args.threads or None)
    if args.json:
        print(json.dumps({k: v for k, v in report.items()}, indent=1))
        return 0
    print(report["test"]["table"])
    print(f"counts: {json.dumps(report['counts'])}")
    print(f"trained in {report['train_seconds']} s ({report['history']['best_round']} of "
          f"{report['history']['rounds']} rounds of {report['history']['round_unit']} kept)")
    for name in ("train", "val", "test"):
        print(_summary(name, report[name], report["majority_baseline"].get(name)))
    for r in report["perturbed_test"]:
        print(f"test, noise sigma {r['sigma']:.2f} x torso, dropout {r['dropout']:.2f}: accuracy "
              f"{r['accuracy']:.4f} F1 macro {r['f1_macro']:.4f} weighted {r['f1_weighted']:.4f}")
    print(f"model, report.json and confusion_test.png -> {args.out}/")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from posekit.activity.train import evaluate_activity

    result = evaluate_activity(args.model_dir, args.data, split=args.split, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    m = result[args.split]
    print(m["table"])
    print(_summary(args.split, m, result["majority_baseline"]))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.activity.io import load_classifier
    from posekit.activity.predict import classify_poses, draw_activities, result_json
    from posekit.errors import PosekitError
    from posekit.formats import write_json
    from posekit.images import read_image
    from posekit.models.registry import load_model
    from posekit.render import save_png

    if args.top_k < 1:
        raise PosekitError(f"--top-k {args.top_k}: give 1 or more")
    clf = load_classifier(args.model)
    pose_model = load_model(args.pose_model, min_score=args.min_score)
    out = Path(args.out)
    results, failed = [], []
    for path in map(Path, args.images):
        try:
            image = read_image(path)
            poses = pose_model.predict(image.rgb)
            people = classify_poses(clf, poses, args.top_k)
            result = result_json(path, classify_poses(clf, poses.scaled(image.scale), args.top_k),
                                 poses.scaled(image.scale), args.model, args.pose_model)
            write_json(out / f"{path.stem}.activity.json", result)
            save_png(draw_activities(image.rgb, poses, people), out / f"{path.stem}.activity.png")
            results.append(result)
            if not people:
                raise PosekitError(f"{path}: no person found by {args.pose_model} (min score "
                                   f"{args.min_score}); use an image with a visible person or a lower "
                                   "--min-score")
        except PosekitError as err:
            if len(args.images) == 1:
                raise
            failed.append(str(err))
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            for i, person in enumerate(r["people"]):
                tops = ", ".join(f"{t['category']} {t['probability']:.2f}" for t in person["top_k"])
                print(f"{r['image']} person {i}: {tops}")
        print(f"{len(results)} image(s) -> {out}/")
    for message in failed:
        print(f"posekit: error: {message}", file=sys.stderr)
    return 1 if failed else 0


def run_train_cnn(args: argparse.Namespace) -> int:
    from posekit.activity.train_cnn import train_cnn_on_dataset

    report = train_cnn_on_dataset(args.data, args.images, args.out, config=args.config,
                                  with_pose=args.input == "rgb+pose", epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume,
                                  threads=args.threads, progress=not args.quiet)
    for name in ("val", "test"):
        if name in report:
            print(_summary(name, report[name], report.get("majority_baseline", {}).get(name)))
    print(f"checkpoints, report.json -> {args.out}/")
    return 0
