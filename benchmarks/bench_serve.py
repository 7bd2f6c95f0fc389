"""Benchmarks for `posekit serve` on loopback (figures for the issue notes; nothing here is asserted).

--load      N HTTP clients posting a JPEG to /v1/poses for D seconds while M WebSocket clients stream the
            same JPEG (one frame in flight each, as the page does): errors, p50 / p99 latency, throughput;
            then the server's resident memory sampled across R more requests (flat within 10%?).
--overhead  one client: the HTTP round trip of /v1/poses against decode + model time measured in this
            process on the same bytes, interleaved, with the same one-thread model the server runs.

    python benchmarks/bench_serve.py --load --overhead
    python benchmarks/bench_serve.py --load --duration 10 --rss-requests 1000   # a short check
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODEL = "movenet-lightning"
PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "media" / "COCO_val2014_000000000192.jpg"


def jpeg_640x480() -> bytes:
    """The COCO photo resized to 640 x 480 (or the sample astronaut when the data folder is absent)."""
    from PIL import Image

    from posekit.samples import sample_image

    src = PHOTO if PHOTO.is_file() else sample_image()
    buf = io.BytesIO()
    Image.open(src).convert("RGB").resize((640, 480)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no resident memory figure (install psutil)")


class Server:
    """`posekit serve` as a subprocess on a free loopback port."""

    def __init__(self, threads: int | None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "posekit", "serve", "--port", str(self.port), "--model", MODEL]
        if threads:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("posekit serve did not start")
            time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def summary(latencies_s: list[float], errors: int, seconds: float) -> dict:
    ms = np.array(latencies_s) * 1000.0
    return {"ok": len(ms), "errors": errors, "per_s": round(len(ms) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None}


async def http_clients(url: str, data: bytes, clients: int, until: float, stats: dict,
                       on_done=None, total: int | None = None) -> None:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        async def one() -> None:
            while time.monotonic() < until and (total is None or stats["started"] < total):
                stats["started"] += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(f"{url}/v1/poses", content=data,
                                          headers={"Content-Type": "image/jpeg"})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    stats["latency"].append(time.perf_counter() - t0)
                else:
                    stats["errors"] += 1
                if on_done:
                    on_done()

        await asyncio.gather(*(one() for _ in range(clients)))


async def ws_clients(url: str, data: bytes, clients: int, until: float, stats: dict) -> None:
    from websockets.asyncio.client import connect

    async def one() -> None:
        try:
            async with connect(url.replace("http", "ws") + "/v1/stream", max_size=2**24) as ws:
                while time.monotonic() < until:
                    t0 = time.perf_counter()
                    await ws.send(data)
                    answer = json.loads(await ws.recv())
                    if "error" in answer:
                        stats["errors"] += 1
                    else:
                        stats["latency"].append(time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - a dropped connection is the error being counted
            stats["errors"] += 1

    await asyncio.gather(*(one() for _ in range(clients)))


def load(args: argparse.Namespace, data: bytes) -> dict:
    server = Server(args.threads)
    try:
        http = {"latency": [], "errors": 0, "started": 0}
        ws = {"latency": [], "errors": 0}
        rss_start = rss_mb(server.proc.pid)

        async def together() -> None:
            until = time.monotonic() + args.duration
            await asyncio.gather(http_clients(server.url, data, args.clients, until, http),
                                 ws_clients(server.url, data, args.ws_clients, until, ws))

        t0 = time.perf_counter()
        asyncio.run(together())
        seconds = time.perf_counter() - t0
        # Resident memory across R more requests (same 50 clients), sampled every R / 20 answers.
        samples: list[float] = []
        done = {"latency": [], "errors": 0, "started": 0}
        step = max(1, args.rss_requests // 20)

        def sample() -> None:
            if (len(done["latency"]) + done["errors"]) % step == 0:
                samples.append(rss_mb(server.proc.pid))

        asyncio.run(http_clients(server.url, data, args.clients, float("inf"), done, sample,
                                 args.rss_requests))
        first, peak = samples[0], max(samples)
        return {
            "server": f"posekit serve --model {MODEL} --threads {args.threads or 'all cores'}",
            "cores": len(os.sched_getaffinity(0)), "seconds": round(seconds, 1),
            "http": {"clients": args.clients, **summary(http["latency"], http["errors"], seconds)},
            "websocket": {"clients": args.ws_clients, **summary(ws["latency"], ws["errors"], seconds)},
            "rss_mb": {"at_start": round(rss_start, 1), "requests": args.rss_requests,
                       "first_sample": round(first, 1), "last_sample": round(samples[-1], 1),
                       "max": round(peak, 1), "growth_pct": round(100 * (peak - first) / first, 1),
                       "flat_within_10pct": peak <= first * 1.10, "errors": done["errors"]},
        }
    finally:
        server.close()


def pct(value: float, base: float) -> float:
    return round(100 * (value - base) / base, 1)


def overhead(args: argparse.Namespace, data: bytes) -> dict:
    """Round trips (httpx, and the lighter http.client) vs in-process decode + predict on the same bytes,
    interleaved so that all three see the same machine load."""
    import http.client

    import httpx

    import posekit
    from posekit.images import decode_image

    model = posekit.load_model(MODEL, threads=1)  # what each server request runs on
    server = Server(args.threads)
    headers = {"Content-Type": "image/jpeg"}
    times: dict[str, list[float]] = {k: [] for k in ("httpx", "http_client", "in_process", "session",
                                                     "server")}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        with httpx.Client(timeout=60) as client:
            for i in range(args.runs + 10):
                t0 = time.perf_counter()
                r = client.post(f"{server.url}/v1/poses", content=data, headers=headers)
                t1 = time.perf_counter()
                conn.request("POST", "/v1/poses", body=data, headers=headers)
                response = conn.getresponse()
                response.read()
                t2 = time.perf_counter()
                image = decode_image(data, model.spec.input_size)
                tensor, lb = model.preprocess(image.rgb)
                t3 = time.perf_counter()
                raw = model.infer(tensor)
                t4 = time.perf_counter()
                model.postprocess(raw, lb).scaled(image.scale).to_posenet()
                t5 = time.perf_counter()
                if r.status_code != 200 or response.status != 200:
                    raise RuntimeError(f"the server answered {r.status_code} / {response.status}: {r.text}")
                if i >= 10:  # warm-up
                    timing = r.json()["timing"]
                    for key, value in (("httpx", t1 - t0), ("http_client", t2 - t1), ("in_process", t5 - t2),
                                       ("session", t4 - t3),
                                       ("server", (timing["decode_ms"] + timing["inference_ms"]) / 1000)):
                        times[key].append(value)
        conn.close()
        med = {k: float(np.median(v)) * 1000 for k, v in times.items()}
        return {
            "image": "640x480 JPEG", "runs": args.runs, "cores": len(os.sched_getaffinity(0)),
            "round_trip_httpx_ms_median": round(med["httpx"], 2),
            "round_trip_http_client_ms_median": round(med["http_client"], 2),
            "in_process_decode_predict_ms_median": round(med["in_process"], 2),
            "in_process_session_ms_median": round(med["session"], 2),
            "server_reported_decode_plus_inference_ms_median": round(med["server"], 2),
            "overhead_pct_httpx": pct(med["httpx"], med["in_process"]),
            "overhead_pct_http_client": pct(med["http_client"], med["in_process"]),
            "target_pct": 15,
        }
    finally:
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--load", action="store_true")
    p.add_argument("--overhead", action="store_true")
    p.add_argument("--duration", type=float, default=60.0, help="--load: seconds (default 60)")
    p.add_argument("--clients", type=int, default=50, help="--load: HTTP clients (default 50)")
    p.add_argument("--ws-clients", type=int, default=10, help="--load: WebSocket clients (default 10)")
    p.add_argument("--rss-requests", type=int, default=10000, help="--load: requests for the memory check")
    p.add_argument("--runs", type=int, default=200, help="--overhead: timed requests (default 200)")
    p.add_argument("--threads", type=int, default=None, help="server --threads (default: all cores)")
    args = p.parse_args()
    if not (args.load or args.overhead):
        p.error("give --load and/or --overhead")
    data = jpeg_640x480()
    results = {}
    if args.overhead:
        results["overhead"] = overhead(args, data)
    if args.load:
        results["load"] = load(args, data)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
