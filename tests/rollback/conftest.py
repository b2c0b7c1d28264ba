"""Loopback stand-ins for the rollback guard: the Vercel REST API, the app under watch, a webhook.

Everything listens on 127.0.0.1 only. The Vercel stand-in is the project's one (``tests/standins/vercel.py``,
derived from Vercel's published SDK); when a test ends, every exchange with it is checked against the
pinned SDK's schemas. The app and the webhook are this project's own.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
from typer.testing import CliRunner

from ops.rollback import cli as rollback_cli
from tests.standins.vercel import TOKEN, FakeVercel, assert_contract, start_vercel

__all__ = ["PROJECT", "TOKEN", "arrange_project", "start_app", "start_vercel"]  # the benchmarks use these


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


@pytest.fixture
def token() -> str:
    """The only token the Vercel stand-in accepts."""
    return TOKEN


@pytest.fixture
def vercel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVercel]:
    """The Vercel stand-in; when the test ends, every exchange is checked against Vercel's schemas."""
    state, server = start_vercel(TOKEN)
    monkeypatch.setenv("VERCEL_API_URL", state.url)
    monkeypatch.setenv("VERCEL_TOKEN", TOKEN)
    monkeypatch.delenv("CHEFCHATZ_ROLLBACK_NOTIFY", raising=False)
    yield state
    server.shutdown()
    server.server_close()
    assert_contract(state)


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
