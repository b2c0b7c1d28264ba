"""The failover rehearsal: a restored database, a copy that lost some rows, reconciled back."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from ops import backup as backups
from ops.reconcile import ReconcileInputError, rehearse_failover
from tests.backup.conftest import TEST_PART_SIZE, PgServer


@pytest.fixture
def restored(pg_server: PgServer, recovery_point: str) -> str:
    name = f"chefchatz_drill_{pg_server.create_database()[3:]}"
    with pg_server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{recovery_point}"')
    return pg_server.dsn(name)


def test_rehearsal_loses_rows_in_every_table_it_can_and_reconciles_them_back(restored: str, pg_server: PgServer):
    result = rehearse_failover(restored)

    assert result.ok, result.problems
    # profiles are all referenced by recipes, so none can go; the rest lose five rows each.
    assert result.removed == {
        "public.messages": 5,
        "public.profiles": 0,
        "public.recipe_likes": 5,
        "public.recipes": 5,
    }
    assert result.report is not None and result.report["totals"]["applied"] == 15
    assert result.second_run is not None and result.second_run["lost"] == 0
    with pg_server.admin() as admin:
        leftovers = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE '%_failover'").fetchall()
    assert leftovers == []


def test_a_trigger_that_rewrites_inserted_rows_fails_the_rehearsal(restored: str):
    with psycopg.connect(restored, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.body := NEW.body || '!'; "
            "RETURN NEW; END $$; CREATE TRIGGER stamp BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION stamp()"
        )

    result = rehearse_failover(restored)

    assert not result.ok
    assert result.problems == ["failover rehearsal: a second run still found 0 lost, 5 conflicts"]


def test_rehearsal_refuses_a_database_not_named_scratch_or_drill(pg_server: PgServer):
    with pytest.raises(ReconcileInputError, match="'postgres' must contain 'scratch' or 'drill'"):
        rehearse_failover(pg_server.dsn("postgres"))


def test_the_restore_drill_rehearses_a_failover_and_its_report_is_the_evidence(
    source_db: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any
):
    backups.backup_database(source_db, backups.Location(bucket), part_size=TEST_PART_SIZE)
    scratch = pg_server.dsn("chefchatz_drill_failover")

    result = cli("drill", "--bucket", bucket, "--scratch-url", scratch, "--failover", "--json")

    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"], result.stdout + result.stderr
    failover = report["failover"]
    assert failover["ok"] and failover["problems"] == []
    assert sum(failover["removed"].values()) >= 5 and failover["removed"]["public.recipe_images"] == 5
    assert failover["report"]["totals"]["applied"] == failover["report"]["totals"]["lost"] >= 5
    assert failover["second_run"]["lost"] == 0

    human = cli("drill", "--bucket", bucket, "--scratch-url", scratch, "--failover")

    assert human.exit_code == 0, human.stdout + human.stderr
    assert "failover rehearsal:" in human.stdout and "a second run found 0 lost, 0 conflicts" in human.stdout
