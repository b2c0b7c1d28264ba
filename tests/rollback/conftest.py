"""Loopback stand-ins for the rollback guard: the Vercel REST API, the app under watch, a webhook.

Everything listens on 127.0.0.1 only. The Vercel stand-in implements the endpoints the guard uses with
the paths, status codes and response shapes of Vercel's REST API reference:

- ``GET  /v6/deployments``                 ``{"deployments": [...], "pagination": {"count", "next", "prev"}}``
- ``GET  /v13/deployments/{idOrUrl}``      ``{"id", "url", "createdAt", "readyState", "target", ...}``
- ``GET  /v9/projects/{idOrName}``         ``{"id", "name", "targets": {"production": {...}},
  "lastAliasRequest"}``
- ``POST /v1/projects/{projectId}/rollback/{deploymentId}``  201 when accepted

Errors use Vercel's ``{"error": {"code", "message"}}`` body; a missing or wrong bearer token gets 403
``forbidden`` "Not authorized" as Vercel's error reference documents. Tests inject failures (any status,
body and headers, for the next N matching requests) and read every request back.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from typer.testing import CliRunner

from ops.rollback import cli as rollback_cli

TOKEN = "test-token-not-a-secret-4711"


class _Server(ThreadingHTTPServer):
    # The guard opens 30+ connections at once each interval; socketserver's default listen backlog of 5
    # drops the rest of the SYNs, and their retransmission a second later reads as a probe timeout.
    request_queue_size = 128


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    port = server.server_address[1]
    return server, f"http://127.0.0.1:{port}"


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per response and no Nagle: otherwise headers and body leave in two segments
    # and delayed ACKs add ~40 ms to keep-alive requests, which would distort measured latency.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


# ---------------------------------------------------------------------------------------------------
# Vercel REST API stand-in
# ---------------------------------------------------------------------------------------------------


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    body: Any
    headers: dict[str, str]
    passthrough: bool  # handle the request for real, then answer with the failure anyway


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    at: float
    status: int = 0


@dataclass
class FakeVercel:
    """State of one fake Vercel account; tests arrange projects and deployments, then read requests."""

    url: str = ""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    # How many project reads report the rollback job "pending" before it reaches ``final_job_status``.
    pending_polls: int = 1
    final_job_status: str = "succeeded"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_project(self, project_id: str, name: str, team_id: str | None = None) -> None:
        self.projects[project_id] = {
            "id": project_id,
            "name": name,
            "team": team_id,
            "production": None,
            "lastAliasRequest": None,
            "polls_left": 0,
        }

    def add_deployment(
        self,
        uid: str,
        project_id: str,
        created: int,
        url: str,
        state: str = "READY",
        target: str | None = "production",
        production: bool = False,
    ) -> None:
        self.deployments[uid] = {
            "uid": uid,
            "name": self.projects[project_id]["name"],
            "projectId": project_id,
            "url": url,
            "created": created,
            "createdAt": created,
            "state": state,
            "readyState": state,
            "target": target,
        }
        if production:
            self.projects[project_id]["production"] = uid

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        passthrough: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching method and path with ``status``."""
        code = {401: "unauthorized", 403: "forbidden", 409: "conflict", 422: "unprocessable_entity"}
        default = {
            "error": {"code": code.get(status, "internal_server_error"), "message": f"injected {status}"}
        }
        self.failures.append(
            Failure(
                method,
                re.compile(path_regex),
                status,
                times,
                default if body is None else body,
                headers or {},
                passthrough,
            )
        )

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    @property
    def rollback_posts(self) -> list[Recorded]:
        return self.calls("POST", r"^/v1/projects/[^/]+/rollback/")

    # --- request handling ------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, auth: str | None) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = Recorded(method, parts.path, query, time.monotonic())
        with self.lock:
            self.requests.append(record)
            status, payload, headers = self._route(method, parts.path, query, auth)
            record.status = status
        return status, payload, headers

    def _route(
        self, method: str, path: str, query: dict[str, str], auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        if auth != f"Bearer {TOKEN}":
            return 403, {"error": {"code": "forbidden", "message": "Not authorized"}}, {}
        for failure in self.failures:
            if failure.times > 0 and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.passthrough:
                    self._route_ok(method, path, query)
                return failure.status, failure.body, failure.headers
        return self._route_ok(method, path, query)

    def _route_ok(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path == "/v6/deployments":
            return self._list_deployments(query)
        if method == "GET" and (m := re.fullmatch(r"/v13/deployments/([^/]+)", path)):
            return self._get_deployment(m.group(1))
        if method == "GET" and (m := re.fullmatch(r"/v9/projects/([^/]+)", path)):
            return self._get_project(m.group(1), query)
        if method == "POST" and (m := re.fullmatch(r"/v1/projects/([^/]+)/rollback/([^/]+)", path)):
            return self._rollback(m.group(1), m.group(2), query)
        return 404, {"error": {"code": "not_found", "message": f"{method} {path} is not an endpoint"}}, {}

    def _project(self, id_or_name: str, query: dict[str, str]) -> dict[str, Any] | None:
        for project in self.projects.values():
            if id_or_name in (project["id"], project["name"]):
                if project["team"] and query.get("teamId") != project["team"]:
                    return None
                return project
        return None

    def _not_found(self, what: str) -> tuple[int, Any, dict[str, str]]:
        return 404, {"error": {"code": "not_found", "message": f"Could not find the {what}"}}, {}

    def _list_deployments(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        project = self._project(query.get("projectId", ""), query)
        if project is None:
            return self._not_found("project")
        found = [
            d
            for d in self.deployments.values()
            if d["projectId"] == project["id"]
            and ("target" not in query or d["target"] == query["target"])
            and ("state" not in query or d["state"] in query["state"].split(","))
            and ("until" not in query or d["created"] < int(query["until"]))
        ]
        found.sort(key=lambda d: d["created"], reverse=True)
        limit = int(query.get("limit", 20))
        page = found[:limit]
        more = len(found) > limit
        body = {
            "deployments": [
                {
                    k: d[k]
                    for k in (
                        "uid",
                        "name",
                        "projectId",
                        "url",
                        "created",
                        "createdAt",
                        "state",
                        "readyState",
                        "target",
                    )
                }
                for d in page
            ],
            "pagination": {"count": len(page), "next": page[-1]["created"] if more else None, "prev": None},
        }
        return 200, body, {}

    def _get_deployment(self, id_or_url: str) -> tuple[int, Any, dict[str, str]]:
        for d in self.deployments.values():
            if id_or_url in (d["uid"], d["url"]):
                return (
                    200,
                    {
                        "id": d["uid"],
                        "name": d["name"],
                        "projectId": d["projectId"],
                        "url": d["url"],
                        "createdAt": d["created"],
                        "readyState": d["state"],
                        "target": d["target"],
                    },
                    {},
                )
        return self._not_found(f"deployment: {id_or_url}")

    def _get_project(self, id_or_name: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        project = self._project(id_or_name, query)
        if project is None:
            return self._not_found(f"project: {id_or_name}")
        last = project["lastAliasRequest"]
        if last and last["jobStatus"] == "pending":
            if project["polls_left"] > 0:
                project["polls_left"] -= 1
            else:
                last["jobStatus"] = self.final_job_status
                if self.final_job_status == "succeeded":
                    project["production"] = last["toDeploymentId"]
        production = self.deployments.get(project["production"] or "")
        targets = {}
        if production:
            targets["production"] = {
                "id": production["uid"],
                "url": production["url"],
                "createdAt": production["created"],
                "readyState": production["state"],
                "alias": ["chefchatz.com"],
            }
        return (
            200,
            {
                "id": project["id"],
                "name": project["name"],
                "accountId": project["team"] or "user_1",
                "targets": targets,
                "lastAliasRequest": dict(last) if last else None,
                "lastRollbackTarget": None,
            },
            {},
        )

    def _rollback(
        self, project_id: str, deployment_id: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(project_id, query)
        if project is None:
            return self._not_found(f"project: {project_id}")
        d = self.deployments.get(deployment_id)
        if d is None or d["projectId"] != project["id"]:
            return self._not_found(f"deployment: {deployment_id}")
        last = project["lastAliasRequest"]
        if last and last["jobStatus"] in ("pending", "in-progress"):
            return 409, {"error": {"code": "conflict", "message": "A rollback is already in progress"}}, {}
        if d["state"] != "READY" or d["target"] != "production" or deployment_id == project["production"]:
            return (
                422,
                {"error": {"code": "invalid_rollback_target", "message": "Deployment is not eligible"}},
                {},
            )
        project["lastAliasRequest"] = {
            "fromDeploymentId": project["production"],
            "toDeploymentId": deployment_id,
            "jobStatus": "pending",
            "requestedAt": int(time.time() * 1000),
            "type": "rollback",
        }
        project["polls_left"] = self.pending_polls
        project["rollbackDescription"] = query.get("description")
        return 201, {}, {}


@pytest.fixture
def token() -> str:
    """The only token the Vercel stand-in accepts."""
    return TOKEN


def start_vercel() -> tuple[FakeVercel, ThreadingHTTPServer]:
    """The Vercel stand-in, serving on 127.0.0.1 until ``server.shutdown()`` (also used by benchmarks)."""
    state = FakeVercel()

    class Handler(_QuietHandler):
        def _dispatch(self, method: str) -> None:
            if method == "POST":
                self._read_body()
            status, payload, headers = state.handle(method, self.path, self.headers.get("Authorization"))
            self._send_json(status, payload, headers)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    server, state.url = _serve(Handler)
    return state, server


@pytest.fixture
def vercel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVercel]:
    state, server = start_vercel()
    monkeypatch.setenv("VERCEL_API_URL", state.url)
    monkeypatch.setenv("VERCEL_TOKEN", TOKEN)
    monkeypatch.delenv("CHEFCHATZ_ROLLBACK_NOTIFY", raising=False)
    yield state
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------------
# The app under watch
# ---------------------------------------------------------------------------------------------------


@dataclass
class FakeApp:
    """The deployment being watched: per-path status and latency, scripted answers, the health JSON."""

    url: str = ""
    status: dict[str, int] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    script: dict[str, list[int]] = field(default_factory=dict)  # next answers per path, then ``status``
    health: dict[str, Any] = field(
        default_factory=lambda: {
            "status": "ok",
            "checks": {"database": {"status": "ok"}},
            "transactions": {"total": 5000, "failed": 0, "window_seconds": 60},
        }
    )
    health_raw: bytes | None = None  # when set, served instead of the JSON health body
    # Random noise on every path, as a real app has: this fraction of answers are 500, this fraction
    # (of the rest) take ``slow_s``. Drawn from ``rng`` under the lock, so a seed fixes the counts per
    # interval (each interval's probes are consecutive hits) whatever order the probe threads run in.
    error_fraction: float = 0.0
    slow_fraction: float = 0.0
    slow_s: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    noise: list[tuple[bool, bool]] = field(default_factory=list)  # per hit: (made a 500, made slow)
    hits: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str) -> tuple[int, bytes, float]:
        with self.lock:
            self.hits.append((path, time.monotonic()))
            queue = self.script.get(path)
            status = queue.pop(0) if queue else self.status.get(path, 200)
            noise_error, noise_slow = self.rng.random() < self.error_fraction, self.rng.random()
            if noise_error and status < 500:
                status = 500
            delay = self.slow_s if noise_slow < self.slow_fraction else self.latency_s.get(path, 0.0)
            self.noise.append((noise_error, noise_slow < self.slow_fraction))
            if path == "/api/health":
                body = self.health_raw if self.health_raw is not None else json.dumps(self.health).encode()
            else:
                body = b'{"ok": true}'
            return status, body, delay

    def set_transactions(self, total: int, failed: int) -> None:
        with self.lock:
            self.health["transactions"] = {"total": total, "failed": failed, "window_seconds": 60}


def start_app() -> tuple[FakeApp, ThreadingHTTPServer]:
    """The app under watch, serving on 127.0.0.1 until ``server.shutdown()`` (also used by benchmarks)."""
    state = FakeApp()

    class Handler(_QuietHandler):
        def do_GET(self) -> None:
            status, body, delay = state.answer(urlsplit(self.path).path)
            if delay:
                time.sleep(delay)
            self._send(status, body)

    server, state.url = _serve(Handler)
    return state, server


@pytest.fixture
def app_server() -> Iterator[FakeApp]:
    state, server = start_app()
    yield state
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------------
# Notification webhook
# ---------------------------------------------------------------------------------------------------


@dataclass
class FakeWebhook:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    state = FakeWebhook()

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            state.content_types.append(self.headers.get("Content-Type", ""))
            state.received.append(json.loads(self._read_body()))
            self._send(state.status, b"ok")

    server, url = _serve(Handler)
    state.url = url + "/services/T000/B000/SECRETPART"
    yield state
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------------
# A standard project and a CLI runner
# ---------------------------------------------------------------------------------------------------

PROJECT = "prj_chefchatz"


def arrange_project(vercel: FakeVercel, app_url: str) -> None:
    """prj_chefchatz: production serves dpl_bad (the watched app); dpl_prev is the expected target.

    The deployments that must NOT be chosen are there on purpose: an errored build and a preview newer
    than dpl_prev, and an older production deployment.
    """
    vercel.add_project(PROJECT, "chefchatz")
    vercel.add_deployment("dpl_old", PROJECT, 1_000, "chefchatz-old.vercel.app")
    vercel.add_deployment("dpl_prev", PROJECT, 2_000, "chefchatz-prev.vercel.app")
    vercel.add_deployment("dpl_errored", PROJECT, 2_500, "chefchatz-err.vercel.app", state="ERROR")
    vercel.add_deployment("dpl_preview", PROJECT, 2_700, "chefchatz-pre.vercel.app", target=None)
    vercel.add_deployment("dpl_bad", PROJECT, 3_000, urlsplit(app_url).netloc, production=True)


@pytest.fixture
def project(vercel: FakeVercel, app_server: FakeApp) -> FakeVercel:
    arrange_project(vercel, app_server.url)
    return vercel


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root so `rollback` stays a sub-command, as under `chefchatz`."""

    rollback_cli.register(app)
    return app


@dataclass
class Run:
    exit_code: int
    output: str  # stdout and stderr, as a person sees them
    stdout: str
    seconds: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@pytest.fixture
def run(cli: typer.Typer) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Run:
        started = time.monotonic()
        result = runner.invoke(cli, ["rollback", *args], catch_exceptions=False)
        assert TOKEN not in result.output, "the Vercel token must never be printed"
        return Run(result.exit_code, result.output, result.stdout, time.monotonic() - started)

    return invoke
