"""The platforms' published schemas, asked through ``node/contracts.mjs`` (one node process per worker).

The packages are the exact versions of ``node/package-lock.json`` (``@vercel/sdk`` for Vercel,
``@octokit/plugin-rest-endpoint-methods`` and ``@octokit/openapi`` for GitHub, ``supabase-management-js`` for
Supabase's Management API), installed by ``./dev test``
with ``npm ci --ignore-scripts``. A missing node or missing packages is an error, never a skip: a contract
test that silently does not run is the failure this module exists to prevent.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
HELPER = NODE_DIR / "contracts.mjs"


def pinned_version(package: str) -> str:
    """The version of ``package`` that the committed lockfile pins."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


@dataclass(frozen=True)
class Verdict:
    """What the schema says of one request or response: what breaks it, and the keys it does not have."""

    problems: tuple[str, ...]
    undocumented: tuple[str, ...]
    operation: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.undocumented


class Schemas:
    """A running ``contracts.mjs``; thread-safe, one request at a time."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the contract tests need it (Debian: apt-get install nodejs)")
        if not (NODE_DIR / "node_modules" / "@vercel" / "sdk").is_dir():
            raise RuntimeError(
                f"the pinned npm packages are not installed in {NODE_DIR}: run ./dev test "
                "(it runs npm ci --ignore-scripts from the lockfile)"
            )
        self._process = subprocess.Popen(
            [node, str(HELPER)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        self._operations: dict[str, dict[str, Any]] | None = None

    def ask(self, command: str, **arguments: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps({"cmd": command, **arguments}) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"{HELPER.name} exited (code {self._process.poll()}) while answering {command}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer and command != "octokit-endpoint":
            raise RuntimeError(f"{HELPER.name} failed on {command}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=10)

    # --- Vercel ----------------------------------------------------------------------------------

    def vercel_operations(self) -> dict[str, dict[str, Any]]:
        """Every operation of the SDK by name: method, versioned path, query names, body kind, responses."""
        if self._operations is None:
            self._operations = {op["name"]: op for op in self.ask("vercel-operations")["operations"]}
        return self._operations

    def vercel_request(self, method: str, path: str, query: list[str], body: Any = None) -> Verdict:
        """Which SDK operation this request is (None: none is), and what in it the operation lacks."""
        answer = self.ask("vercel-request", method=method, path=path, query=sorted(query), body=body)
        return Verdict(tuple(answer["problems"]), tuple(answer.get("undocumented", ())), answer["operation"])

    def vercel_response(self, operation: str, status: int, body: Any) -> Verdict:
        """Problems (missing, mistyped, coerced) and undocumented fields of ``body`` as the operation's answer."""
        answer = self.ask("vercel-response", operation=operation, status=status, body=body)
        return Verdict(tuple(answer["problems"]), tuple(answer["undocumented"]), operation)

    def vercel_fields(self, operation: str, status: int = 200) -> frozenset[str]:
        """Every field path of the operation's response schema (``a.b[].c``; ``*`` for any key of a map)."""
        return frozenset(self.ask("vercel-fields", operation=operation, status=status)["fields"])

    # --- GitHub ----------------------------------------------------------------------------------

    def octokit_endpoint(self, scope: str, method: str) -> dict[str, Any]:
        """``github.rest.<scope>.<method>``: its route and parameters, or ``{"error": ...}`` when it has none."""
        return self.ask("octokit-endpoint", scope=scope, method=method)

    # --- Supabase Management API -----------------------------------------------------------------

    def supabase_request(self, operation: str, *args: str) -> dict[str, Any]:
        """The ``method``, ``path`` and ``query`` names the SDK's ``operation(*args)`` requests (nothing is sent)."""
        return self.ask("supabase-request", operation=operation, args=list(args))


_shared: Schemas | None = None
_shared_lock = threading.Lock()


def schemas() -> Schemas:
    """The process's one helper, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Schemas()
            atexit.register(_shared.close)
        return _shared
