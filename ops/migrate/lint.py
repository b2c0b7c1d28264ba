"""The migration linter: squawk (https://squawkhq.com), run as a subprocess, its JSON parsed.

squawk ships as a binary wheel (``squawk-cli`` on PyPI, pinned in ``requirements/main.txt``). It
reports every rule violation at level "Warning" and only syntax errors at "Error"
(``squawk --reporter json``), so which findings stop a deploy is our decision: ``ERROR_RULES`` are
the rules whose statements block the running app on a table with data, break the app version still
serving while the migration runs, or lose data. Everything else stays a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ops.migrate.files import MigrationInputError

# Rule names: https://squawkhq.com/docs/rules
ERROR_RULES = frozenset(
    {
        "syntax-error",
        # Hold a lock that blocks writes (or reads) for as long as the table is scanned or rewritten.
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
        "adding-not-nullable-field",
        "adding-field-with-default",
        "adding-serial-primary-key-field",
        "changing-column-type",
        "constraint-missing-not-valid",
        "adding-foreign-key-constraint",
        "disallowed-unique-constraint",
        # Break the app version that is still serving while the migration runs, or lose data.
        "adding-required-field",
        "ban-drop-column",
        "ban-drop-table",
        "ban-drop-database",
        "ban-truncate-cascade",
        "renaming-column",
        "renaming-table",
    }
)

SQUAWK_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Finding:
    """One problem with a migration: from the linter (``squawk``) or from the rehearsal itself."""

    source: str
    rule: str
    level: str  # error | warning
    message: str
    line: int | None = None
    column: int | None = None
    help: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def level_of(rule: str, squawk_level: str) -> str:
    """Our level for a squawk finding: error for ``ERROR_RULES`` and squawk's own errors."""
    return "error" if rule in ERROR_RULES or squawk_level.lower() == "error" else "warning"


def parse_report(text: str) -> dict[str, list[Finding]]:
    """squawk's ``--reporter json`` output -> findings per file path (lines 1-based)."""
    try:
        document = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"squawk printed something that is not JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(document, list):
        raise RuntimeError(f"squawk's JSON report is not a list: {text[:200]!r}")
    out: dict[str, list[Finding]] = {}
    for item in document:
        rule = str(item["rule_name"])
        out.setdefault(str(item["file"]), []).append(
            Finding(
                source="squawk",
                rule=rule,
                level=level_of(rule, str(item.get("level", "warning"))),
                message=str(item["message"]),
                line=int(item["line"]) + 1 if item.get("line") is not None else None,
                column=int(item["column"]) + 1 if item.get("column") is not None else None,
                help=item.get("help"),
            )
        )
    return out


def squawk_binary() -> str:
    """squawk next to this Python (the virtualenv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if not found:
        raise MigrationInputError(
            "squawk not found next to the Python running chefchatz or on PATH: install the pinned "
            "requirements (squawk-cli)"
        )
    return found


def squawk_version() -> str:
    done = subprocess.run([squawk_binary(), "--version"], capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.strip().removeprefix("squawk ").strip() or "unknown"


def lint(paths: list[Path], pg_version: str | None = None) -> dict[Path, list[Finding]]:
    """Lint the files; every migration runs in its own transaction, as under `supabase db push`."""
    if not paths:
        return {}
    args = [squawk_binary(), "--reporter", "json", "--assume-in-transaction", "--no-error-on-unmatched-pattern"]
    if pg_version:
        args.append(f"--pg-version={pg_version}")
    done = subprocess.run(
        [*args, *map(str, paths)], capture_output=True, text=True, check=False, timeout=SQUAWK_TIMEOUT_SECONDS
    )
    # squawk exits 1 when it found something; anything else without a report is the tool failing.
    if done.returncode not in (0, 1) or (done.returncode == 1 and not done.stdout.strip()):
        raise RuntimeError(f"squawk failed with exit code {done.returncode}: {done.stderr.strip()[-500:]}")
    by_file = parse_report(done.stdout)
    return {path: by_file.get(str(path), []) for path in paths}
