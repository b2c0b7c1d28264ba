"""A `reconcile --apply` killed in the middle of a batch leaves no half-applied batch.

The process is really killed (SIGKILL, no chance to clean up) while the live database is in the
middle of inserting a batch: a trigger on the live table sleeps when it meets one given row, and
counts every row it sees in a sequence (sequences ignore rollbacks, so the count survives).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.reconcile.conftest import Failover

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10
SLOW_ROW = 5015  # the fifth row of the second batch when batches follow key order

SLOW_TRIGGER = f"""
CREATE SEQUENCE rows_seen;
CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('rows_seen');
    IF NEW.id = {SLOW_ROW} THEN PERFORM pg_sleep(4); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_insert BEFORE INSERT ON recipes FOR EACH ROW EXECUTE FUNCTION slow_insert();
"""


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_a_killed_apply_leaves_whole_batches_only_and_a_rerun_finishes_the_job(failover: Failover, reconcile):
    failover.run(
        failover.old,
        "INSERT INTO recipes (id, author, title, created_at) SELECT i, '00000000-0000-4000-8000-000000000001',"
        " 'lost ' || i, '2026-12-01 10:00Z' FROM generate_series(5001, 5030) AS i",
    )
    failover.run(failover.live, SLOW_TRIGGER)
    live_db = failover.live.rsplit("/", 1)[1]

    command = [sys.executable, "-m", "ops", "reconcile", "--from", failover.old, "--to", failover.live]
    command += ["--tables", "recipes", "--apply", "--batch-rows", str(BATCH)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with psycopg.connect(failover.server.dsn(), autocommit=True) as admin:

        def sleeping_backends() -> list[int]:
            return [
                pid
                for (pid,) in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event = 'PgSleep'", (live_db,)
                )
            ]

        try:
            wait_for(lambda: bool(sleeping_backends()) or proc.poll() is not None, "the slow row's insert")
            assert proc.poll() is None, proc.communicate()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # The server notices its client is gone once the insert returns, and rolls the batch back.
        wait_for(
            lambda: (
                not admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND application_name = 'chefchatz reconcile'",
                    (live_db,),
                ).fetchall()
            ),
            "the killed run's sessions to end",
        )

    assert proc.returncode == -signal.SIGKILL
    (committed,) = failover.rows(failover.live, "SELECT count(*) FROM recipes WHERE id BETWEEN 5001 AND 5030")[0]
    (seen,) = failover.rows(failover.live, "SELECT last_value FROM rows_seen")[0]
    assert committed % BATCH == 0 and committed < 30, committed  # whole batches only
    assert seen > committed, (seen, committed)  # the killed batch had started inserting...
    assert failover.rows(failover.live, "SELECT count(*) FROM recipes WHERE id = %s", (SLOW_ROW,)) == [
        (0,)
    ]  # ...in vain

    failover.run(failover.live, "DROP TRIGGER slow_insert ON recipes")
    rerun = reconcile("--from", failover.old, "--to", failover.live, "--tables", "recipes", "--apply", "--json")

    assert rerun.exit_code == 0, rerun.stdout
    assert rerun.table("public.recipes")["applied"] == 30 - committed
    assert failover.rows(failover.live, "SELECT count(*) FROM recipes WHERE id BETWEEN 5001 AND 5030") == [(30,)]
    assert reconcile("--from", failover.old, "--to", failover.live, "--json").report()["totals"]["lost"] == 0
