"""Vercel log-drain deliveries -> per-deployment request statistics -> CloudWatch metric data.

Pure functions only (no I/O), so the Lambda receiver, the tests and the benchmark share them and
the Lambda package needs nothing beyond the standard library and boto3.

The fields relied on are those of Vercel's log-drain schema
(https://vercel.com/docs/drains/reference/logs), listed with their use in docs/slo.md:
`id`, `deploymentId`, `source`, `type`, `message`, `requestId`, `statusCode`, `environment`,
`proxy.statusCode`, and the Lambda `REPORT` line carried in `message` for function duration and
memory. The signature scheme is Vercel's (https://vercel.com/docs/drains/security): the
`x-vercel-signature` header is the lower-case hex HMAC-SHA1 of the raw body with the drain secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Sources whose log lines describe a user request (build output and firewall denials do not).
REQUEST_SOURCES = frozenset({"lambda", "edge", "static", "external", "redirect"})
# The Lambda REPORT line Vercel forwards for each function invocation (type "report").
_REPORT_DURATION = re.compile(r"(?<!Billed )Duration:\s*([0-9]+(?:\.[0-9]+)?)\s*ms")
_REPORT_MEMORY = re.compile(r"Max Memory Used:\s*([0-9]+)\s*MB")
# Where a broken array element ends: the next `},` or `}]`.
_ELEMENT_BOUNDARY = re.compile(r"\}\s*([,\]])")
# CloudWatch accepts at most 150 distinct values per datum (PutMetricData `Values`).
MAX_VALUES_PER_DATUM = 150


class DrainFormatError(ValueError):
    """The body is neither a JSON array nor NDJSON."""


def signature(body: bytes, secret: str) -> str:
    """Vercel's `x-vercel-signature`: hex HMAC-SHA1 of the raw body keyed with the drain secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signature_valid(body: bytes, secret: str, header: str | None) -> bool:
    """Constant-time check of a delivery's signature; a missing header or empty secret never passes."""
    if not header or not secret:
        return False
    return hmac.compare_digest(signature(body, secret), header.strip().lower())


def delivery_key(body: bytes) -> str:
    """Idempotency key of a delivery: Vercel redelivers the same bytes, so their digest identifies it."""
    return hashlib.sha256(body).hexdigest()


def iter_entries(body: bytes) -> Iterator[dict[str, Any] | None]:
    """Yield each log entry of a `json` (array) or `ndjson` body; None for a malformed entry.

    Entries are decoded one at a time so a 10 MB batch never exists as one list of dicts: memory
    stays near the size of the body (benchmarks/drain.py measures it).
    """
    start = _first_non_space(body)
    if start < 0:
        return
    if body[start : start + 1] == b"[":
        yield from _iter_array(body, start)
    else:
        yield from _iter_lines(body)


def _first_non_space(body: bytes) -> int:
    for index, byte in enumerate(body):
        if byte not in b" \t\r\n":
            return index
    return -1


def _iter_lines(body: bytes) -> Iterator[dict[str, Any] | None]:
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield None
            continue
        yield value if isinstance(value, dict) else None


def _iter_array(body: bytes, start: int) -> Iterator[dict[str, Any] | None]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise DrainFormatError("body is not UTF-8") from None
    decoder = json.JSONDecoder()
    position = start + 1
    length = len(text)
    while True:
        position = _skip_space(text, position)
        if position >= length:
            raise DrainFormatError("JSON array is not closed")
        if text[position] == "]":
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            # A broken element: count it and resynchronise at the next top-level separator.
            yield None
            position = _next_element(text, position)
            if position < 0:
                return
            continue
        yield value if isinstance(value, dict) else None
        position = _skip_space(text, position)
        if position < length and text[position] == ",":
            position += 1


def _skip_space(text: str, position: int) -> int:
    length = len(text)
    while position < length and text[position] in " \t\r\n":
        position += 1
    return position


def _next_element(text: str, position: int) -> int:
    """Index after the next `},` / `}]` boundary (or -1): where the next element can start."""
    match = _ELEMENT_BOUNDARY.search(text, position)
    if match is None:
        return -1
    return match.end() if match.group(1) == "," else match.start(1)


