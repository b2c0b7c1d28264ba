"""The one Supabase Management API stand-in: ``GET /v1/projects/{ref}/database/backups``, on 127.0.0.1 only.

It serves what the operation's published types allow (``v1ListAllBackups`` of ``supabase-management-js``, a
community-maintained client generated from Supabase's OpenAPI document, pinned in
``tests/contracts/node/package-lock.json``): a 200 is a ``V1BackupsResponse``; the document gives its errors
(401, 403, 429, 500) no body, so none is served. ``tests/contracts/test_supabase_contract.py`` type-checks every
answer against those types.

One answer is served although the document lacks it: 404, which the client reads as "no such project"
(``UNDOCUMENTED_STATUSES``; docs/contracts.md names it as an assumption).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UNDOCUMENTED_STATUSES = {404: "an unknown project or one the token cannot see; v1ListAllBackups documents no 404"}
_BACKUPS = re.compile(r"/v1/projects/([a-z0-9]+)/database/backups")


def backups_reply(pitr_enabled: bool) -> dict[str, Any]:
    """A project's answer (``V1BackupsResponse``): WAL-G on, one physical backup, PITR as given."""
    return {
        "region": "eu-central-1",
        "walg_enabled": True,
        "pitr_enabled": pitr_enabled,
        "backups": [{"is_physical_backup": True, "status": "COMPLETED", "inserted_at": "2026-11-27T00:00:00Z"}],
        "physical_backup_data": {
            "earliest_physical_backup_date_unix": 1795000000,
            "latest_physical_backup_date_unix": 1795700000,
        },
    }


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    authorization: str | None
    status: int
    body: dict[str, Any] | None  # None: no body


@dataclass
class FakeManagementApi:
    """Tests set ``pitr_enabled``, or ``status`` to answer every request with that error instead."""

    url: str = ""
    pitr_enabled: bool = True
    status: int = 200
    exchanges: list[Exchange] = field(default_factory=list)

    def answer(self, path: str) -> tuple[int, dict[str, Any] | None]:
        if not _BACKUPS.fullmatch(path):
            return 404, None  # not an operation this stand-in serves
        if self.status != 200:
            return self.status, None
        return 200, backups_reply(self.pitr_enabled)


@contextmanager
def serve() -> Iterator[FakeManagementApi]:
    state = FakeManagementApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer(self.path)
            state.exchanges.append(Exchange(self.command, self.path, self.headers.get("Authorization"), status, body))
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
