"""`posekit` command line: thin subcommands over the library.

Each subcommand group lives in its own module with ``register(subparsers)``; a module imports only
argparse at import time and its heavy dependencies inside the handler, so `posekit --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from posekit.errors import PosekitError

COMMAND_MODULES = ("estimate", "video", "models", "bench", "data", "eval", "train", "activity", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posekit", description="2D human pose estimation on CPU.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"posekit.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PosekitError as err:
        print(f"posekit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("posekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