@dataclass(frozen=True)
class Objectives:
    """Latency thresholds applied to every request: apdex T and the p95/p99 objectives (ms)."""

    apdex_t_ms: float
    p95_ms: float
    p99_ms: float
    # The spec's rollback trigger (responseTime > 1000ms, read as p95): the rollback guard's metrics
    # source needs the count of real requests slower than it, which neither objective above gives.
    rollback_ms: float = 1000.0


@dataclass
class _Request:
    status: int | None = None
    duration_ms: float | None = None
    memory_mb: float | None = None
    transactions: int = 0
    failed_transactions: int = 0
    background: bool = False


@dataclass
class DeploymentStats:
    """What the real requests of one deployment got, in one delivery."""

    requests: int = 0
    server_errors: int = 0
    transactions: int = 0
    failed_transactions: int = 0
    apdex_satisfied: int = 0
    apdex_tolerating: int = 0
    slow_over_p95: int = 0
    slow_over_p99: int = 0
    slow_over_rollback: int = 0
    latencies_ms: dict[float, int] = field(default_factory=dict)
    memory_mb: dict[float, int] = field(default_factory=dict)


@dataclass
class BatchSummary:
    entries: int = 0
    malformed: int = 0
    deployments: dict[str, DeploymentStats] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(d.requests for d in self.deployments.values())


def summarize(body: bytes, objectives: Objectives) -> BatchSummary:
    """Fold one delivery into per-deployment statistics.

    A request is identified by `requestId` (all lines of one invocation share it) or, for lines
    without one (static files), by the entry `id`; it is counted once however many lines it wrote.
    Its status is `proxy.statusCode` (what the user got), else `statusCode`; `-1` in `statusCode`
    (the function crashed) counts as a server error, `-1` in `proxy.statusCode` (a background
    revalidation, no user waiting) is not a user request and is skipped.
    """
    summary = BatchSummary()
    requests: dict[tuple[str, str], _Request] = {}
    for entry in iter_entries(body):
        summary.entries += 1
        if entry is None:
            summary.malformed += 1
            continue
        _fold(entry, requests)
    for (deployment, _), request in requests.items():
        if request.status is None or request.background:
            continue
        stats = summary.deployments.setdefault(deployment, DeploymentStats())
        _count(stats, request, objectives)
    return summary


def _fold(entry: dict[str, Any], requests: dict[tuple[str, str], _Request]) -> None:
    deployment = entry.get("deploymentId")
    if not isinstance(deployment, str) or entry.get("source") not in REQUEST_SOURCES:
        return
    request_id = entry.get("requestId") or entry.get("id")
    if not isinstance(request_id, str):
        return
    request = requests.setdefault((deployment, request_id), _Request())
    status = _status(entry)
    if status == "background":
        request.background = True
        return
    if isinstance(status, int) and (request.status is None or status > request.status):
        request.status = status
    message = entry.get("message")
    if isinstance(message, str):
        if entry.get("type") == "report" or message.startswith("REPORT "):
            _report(message, request)
        elif message.startswith("{") and '"transaction"' in message:
            _transaction(message, request)


def _status(entry: dict[str, Any]) -> int | str | None:
    proxy = entry.get("proxy")
    if isinstance(proxy, dict):
        code = proxy.get("statusCode")
        if code == -1:
            return "background"
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    code = entry.get("statusCode")
    if code == -1:
        return 500
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return None


def _report(message: str, request: _Request) -> None:
    duration = _REPORT_DURATION.search(message)
    memory = _REPORT_MEMORY.search(message)
    if duration:
        request.duration_ms = float(duration.group(1))
    if memory:
        request.memory_mb = float(memory.group(1))


def _transaction(message: str, request: _Request) -> None:
    """The app's own transaction outcome: a JSON log line {"transaction": NAME, "outcome": ...}."""
    try:
        value = json.loads(message)
    except ValueError:
        return
    if not isinstance(value, dict) or not isinstance(value.get("transaction"), str):
        return
    request.transactions += 1
    if value.get("outcome") == "failed":
        request.failed_transactions += 1


