"""Throughput and memory of the drain receiver's processing (verify -> parse -> summarize -> metric data).

Builds a real-shaped, signed Vercel log-drain batch (each request: an app line and a REPORT line
carrying the proxy record, 1 % 5xx, latencies spread 5-1500 ms), then times the receiver's pure path
on one core: signature check, streaming parse, per-deployment summary and the PutMetricData datums.
Network calls (DynamoDB claim, PutMetricData) are excluded: they are one request each per batch,
independent of its size. Peak memory is tracemalloc's peak over the processing of one batch, with the
body already in memory (the Lambda receives it that way), reported as a multiple of the body size.

Goals (issue 10): >= 20,000 lines/s on one core; peak memory <= 3x the batch for a 10 MB batch.

    .venv/bin/python benchmarks/drain.py --megabytes 10 --format json
    .venv/bin/python benchmarks/drain.py --megabytes 10 --format ndjson
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops.slo.drain import Objectives, metric_data, signature, signature_valid, summarize  # noqa: E402

SECRET = "benchmark-drain-secret"
OBJECTIVES = Objectives(apdex_t_ms=200, p95_ms=200, p99_ms=500)


def make_lines(target_bytes: int, rng: random.Random) -> list[bytes]:
    lines: list[bytes] = []
    size = 0
    n = 0
    while size < target_bytes:
        n += 1
        request_id = f"{rng.getrandbits(64):016x}-{n}"
        deployment = f"dpl_{n % 3}"
        status = 503 if rng.random() < 0.01 else 200
        duration = round(rng.lognormvariate(4.3, 0.8), 2)
        proxy = {
            "timestamp": 1_767_000_000_000 + n,
            "method": "GET",
            "host": "chefchatz.com",
            "path": f"/api/recipes/{n}?page=1",
            "userAgent": ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"],
            "region": "iad1",
            "statusCode": status,
            "clientIp": f"203.0.113.{n % 250}",
            "scheme": "https",
            "vercelCache": "MISS",
        }
        common = {
            "deploymentId": deployment,
            "source": "lambda",
            "host": "chefchatz-abc123.vercel.app",
            "projectId": "prj_chefchatz",
            "requestId": request_id,
            "statusCode": status,
            "environment": "production",
            "executionRegion": "iad1",
            "level": "info",
            "proxy": proxy,
        }
        for entry in (
            {
                **common,
                "id": f"{request_id}a",
                "timestamp": 1_767_000_000_100 + n,
                "type": "stdout",
                "message": f"GET /api/recipes/{n} served {rng.randint(1, 40)} recipes",
            },
            {
                **common,
                "id": f"{request_id}b",
                "timestamp": 1_767_000_000_200 + n,
                "type": "report",
                "message": f"REPORT RequestId: {request_id}\tDuration: {duration} ms\tBilled Duration: "
                f"{int(duration) + 1} ms\tMemory Size: 1024 MB\tMax Memory Used: {rng.randint(80, 300)} MB",
            },
        ):
            line = json.dumps(entry).encode()
            lines.append(line)
            size += len(line) + 2
    return lines


def process(body: bytes, header: str) -> int:
    assert signature_valid(body, SECRET, header)
    summary = summarize(body, OBJECTIVES)
    metric_data(summary, "bench", time.time())
    return summary.entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--format", choices=("json", "ndjson"), default="json")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    lines = make_lines(int(args.megabytes * 1_000_000), random.Random(10))
    body = b"[" + b",\n".join(lines) + b"]" if args.format == "json" else b"\n".join(lines) + b"\n"
    del lines
    header = signature(body, SECRET)

    timings = []
    entries = 0
    for _ in range(args.runs):
        start = time.process_time()
        entries = process(body, header)
        timings.append(time.process_time() - start)
    best = min(timings)

    tracemalloc.start()
    tracemalloc.reset_peak()
    process(body, header)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"batch: {len(body) / 1e6:.1f} MB {args.format}, {entries} lines ({entries // 2} requests)")
    print(f"throughput (CPU time, best of {args.runs}): {entries / best:,.0f} lines/s ({best:.2f}s per batch)")
    print(f"peak memory while processing: {peak / 1e6:.1f} MB = {peak / len(body):.2f}x the batch")
    print(
        f"goals: >= 20,000 lines/s -> {'met' if entries / best >= 20_000 else 'MISSED'}; "
        f"<= 3x the batch -> {'met' if peak <= 3 * len(body) else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
