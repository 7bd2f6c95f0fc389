"""`posekit serve`: the web page and the HTTP / WebSocket API on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import sys

DEFAULT_MODELS = ("movenet-lightning", "movenet-multipose")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the web page and the HTTP / WebSocket API (docs at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine "
                   "only); another address needs --token")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--model", action="append", default=None, metavar="NAME",
                   help="model to load at start; repeat for more, the first is the default (default: "
                        f"{' '.join(DEFAULT_MODELS)}); other zoo models load on first request")
    p.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on /v1 (the "
                   "WebSocket also takes ?token=)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload or frame (default: 20)")
    p.add_argument("--cors", action="append", default=None, metavar="ORIGIN",
                   help="allow browser pages from ORIGIN to call the API (repeatable; default: none)")
    p.add_argument("--threads", type=int, default=None,
                   help="requests decoded and inferred at once, one core each (default: all cores)")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                   help="int8: every model as static int8 (quantized on first load, cached; default: fp32)")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from posekit.errors import PosekitError

    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise PosekitError(f"posekit serve needs {err.name}: pip install 'posekit[serve]'") from None
    from posekit.serve.app import create_app

    if args.max_upload_mb <= 0:
        raise PosekitError(f"--max-upload-mb {args.max_upload_mb}: give a size above 0 (default 20)")
    if args.threads is not None and args.threads < 1:
        raise PosekitError(f"--threads {args.threads}: give 1 or more")
    if not is_loopback(args.host) and not args.token:
        print(f"posekit serve: WARNING: binding {args.host} without --token: anyone who can reach this "
              "machine can use the API; pass --token SECRET", file=sys.stderr)
    app = create_app(args.model or list(DEFAULT_MODELS), args.token, args.max_upload_mb, args.cors,
                     args.threads, args.precision)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else shown}:{args.port}/"
    page = f"{url}?token={args.token}" if args.token else url
    print(f"posekit serve: open {page}  (API docs: {url}docs; models: {', '.join(app.state.pool.loaded())})",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, ws_max_size=int(args.max_upload_mb * 2**20),
                log_level="warning", access_log=False)
    return 0