def _count(stats: DeploymentStats, request: _Request, objectives: Objectives) -> None:
    assert request.status is not None
    error = request.status >= 500
    stats.requests += 1
    stats.server_errors += int(error)
    stats.transactions += request.transactions
    stats.failed_transactions += request.failed_transactions
    # No function ran for a static file or a cache hit: the CDN served it, so it counts as fast.
    latency = request.duration_ms if request.duration_ms is not None else 0.0
    if not error:
        if latency <= objectives.apdex_t_ms:
            stats.apdex_satisfied += 1
        elif latency <= 4 * objectives.apdex_t_ms:
            stats.apdex_tolerating += 1
    stats.slow_over_p95 += int(latency > objectives.p95_ms)
    stats.slow_over_p99 += int(latency > objectives.p99_ms)
    stats.slow_over_rollback += int(latency > objectives.rollback_ms)
    if request.duration_ms is not None:
        bucket = latency_bucket(request.duration_ms)
        stats.latencies_ms[bucket] = stats.latencies_ms.get(bucket, 0) + 1
    if request.memory_mb is not None:
        stats.memory_mb[request.memory_mb] = stats.memory_mb.get(request.memory_mb, 0) + 1


def latency_bucket(ms: float) -> float:
    """Round a latency to 1 ms below a second and to 3 significant digits above: percentiles stay
    within 0.5 % and a batch's values fit CloudWatch's 150-values-per-datum limit in a few datums."""
    if ms < 1000:
        return float(round(ms))
    magnitude = 10 ** (len(str(int(ms))) - 3)
    return float(round(ms / magnitude) * magnitude)


# --- metric data -----------------------------------------------------------------------------------

COUNTERS = {
    "Requests": "requests",
    "ServerErrors": "server_errors",
    "Transactions": "transactions",
    "FailedTransactions": "failed_transactions",
    "ApdexSatisfied": "apdex_satisfied",
    "ApdexTolerating": "apdex_tolerating",
    "SlowOverP95Objective": "slow_over_p95",
    "SlowOverP99Objective": "slow_over_p99",
    "SlowOverRollbackThreshold": "slow_over_rollback",
}


def metric_data(summary: BatchSummary, stack: str, timestamp: float) -> list[dict[str, Any]]:
    """PutMetricData datums: every counter and distribution per stack and per deployment.

    Counters are always sent (zeros too) for each deployment seen, so "no errors" is a 0 rather
    than missing data; the stack-wide series (dimension `Stack`) is what the burn-rate alarms and
    `slo report` read, the per-deployment one (dimension `DeploymentId` alone: Vercel deployment
    ids are globally unique) is what the rollback guard reads (`deployment_counts`). The two
    dimension sets share no name, so no query of one can ever sum the other.
    """
    data: list[dict[str, Any]] = []
    total = DeploymentStats()
    for deployment, stats in sorted(summary.deployments.items()):
        data += _datums(stats, [{"Name": "DeploymentId", "Value": deployment}], timestamp)
        _add(total, stats)
    if summary.deployments:
        data += _datums(total, [{"Name": "Stack", "Value": stack}], timestamp)
    data.append(_counter("MalformedLines", summary.malformed, [{"Name": "Stack", "Value": stack}], timestamp))
    return data


def _add(total: DeploymentStats, stats: DeploymentStats) -> None:
    for attribute in COUNTERS.values():
        setattr(total, attribute, getattr(total, attribute) + getattr(stats, attribute))
    for source, target in ((stats.latencies_ms, total.latencies_ms), (stats.memory_mb, total.memory_mb)):
        for value, count in source.items():
            target[value] = target.get(value, 0) + count


def _counter(name: str, value: int, dimensions: list[dict[str, str]], timestamp: float) -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Value": value, "Unit": "Count"}


def _datums(stats: DeploymentStats, dimensions: list[dict[str, str]], timestamp: float) -> list[dict[str, Any]]:
    data = [_counter(name, getattr(stats, attribute), dimensions, timestamp) for name, attribute in COUNTERS.items()]
    data += _distribution("Latency", stats.latencies_ms, "Milliseconds", dimensions, timestamp)
    data += _distribution("FunctionMaxMemoryUsed", stats.memory_mb, "Megabytes", dimensions, timestamp)
    return data


def _distribution(
    name: str, values: dict[float, int], unit: str, dimensions: list[dict[str, str]], timestamp: float
) -> list[dict[str, Any]]:
    items = sorted(values.items())
    return [
        {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": timestamp,
            "Values": [value for value, _ in chunk],
            "Counts": [float(count) for _, count in chunk],
            "Unit": unit,
        }
        for chunk in (items[i : i + MAX_VALUES_PER_DATUM] for i in range(0, len(items), MAX_VALUES_PER_DATUM))
    ]
