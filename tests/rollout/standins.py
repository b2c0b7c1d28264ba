"""Loopback stand-ins for `rollout watch`: Vercel's rolling-release API and the SLO drain's metrics.

The Vercel stand-in listens on 127.0.0.1 only and implements, with the documented paths, bodies and
response shapes (Vercel REST API reference, "Rolling Release"):

- ``GET  /v1/projects/{idOrName}/rolling-release`` -> ``{"rollingRelease": RollingRelease | null}``
  (https://vercel.com/docs/rest-api/rolling-release/get-the-active-rolling-release-information-for-a-project);
  the document has exactly the fields of ``GetRollingReleaseRollingRelease`` in Vercel's SDK
  (``@vercel/sdk`` 1.28.35, ``esm/models/getrollingreleaseop.d.ts``), listed below in ``DOCUMENTED``:
  the stage is ``activeStage`` (null once aborted), the next one ``nextStage`` (null unless ACTIVE).
  Start, approve-stage and complete answer with the same document (``startrollingreleaseop``,
  ``approverollingreleasestageop``, ``completerollingreleaseop``).
- ``POST /v1/projects/{idOrName}/rolling-release/start`` ``{canaryDeploymentId}``: idempotent for the active
  canary (https://vercel.com/docs/rest-api/rolling-release/start-a-rolling-release-for-the-project)
- ``POST /v1/projects/{idOrName}/rolling-release/approve-stage`` ``{nextStageIndex, canaryDeploymentId}``
  (https://vercel.com/docs/rest-api/rolling-release/update-the-active-rolling-release-to-the-next-stage-for-a-project)
- ``POST /v1/projects/{idOrName}/rolling-release/complete`` ``{canaryDeploymentId}``
  (https://vercel.com/docs/rest-api/rolling-release/complete-the-rolling-release-for-the-project)
- ``GET  /v13/deployments/{idOrUrl}``: the canary by its URL (``{id, url, readyState, ...}``)
- ``POST /v1/projects/{projectId}/rollback/{deploymentId}``: an instant rollback; to the current deployment
  while a rolling release is active it aborts it (what ``vercel rolling-release abort`` sends).

Errors use Vercel's ``{"error": {"code", "message"}}``; a wrong token gets 403. Tests inject failures for
the next N matching requests (optionally after handling them for real, as when a response is lost) and
make reads lag behind writes (``stale_reads``), as an eventually consistent API may.

A module, not a conftest, so that ``benchmarks/rollout.py`` can load it by path.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ops.slo import Counts

TOKEN = "rollout-test-token-not-a-secret-0815"
PROJECT = "prj_chefchatz"
STABLE = "dpl_stable"
CANARY = "dpl_canary"

# The fields of the rolling-release document and its parts, from ``@vercel/sdk`` 1.28.35
# (esm/models/getrollingreleaseop.d.ts: GetRollingReleaseRollingRelease, ActiveStage / NextStage /
# GetRollingReleaseStages, CanaryDeployment / CurrentDeployment): (required, optional) per object.
# The stand-in serves nothing else (``documented``), and the client reads nothing else (test_vercel_fields).
DOCUMENTED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "rollingRelease": (
        frozenset(
            {
                "activeStage",
                "advancementType",
                "canaryDeployment",
                "currentDeployment",
                "nextStage",
                "queuedDeploymentId",
                "stages",
                "startedAt",
                "state",
                "substate",
                "updatedAt",
            }
        ),
        frozenset({"currentCanaryPercentage"}),
    ),
    "stage": (
        frozenset({"duration", "index", "isFinalStage", "requireApproval", "targetPercentage"}),
        frozenset({"linearShift"}),
    ),
    "deployment": (
        frozenset({"createdAt", "id", "name", "readyState", "url"}),
        frozenset({"readyStateAt", "source", "target"}),
    ),
}


def documented(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` when they are exactly what Vercel documents for ``kind``; a ValueError naming the rest."""
    required, optional = DOCUMENTED[kind]
    extra, missing = set(fields) - required - optional, required - set(fields)
    if extra or missing:
        raise ValueError(f"the stand-in's {kind} has undocumented {sorted(extra)} and lacks {sorted(missing)}")
    return fields


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    passthrough: bool
    headers: dict[str, str]


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    status: int = 0
    at: float = 0.0  # the controller's clock when the request arrived (``FakeRollingRelease.clock``)


