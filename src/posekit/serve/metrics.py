"""The service's counters in Prometheus' text exposition format (written by hand: no extra dependency).

Everything is updated on the event loop thread, so plain ints need no locks.
"""

from __future__ import annotations

import bisect
from collections import Counter

# Request latency buckets in seconds (a CPU pose model answers in 5 ms to a few seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-bucket histogram of one label set."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last slot is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


def _labels(**labels: str) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """requests(endpoint, status), errors(endpoint, kind), latency(endpoint), frames, dropped, clients."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency: dict[str, Histogram] = {}
        self.frames = 0
        self.frames_dropped = 0
        self.frame_errors = 0
        self.ws_clients = 0
        self.ws_connections = 0

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[endpoint, status] += 1
        self.latency.setdefault(endpoint, Histogram()).observe(seconds)

    def render(self) -> str:
        lines = ["# HELP posekit_http_requests_total HTTP requests by endpoint and status code.",
                 "# TYPE posekit_http_requests_total counter"]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f"posekit_http_requests_total{_labels(endpoint=endpoint, status=str(status))} {n}")
        errors: Counter[tuple[str, str]] = Counter()
        for (endpoint, status), n in self.requests.items():
            if status >= 400:
                errors[endpoint, "server" if status >= 500 else "client"] += n
        lines += ["# HELP posekit_http_errors_total HTTP responses with status >= 400 (client: 4xx, "
                  "server: 5xx).", "# TYPE posekit_http_errors_total counter"]
        for (endpoint, kind), n in sorted(errors.items()):
            lines.append(f"posekit_http_errors_total{_labels(endpoint=endpoint, kind=kind)} {n}")
        lines += ["# HELP posekit_http_request_duration_seconds HTTP request latency.",
                  "# TYPE posekit_http_request_duration_seconds histogram"]
        for endpoint, h in sorted(self.latency.items()):
            cumulative = 0
            for le, n in zip((*BUCKETS, "+Inf"), h.counts, strict=True):
                cumulative += n
                le_text = le if isinstance(le, str) else repr(le)
                lines.append("posekit_http_request_duration_seconds_bucket"
                             f"{_labels(endpoint=endpoint, le=le_text)} {cumulative}")
            lines.append(f"posekit_http_request_duration_seconds_sum{_labels(endpoint=endpoint)} {h.total!r}")
            lines.append(f"posekit_http_request_duration_seconds_count{_labels(endpoint=endpoint)} "
                         f"{cumulative}")
        for name, kind, value, text in (
            ("posekit_stream_frames_total", "counter", self.frames, "WebSocket frames answered with poses."),
            ("posekit_stream_frames_dropped_total", "counter", self.frames_dropped,
             "WebSocket frames replaced by a newer one before they were processed."),
            ("posekit_stream_frame_errors_total", "counter", self.frame_errors,
             "WebSocket frames answered with an error (not an image)."),
            ("posekit_stream_connections_total", "counter", self.ws_connections,
             "WebSocket connections accepted."),
            ("posekit_stream_clients", "gauge", self.ws_clients, "WebSocket clients connected now."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"
