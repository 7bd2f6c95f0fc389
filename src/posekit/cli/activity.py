"""`posekit activity train|eval|predict|train-cnn`: activity recognition from poses (and images)."""

from __future__ import annotations

import argparse
import json
import sys

from posekit.activity.image_model import COMPARED, MODES
from posekit.activity.train import DEFAULT_AUGMENT, DEFAULT_BALANCE, DEFAULT_FEATURES, DEFAULT_KIND


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activity", help="train, evaluate and run activity classifiers (MPII categories)")
    asub = p.add_subparsers(dest="activity_command", required=True, metavar="ACTION")

    tp = asub.add_parser("train", help="train a pose-feature classifier (gbt or mlp), or an image model")
    tp.add_argument("--data", required=True, metavar="KIND:PATH",
                    help="mpii-csv:mpii_human_pose.csv, or images:DIR (--labels CSV, or a folder per class)")
    tp.add_argument("--model", choices=("gbt", "mlp", "knn", "ensemble"), default=DEFAULT_KIND,
                    help=f"pose classifier (default {DEFAULT_KIND}; knn: after Procrustes alignment; "
                         "ensemble: gbt + knn)")
    tp.add_argument("--features", choices=("base", "rich"), default=DEFAULT_FEATURES,
                    help=f"pose features: base (76) or rich (+ the 91 joint-pair distances: 167); "
                         f"default {DEFAULT_FEATURES}")
    tp.add_argument("--balance", choices=("balanced", "sqrt", "none"), default=DEFAULT_BALANCE,
                    help=f"class weights n/(C n_c) to the power 1, 1/2 or 0 (default {DEFAULT_BALANCE})")
    tp.add_argument("--augment", type=int, default=DEFAULT_AUGMENT, metavar="N",
                    help=f"N copies of each training pose with keypoint noise and dropout, the 1st, "
                         f"3rd... mirrored (default {DEFAULT_AUGMENT})")
    tp.add_argument("--labels", default=None, metavar="CSV", help="images:DIR only: name,class per image")
    tp.add_argument("--image-model", choices=MODES, default="image+pose",
                    help="images:DIR only: which model (default image+pose)")
    tp.add_argument("--cache", default=None, metavar="DIR",
                    help="images:DIR only: feature cache (default $POSEKIT_HOME/activity-features)")
    tp.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    tp.add_argument("--out", required=True, metavar="MODEL_DIR")
    tp.add_argument("--threads", type=int, default=1, help="CPU threads for training (default 1; 0 = all)")
    tp.add_argument("--json", action="store_true", help="print the report as JSON")
    tp.add_argument("--quiet", action="store_true", help="no progress bar")
    tp.set_defaults(func=run_train)

    cp = asub.add_parser("compare", help="cross-validate pose-only, image-only and image + pose on images")
    cp.add_argument("--data", required=True, metavar="images:DIR", help="a labelled image folder")
    cp.add_argument("--labels", default=None, metavar="CSV",
                    help="name,class per image (default: a sub-folder per class)")
    cp.add_argument("--models", default=",".join(COMPARED),
                    help=f"comma-separated, of {', '.join(MODES)} (default: the first three) and the "
                         "fine-tuned image-ft, image+pose-ft: the trunk's blocks 7-8 + the head trained per "
                         "fold from cached blocks_6 maps (much slower: minutes per fold on one thread)")
    cp.add_argument("--folds", type=int, default=5)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--cache", default=None, metavar="DIR",
                    help="feature cache (default $POSEKIT_HOME/activity-features)")
    cp.add_argument("--out", default="activity-compare", metavar="DIR")
    cp.add_argument("--threads", type=int, default=1, help="CPU threads (default 1; 0 = all)")
    cp.add_argument("--json", action="store_true")
    cp.add_argument("--quiet", action="store_true")
    cp.set_defaults(func=run_compare)

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


def run_compare(args: argparse.Namespace) -> int:
    from posekit.activity.compare import compare_image_models, summary_lines

    modes = tuple(m.strip() for m in args.models.split(",") if m.strip())
    report = compare_image_models(args.data, args.labels, args.out, modes, folds=args.folds, seed=args.seed,
                                  cache_dir=args.cache, threads=args.threads or None, progress=not args.quiet)
    if args.json:
        print(json.dumps({k: v for k, v in report.items()}, indent=1))
        return 0
    for mode, r in report["models"].items():
        print(f"== {mode}")
        print(r["pooled"]["table"])
    print(f"input: {json.dumps(report['input']['counts'])} ({report['input']['images']} images used)")
    print("\n".join(summary_lines(report)))
    print(f"report.json and confusion PNGs -> {args.out}/")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from posekit.activity.train import train_activity

    if args.data.startswith("images:"):
        from posekit.activity.compare import train_image_activity

        info = train_image_activity(args.data, args.labels, args.out, mode=args.image_model, seed=args.seed,
                                    cache_dir=args.cache, threads=args.threads or None,
                                    progress=not args.quiet)
        print(json.dumps(info) if args.json else f"{info['mode']} on {info['images']} images, trained in "
              f"{info['train_seconds']} s -> {args.out}/")
        return 0

    if args.augment < 0:
        from posekit.errors import PosekitError

        raise PosekitError(f"--augment {args.augment}: give 0 or more copies")
    report = train_activity(args.data, args.out, kind=args.model, seed=args.seed, progress=not args.quiet,
                            threads=args.threads or None, features=args.features, balance=args.balance,
                            augment=args.augment)
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
    from posekit.activity.compare import is_image_model

    if is_image_model(args.model):
        return run_predict_image(args)
    clf = load_classifier(args.model)
    pose_model = load_model(args.pose_model, min_score=args.min_score)
    out = Path(args.out)
    results: list[dict] = []

    def predict(path: Path) -> None:
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

    failed = _each_image(args.images, predict)
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


def _each_image(images: list[str], work) -> list[str]:
    """``work(path)`` for each image; a bad file's one-line error is kept and the batch goes on (with one
    image, its error is raised). Returns the errors."""
    from pathlib import Path

    from posekit.errors import PosekitError

    failed = []
    for path in map(Path, images):
        try:
            work(path)
        except PosekitError as err:
            if len(images) == 1:
                raise
            failed.append(str(err))
    return failed


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


def run_predict_image(args: argparse.Namespace) -> int:
    """`activity predict` with an image model folder (`posekit activity train --data images:DIR`)."""
    from pathlib import Path

    from posekit.activity.compare import load_image_model
    from posekit.activity.extract import Extractor
    from posekit.activity.image_predict import label_people
    from posekit.formats import write_json

    model, meta = load_image_model(args.model)
    extractor = Extractor(args.out, backbone=meta.get("backbone"),
                          pose_model=meta.get("pose_model", "movenet-multipose"))
    results: list[dict] = []

    def predict(path: Path) -> None:
        result = label_people(model, extractor.compute(path), path, args.model, args.top_k)
        write_json(Path(args.out) / f"{path.stem}.activity.json", result)
        results.append(result)

    failed = _each_image(args.images, predict)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            tops = ", ".join(f"{t['category']} {t['probability']:.2f}" for t in r["top_k"])
            print(f"{r['image']} ({r['model']}): {tops}; {len(r['people'])} person(s)")
            for i, person in enumerate(r["people"]):
                print(f"  person {i} ({person['role']}): {person['top_k'][0]['category']}")
        print(f"{len(results)} image(s) -> {args.out}/")
    for message in failed:
        print(f"posekit: error: {message}", file=sys.stderr)
    return 1 if failed else 0
