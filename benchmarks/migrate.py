"""Time `chefchatz migrate rehearse` on a backup of a ~1 GiB database, and show what it catches.

    .venv/bin/python benchmarks/migrate.py                 # 1 GiB of generated data (the default)
    .venv/bin/python benchmarks/migrate.py --size-mib 100  # a quick run

One run: a throw-away PostgreSQL and a moto S3 server in a separate process (the helpers and the
generated chat/recipe data of benchmarks/backup.py), a real `chefchatz backup db` into moto, then
one `chefchatz migrate rehearse` from that backup into a scratch database with three migrations a
release could carry:

    add a nullable column to chat_messages   metadata only: a brief ACCESS EXCLUSIVE lock
    add a CHECK constraint NOT VALID, then   safe in two transactions, not in one file: `db push` runs
      VALIDATE it, on recipes                a file as one transaction, so the ADD's ACCESS EXCLUSIVE
                                             lock is held through the validation scan
    CREATE INDEX (not CONCURRENTLY) on       a SHARE lock on the biggest table for the whole build:
      chat_messages                          writes stop; the rehearsal must flag it

Printed: database and backup sizes, the rehearsal's wall time split into restore and migrations,
each migration's time, the blocking locks it held and the linter's error-level findings, and the
rehearsal's exit code (1 expected: the last two migrations are caught). A rehearsal is one run, not a
median: at 1 GiB it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The sibling benchmark's server, moto and data helpers (benchmarks/ is not a package).
from backup import MiB, bench_database, moto_server, pg_bindir, postgres, tool_env

MIGRATIONS = {
    "20261201090000_messages_edited_at.sql": "ALTER TABLE public.chat_messages ADD COLUMN edited_at timestamptz;\n",
    "20261202090000_recipes_rating_range.sql": """\
        SET lock_timeout = '1s';
        ALTER TABLE public.recipes ADD CONSTRAINT recipes_rating_range CHECK (rating BETWEEN 0 AND 5) NOT VALID;
        ALTER TABLE public.recipes VALIDATE CONSTRAINT recipes_rating_range;
        """,
    "20261203090000_messages_by_conversation.sql": (
        "CREATE INDEX chat_messages_conversation ON public.chat_messages (conversation);\n"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="approximate size of generated data")
    args = parser.parse_args()

    bindir = pg_bindir()
    with postgres(bindir) as (port, _postmaster), moto_server() as (endpoint, _), tempfile.TemporaryDirectory() as work:
        dsn = f"postgresql://postgres@127.0.0.1:{port}"
        generation, db_bytes = bench_database(dsn, args.size_mib)
        env = tool_env(endpoint, bindir)
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench-backups")
        chefchatz = [sys.executable, "-m", "ops"]
        clock = time.perf_counter()
        backup = subprocess.run(
            [*chefchatz, "backup", "db", "--database-url", f"{dsn}/bench", "--bucket", "bench-backups", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        backup_seconds = time.perf_counter() - clock
        stored = json.loads(backup.stdout)

        folder = Path(work) / "supabase" / "migrations"
        folder.mkdir(parents=True)
        for name, sql in MIGRATIONS.items():
            (folder / name).write_text(textwrap.dedent(sql))
        clock = time.perf_counter()
        rehearsal = subprocess.run(
            [
                *chefchatz,
                "migrate",
                "rehearse",
                "--migrations",
                str(folder),
                "--bucket",
                "bench-backups",
                "--scratch-url",
                f"{dsn}/bench_scratch",
                "--stack",
                "bench",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - clock
        if rehearsal.returncode not in (0, 1):
            sys.exit(f"rehearsal failed with exit code {rehearsal.returncode}: {rehearsal.stdout}{rehearsal.stderr}")
        report = json.loads(rehearsal.stdout)

    print(f"database: {db_bytes / MiB:.0f} MiB (generated in {generation:.0f}s)")
    print(f"backup:   {stored.get('stored_bytes', 0) / MiB:.0f} MiB stored, {backup_seconds:.1f}s")
    migrations_seconds = sum(m["seconds"] or 0 for m in report["migrations"])
    restore_seconds = report["source"]["verify_seconds"] + report["source"]["restore_seconds"]
    print(
        f"rehearsal: {wall:.1f}s wall (exit {rehearsal.returncode}): restore {restore_seconds:.1f}s "
        f"(checksum pass + pg_restore), migrations {migrations_seconds:.1f}s, rest (start-up, scratch database, "
        f"lint) {wall - restore_seconds - migrations_seconds:.1f}s"
    )
    for migration in report["migrations"]:
        print(f"  {migration['status']:8} {migration['file']}  {migration['seconds']:.3f}s")
        for lock in migration["locks"]:
            print(
                f"      [{lock['level']}] {lock['mode']} on {lock['table']} held {lock['held_seconds']:.3f}s "
                f"(blocks {lock['blocks']})"
            )
        for finding in migration["findings"]:
            if finding["level"] == "error":
                print(f"      [error] squawk {finding['rule']}: {finding['message']}")


if __name__ == "__main__":
    main()