@dataclass
class FakeRollingRelease:
    """One project with one rolling release of CANARY over STABLE."""

    stages: tuple[int, ...] = (5, 25, 50, 100)
    state: str | None = "ACTIVE"  # None: the project has no rolling release at all
    active_stage_index: int = 0
    canary: str = CANARY
    stable: str = STABLE
    stale_reads: int = 0  # reads after each write that still show the state before it
    failures: list[Failure] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    clock: Callable[[], float] = lambda: 0.0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _shown: dict[str, Any] | None = None
    _lag: int = 0

    @property
    def percentage(self) -> int:
        """The canary's share of production traffic now."""
        if self.state == "COMPLETE":
            return 100
        if self.state != "ACTIVE":
            return 0
        return self.stages[self.active_stage_index]

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        passthrough: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures.append(Failure(method, re.compile(path_regex), status, times, passthrough, headers or {}))

    def posts(self, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path.endswith(suffix)]

    # --- the API ----------------------------------------------------------------------------------

    def _deployment(self, uid: str) -> dict[str, Any]:
        return documented(
            "deployment",
            {
                "id": uid,
                "name": "chefchatz",
                "url": f"{uid}.vercel.app",
                "readyState": "READY",
                "readyStateAt": 1_764_756_060_000,
                "source": "cli",
                "target": "production",
                "createdAt": 1_764_756_000_000,  # epoch milliseconds, as the schema says
            },
        )

    def _stage(self, index: int) -> dict[str, Any] | None:
        if not 0 <= index < len(self.stages):
            return None
        return documented(
            "stage",
            {
                "index": index,
                "isFinalStage": index == len(self.stages) - 1,
                "targetPercentage": self.stages[index],
                "requireApproval": True,  # advancementType manual-approval (components/web_app.py)
                "duration": None,
            },
        )

    def document(self) -> dict[str, Any] | None:
        """The rolling release as Vercel documents it; ``activeStage`` is null once aborted (the schema's word)."""
        if self.state is None:
            return None
        return documented(
            "rollingRelease",
            {
                "state": self.state,
                "substate": None,
                "advancementType": "manual-approval",
                "canaryDeployment": self._deployment(self.canary),
                "currentDeployment": self._deployment(self.stable),
                "queuedDeploymentId": None,
                "activeStage": None if self.state == "ABORTED" else self._stage(self.active_stage_index),
                "nextStage": self._stage(self.active_stage_index + 1) if self.state == "ACTIVE" else None,
                "stages": [self._stage(i) for i in range(len(self.stages))],
                "startedAt": 1_764_756_000_000,
                "updatedAt": 1_764_756_000_000,
            },
        )

    def handle(self, method: str, raw_path: str, auth: str | None, body: dict[str, Any]) -> tuple[int, Any, dict]:
        parts = urlsplit(raw_path)
        call = Call(method, parts.path, body, at=self.clock())
        with self.lock:
            self.calls.append(call)
            status, payload, headers = self._route(method, parts.path, parse_qs(parts.query), auth, body)
            call.status = status
        return status, payload, headers

    def _error(self, status: int, code: str, message: str) -> tuple[int, Any, dict]:
        return status, {"error": {"code": code, "message": message}}, {}

    def _route(self, method: str, path: str, query: dict, auth: str | None, body: dict) -> tuple[int, Any, dict]:
        del query
        if auth != f"Bearer {TOKEN}":
            return self._error(403, "forbidden", "Not authorized")
        for failure in self.failures:
            if failure.times > 0 and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.passthrough:
                    self._route_ok(method, path, body)
                return failure.status, {"error": {"code": "internal", "message": "injected"}}, failure.headers
        return self._route_ok(method, path, body)

    def _route_ok(self, method: str, path: str, body: dict) -> tuple[int, Any, dict]:
        base = f"/v1/projects/{PROJECT}"
        if method == "GET" and path == f"{base}/rolling-release":
            if self._lag > 0 and self._shown is not None:
                self._lag -= 1
                return 200, {"rollingRelease": self._shown}, {}
            return 200, {"rollingRelease": self.document()}, {}
        if method == "POST" and path == f"{base}/rolling-release/start":
            wanted = body.get("canaryDeploymentId")
            if self.state == "ACTIVE" and wanted != self.canary:
                return self._error(400, "bad_request", f"a rolling release of {self.canary} is active")
            if self.state != "ACTIVE" or wanted != self.canary:
                self._before_write()
                self.canary, self.state, self.active_stage_index = str(wanted), "ACTIVE", 0
            return 200, {"rollingRelease": self.document()}, {}
        if method == "POST" and path in (f"{base}/rolling-release/approve-stage", f"{base}/rolling-release/complete"):
            if self.state != "ACTIVE":
                return self._error(400, "no_active_rolling_release", "There is no active rolling release")
            if body.get("canaryDeploymentId") != self.canary:
                return self._error(400, "bad_request", "canaryDeploymentId is not the active canary")
            if path.endswith("/complete"):
                self._before_write()
                self.state, self.active_stage_index = "COMPLETE", len(self.stages) - 1
                return 200, {"rollingRelease": self.document()}, {}
            nxt = body.get("nextStageIndex")
            if nxt != self.active_stage_index + 1 or nxt >= len(self.stages):
                return self._error(400, "bad_request", f"nextStageIndex {nxt} is not the next stage")
            self._before_write()
            self.active_stage_index = nxt
            if nxt == len(self.stages) - 1:
                self.state = "COMPLETE"
            return 200, {"rollingRelease": self.document()}, {}
        if method == "GET" and (m := re.fullmatch(r"/v13/deployments/([^/]+)", path)):
            for uid in (self.stable, self.canary):
                if m.group(1) in (uid, f"{uid}.vercel.app"):
                    return 200, self._deployment(uid), {}
            return self._error(404, "not_found", f"Could not find the deployment: {m.group(1)}")
        if method == "POST" and (m := re.fullmatch(rf"/v1/projects/{PROJECT}/rollback/([^/]+)", path)):
            if m.group(1) not in (self.stable, self.canary):
                return self._error(404, "not_found", f"Could not find the deployment: {m.group(1)}")
            self._before_write()
            if self.state == "ACTIVE" and m.group(1) == self.stable:
                self.state = "ABORTED"
            return 201, {}, {}
        return self._error(404, "not_found", f"{method} {path} is not an endpoint")

    def _before_write(self) -> None:
        self._shown, self._lag = self.document(), self.stale_reads


