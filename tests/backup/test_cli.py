"""The CLI contract: --json everywhere, exit codes 0/1/2, errors naming the bad value, documented commands,
and the Supabase point-in-time-recovery check against the Management API stand-in (tests/standins/supabase.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from ops import backup as backups
from ops.backup import Location
from tests.standins.supabase import FakeManagementApi
from tests.standins.supabase import serve as serve_management_api

from .conftest import TEST_PART_SIZE

REF = "abcdefghijklmnopqrst"


def test_backup_db_list_verify_round_trip_through_the_cli_with_json(
    source_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    made = cli("backup", "db", "--database-url", source_db, "--bucket", bucket, "--prefix", "staging", "--json")
    assert made.exit_code == 0, made.stdout + made.stderr
    report = json.loads(made.stdout)
    assert report["ok"] is True and report["kind"] == "db" and report["warnings"] == []
    assert report["manifest_key"] == f"staging/db/{report['backup_id']}/manifest.json"

    listed = json.loads(cli("backup", "list", "--bucket", bucket, "--prefix", "staging", "--json").stdout)
    assert [(b["backup_id"], b["complete"]) for b in listed["backups"]] == [(report["backup_id"], True)]

    verified = cli("backup", "verify", "--bucket", bucket, "--prefix", "staging", "--max-age", "6h", "--json")
    verdict = json.loads(verified.stdout)
    assert verified.exit_code == 0 and verdict["ok"] is True, verified.stdout
    assert verdict["backup_id"] == report["backup_id"]
    assert verdict["checked_bytes"] == report["stored_bytes"]

    human = cli("backup", "verify", "--bucket", bucket, "--prefix", "staging")
    assert human.exit_code == 0 and human.stdout.rstrip().endswith("OK"), human.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["backup", "verify", "--bucket", "ok-bucket", "--max-age", "six hours"], "'six hours'"),
        (["backup", "verify", "--bucket", "ok-bucket", "--kind", "tables"], "'tables'"),
        (["backup", "list", "--bucket", "Bad_Bucket"], "'Bad_Bucket'"),
        (
            [
                "restore",
                "db",
                "--bucket",
                "ok-bucket",
                "--target-url",
                "postgresql://x@127.0.0.1/db",
                "--backup-id",
                "yesterday",
            ],
            "'yesterday'",
        ),
        (
            ["drill", "--bucket", "ok-bucket", "--scratch-url", "postgresql://x@127.0.0.1/db", "--rto", "0m"],
            "'0m'",
        ),
        (
            ["drill", "--bucket", "ok-bucket", "--scratch-url", "postgresql://x:pw@127.0.0.1:1/production"],
            "'production'",
        ),
        (
            ["backup", "db", "--bucket", "ok-bucket", "--database-url", "postgresql://u:pw@h/db?badopt=1"],
            "u:***@h/db?badopt=1",
        ),
    ],
)
def test_bad_values_exit_2_with_a_message_naming_the_value(args: list[str], named: str, aws: str, cli: Any) -> None:
    for extra in ([], ["--json"]):
        result = cli(*args, *extra)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        text = json.loads(result.stdout)["error"] if extra else result.stderr
        assert named in text, text


def test_a_bucket_that_does_not_exist_is_a_config_error(aws: str, cli: Any) -> None:
    result = cli("backup", "list", "--bucket", "chefchatz-no-such-bucket", "--json")
    assert result.exit_code == 2
    assert "bucket does not exist (NoSuchBucket)" in json.loads(result.stdout)["error"]


def test_missing_required_option_is_a_usage_error(aws: str, cli: Any) -> None:
    result = cli("backup", "db", "--bucket", "ok-bucket")
    assert result.exit_code == 2
    assert "--database-url" in result.stderr


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    # Typer vendors its own click: walk groups by their `commands` mapping, not by class.
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_command_is_documented_with_an_example_and_offers_json(cli_app: typer.Typer) -> None:
    found = dict(_commands(typer.main.get_command(cli_app)))
    assert set(found) == {"backup db", "backup assets", "backup list", "backup verify", "restore db", "drill"}
    for name, command in found.items():
        assert command.help and "Example:" in command.help and "chefchatz " + name in command.help, name
        assert any("--json" in p.opts for p in command.params), f"{name} has no --json"


def test_chefchatz_entry_point_registers_backup_restore_and_drill() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run(
        [sys.executable, "-m", "ops", "--help"], capture_output=True, text=True, env=env, check=False, cwd=repo
    )
    assert done.returncode == 0, done.stderr
    listed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert {"backup", "restore", "drill"} <= listed, done.stdout


# ---------------------------------------------------------------------------------------------- Supabase


@pytest.fixture
def management_api() -> Iterator[FakeManagementApi]:
    with serve_management_api() as state:
        yield state


@pytest.mark.parametrize("pitr_enabled", [True, False])
def test_verify_confirms_supabase_point_in_time_recovery(
    pitr_enabled: bool,
    source_db: str,
    s3: Any,
    bucket: str,
    cli: Any,
    management_api: FakeManagementApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    management_api.pitr_enabled = pitr_enabled
    monkeypatch.setenv("SUPABASE_API_URL", management_api.url)
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_test_token_value")

    result = cli("backup", "verify", "--bucket", bucket, "--supabase-project-ref", REF, "--json")

    report = json.loads(result.stdout)
    assert [(e.path, e.authorization) for e in management_api.exchanges] == [
        (f"/v1/projects/{REF}/database/backups", "Bearer sbp_test_token_value")
    ]
    assert report["pitr"] == {
        "project_ref": REF,
        "pitr_enabled": pitr_enabled,
        "walg_enabled": True,
        "region": "eu-central-1",
        "backups": 1,
    }
    assert "sbp_test_token_value" not in result.stdout + result.stderr
    if pitr_enabled:
        assert result.exit_code == 0 and report["ok"] is True, report
    else:
        assert result.exit_code == 1 and report["ok"] is False
        assert report["problems"] == [
            f"Supabase point-in-time recovery is NOT enabled for project {REF}: the 1 h RPO relies on it"
        ]


@pytest.mark.parametrize(
    ("status", "token", "exit_code", "message"),
    [
        (200, None, 2, "SUPABASE_ACCESS_TOKEN is not set"),
        (401, "sbp_expired", 2, "rejected SUPABASE_ACCESS_TOKEN"),
        (403, "sbp_other_org", 2, "rejected SUPABASE_ACCESS_TOKEN"),
        (404, "sbp_ok", 2, f"project '{REF}' not found"),
        (429, "sbp_ok", 1, "returned HTTP 429"),
        (500, "sbp_ok", 1, "returned HTTP 500"),
    ],
)
def test_supabase_check_failures_map_to_exit_codes(
    status: int,
    token: str | None,
    exit_code: int,
    message: str,
    aws: str,
    bucket: str,
    cli: Any,
    management_api: FakeManagementApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    management_api.status = status
    monkeypatch.setenv("SUPABASE_API_URL", management_api.url)
    if token:
        monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", token)
    else:
        monkeypatch.delenv("SUPABASE_ACCESS_TOKEN", raising=False)

    result = cli("backup", "verify", "--bucket", bucket, "--supabase-project-ref", REF)

    assert result.exit_code == exit_code, result.stderr
    assert message in result.stderr, result.stderr


def test_backup_without_a_region_for_cloudwatch_still_succeeds_with_a_warning(
    source_db: str, s3: Any, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = cli("backup", "db", "--database-url", source_db, "--bucket", bucket)

    assert result.exit_code == 0, result.stderr
    assert "warning: could not publish metric ChefChatz/Backups/BackupSucceeded" in result.stderr
    assert "no AWS region configured" in result.stderr
    assert [e.complete for e in backups.list_backups(Location(bucket), backups.Kind.DB, s3=s3)] == [True]
