"""DSNs and their passwords, the PostgreSQL binaries, an unreachable database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ops import backup as backups


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/x failed", "postgresql://app:***@db:5432/x failed"),
        ("host=db password=s3cret dbname=x", "host=db password=*** dbname=x"),
        ("host=db password='s 3cret' dbname=x", "host=db password=*** dbname=x"),
        ("postgres://u@db/x", "postgres://u@db/x"),
        (
            "FATAL: password authentication failed for user app",
            "FATAL: password authentication failed for user app",
        ),
    ],
)
def test_redact_removes_passwords_from_urls_and_key_values(text: str, expected: str) -> None:
    assert backups.redact(text) == expected


def test_redact_also_removes_known_secret_values_anywhere() -> None:
    assert backups.redact("token sbp_abc123 leaked", "sbp_abc123") == "token *** leaked"


def test_split_dsn_moves_the_password_out_of_the_conninfo() -> None:
    conninfo, password = backups.split_dsn("postgresql://app:p%40ss@db.example.com:6543/postgres?sslmode=require")
    assert password == "p@ss"
    assert "p@ss" not in conninfo and "password" not in conninfo
    assert "host=db.example.com" in conninfo and "port=6543" in conninfo and "sslmode=require" in conninfo
    conninfo, password = backups.split_dsn("host=db dbname=x")
    assert password is None and sorted(conninfo.split()) == ["dbname=x", "host=db"]
    assert backups.describe_dsn("postgresql://app:pw@db:6543/postgres") == "app@db:6543/postgres"


def test_missing_postgresql_binaries_fail_the_suite_instead_of_skipping_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.setattr(conftest.glob, "glob", lambda pattern: [])
    with pytest.raises(pytest.fail.Exception, match="never skip"):
        conftest.find_pg_bindir()


def test_unreachable_database_fails_with_exit_1_and_never_prints_the_password(aws: str, bucket: str, cli: Any) -> None:
    dsn = "postgresql://app:Sup3r-Secret-pw@127.0.0.1:1/chefchatz"
    for as_json in ([], ["--json"]):
        result = cli("backup", "db", "--database-url", dsn, "--bucket", bucket, *as_json)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert "Sup3r-Secret-pw" not in result.stdout + result.stderr
        assert "app@127.0.0.1:1/chefchatz" in result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_stop_sends_sigterm_first_so_a_parallel_leader_can_stop_its_workers(tmp_path: Any) -> None:
    # pg_dump/pg_restore with --jobs stop their workers on SIGTERM (parallel.c sigTermHandler); SIGKILL
    # would reach the leader alone. A process that traps SIGTERM shows which signal came first.
    import subprocess
    import time

    from ops.backup.postgres import stop

    marker = tmp_path / "signal"
    script = f'trap \'echo TERM > {marker}; kill $!; exit 0\' TERM; sleep 30 & wait'
    proc = subprocess.Popen(["sh", "-c", script])
    time.sleep(0.3)  # the trap is set
    started = time.monotonic()
    stop(proc)
    assert marker.read_text().strip() == "TERM" and proc.returncode == 0
    assert time.monotonic() - started < 5

    # One that ignores SIGTERM is killed once the grace period is over.
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 30"])  # sleep inherits the ignored TERM
    time.sleep(0.3)
    started = time.monotonic()
    stop(stubborn, grace=0.5)
    assert stubborn.returncode == -9 and time.monotonic() - started < 5