def serve(state: FakeRollingRelease) -> ThreadingHTTPServer:
    """Serve ``state`` on 127.0.0.1 until ``server.shutdown()``; sets ``state.url``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else {}
            status, payload, headers = state.handle(method, self.path, self.headers.get("Authorization"), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


# --- the metrics ----------------------------------------------------------------------------------


@dataclass
class Profile:
    """What a deployment's real requests get: shares of 5xx, slower than the p95 objective / rollback."""

    error_rate: float = 0.002
    slow_share: float = 0.02  # over the p95 objective (200 ms)
    slow_rollback_share: float = 0.002  # over the rollback response time (1000 ms)
    transactions_per_request: float = 0.2
    failed_transaction_rate: float = 0.0002


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: inversion for small means, the normal approximation above (fast and close)."""
    if mean <= 0:
        return 0
    if mean > 500:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return min(n, _poisson(rng, n * p))


@dataclass
class FakeMetrics:
    """The drain's per-deployment counts: ``rps`` production requests split by the live stage percentage.

    ``canary_from`` switches the canary to ``bad`` at that clock time (the benchmark's threshold
    crossing): a window that straddles it holds good and bad requests in proportion, as the drain would
    count them. ``latency_noise`` is the spread (log-normal sigma) of each deployment's slow shares from
    one minute to the next -- real latency wanders with load and cold starts, which a Poisson count alone
    would understate. ``reads`` records every query.
    """

    release: FakeRollingRelease
    rps: float = 50.0
    stable: Profile = field(default_factory=Profile)
    canary: Profile = field(default_factory=Profile)
    bad: Profile | None = None
    canary_from: float = math.inf
    latency_noise: float = 0.0
    seed: int = 0
    reads: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, deployment_id: str, window_s: float) -> Counts:
        self.reads.append((deployment_id, window_s))
        share = self.release.percentage / 100
        is_canary = deployment_id == self.release.canary
        if not is_canary:
            share = 1 - share
        requests = _poisson(self.rng, self.rps * window_s * share)
        if not is_canary:
            return self._draw(requests, self.stable, window_s)
        after = min(1.0, max(0.0, (self.release.clock() - self.canary_from) / window_s))
        if self.bad is None or after == 0.0:
            return self._draw(requests, self.canary, window_s)
        bad = _binomial(self.rng, requests, after)
        good, worse = self._draw(requests - bad, self.canary, window_s), self._draw(bad, self.bad, window_s)
        return Counts(*(a + b for a, b in zip(astuple(good), astuple(worse), strict=True)))

    def _draw(self, requests: int, profile: Profile, window_s: float) -> Counts:
        # Independent wander per minute: over a window of m minutes the mean wanders sigma / sqrt(m).
        sigma = self.latency_noise / math.sqrt(max(1.0, window_s / 60.0))
        wander = math.exp(self.rng.gauss(0.0, sigma)) if sigma else 1.0
        transactions = _poisson(self.rng, requests * profile.transactions_per_request)
        return Counts(
            requests=requests,
            server_errors=_binomial(self.rng, requests, profile.error_rate),
            transactions=transactions,
            failed_transactions=_binomial(self.rng, transactions, profile.failed_transaction_rate),
            slow_over_p95=_binomial(self.rng, requests, min(1.0, profile.slow_share * wander)),
            slow_over_rollback=_binomial(self.rng, requests, min(1.0, profile.slow_rollback_share * wander)),
        )


class VirtualClock:
    """Time that passes only when the controller sleeps: a 40-minute rollout runs in milliseconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
