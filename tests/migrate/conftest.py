"""Fixtures for the migration rehearsal: the backup tests' real PostgreSQL and moto, and the CLI."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ops.migrate import cli as migrate_cli
from tests.backup.conftest import (  # noqa: F401 - pytest fixtures, used by name
    PgServer,
    aws,
    bucket,
    moto_endpoint,
    pg_server,
    s3,
    seeded_template,
    source_db,
)

# The spec's example migration (migrations/001_initial_schema.sql), with a column where it says
# "-- other fields", in the Supabase layout.
SPEC_INITIAL_SCHEMA = textwrap.dedent(
    """\
    -- Example migration script
    CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

    CREATE TABLE public.profiles (
      id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
      username text NOT NULL
    );
    """
)


def write_migrations(root: Path, files: dict[str, str]) -> Path:
    """An app repository root with supabase/migrations holding `files`."""
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def scratch_url(pg_server: PgServer) -> str:  # noqa: F811 - the imported fixture
    return pg_server.dsn(f"chefchatz_scratch_{uuid.uuid4().hex[:8]}")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli() -> Callable[..., CliResult]:
    app = typer.Typer()
    migrate_cli.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> CliResult:
        result = runner.invoke(app, ["migrate", *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


def report_of(result: Any) -> dict[str, Any]:
    import json

    document: dict[str, Any] = json.loads(result.stdout)
    return document
