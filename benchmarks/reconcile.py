"""Benchmark `chefchatz reconcile` against a naive full export-and-diff of the same two tables.

    .venv/bin/python benchmarks/reconcile.py                          # 1M rows, and 250k for the memory curve
    .venv/bin/python benchmarks/reconcile.py --rows 1000000 --rows 4000000 --repeat 1

One run: starts a throw-away PostgreSQL on 127.0.0.1 (the backup benchmark's helper), and for each
size builds a `messages` table (bigint key, uuid, timestamptz, ~80 characters of text, a nullable
integer), copies it into two databases (`old` and `live`, CREATE DATABASE ... TEMPLATE), and makes
0.1 % of the rows differ, in three equal parts: rows only `old` has (lost writes), rows only `live`
has (post-failover writes), rows changed on `live` (conflicts). Then it measures, each as a process
tree (wall time and the peak of the summed resident memory, sampled every 10 ms):

    chefchatz reconcile --from old --to live --json     report only: the comparison itself
    naive: psql \\copy old > a; psql \\copy live > b; sort a; sort b; diff

The naive baseline uses `LC_ALL=C sort` (byte order: its fastest setting) and writes to a temporary
directory. PostgreSQL's own server processes serve both alike and are not counted in either.
The tool's answer is checked against the differences the benchmark made.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import psycopg

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
TARGETS = ("reconcile >= 3x faster than export + sort + diff", "peak memory flat in table size (within 20 %)")


def load_backup_benchmark() -> ModuleType:
    """The backup benchmark's PostgreSQL launcher and process-tree measuring, reused as they are."""
    spec = importlib.util.spec_from_file_location("backup_benchmark", ROOT / "benchmarks/backup.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


bench = load_backup_benchmark()

SCHEMA = """
CREATE TABLE messages (
    id bigint PRIMARY KEY,
    author uuid NOT NULL,
    sent_at timestamptz NOT NULL,
    body text NOT NULL,
    tokens integer
)
"""
ROWS = """
INSERT INTO messages
SELECT i, md5((i %% 5000)::text)::uuid, timestamptz '2026-01-01 00:00Z' + i * interval '7 seconds',
       md5(i::text) || ' ' || md5((i * 31)::text) || ' ' || left(md5((i * 17)::text), 14),
       CASE WHEN i %% 11 = 0 THEN NULL ELSE i %% 4000 END
FROM generate_series(1, %s) AS i
"""


def prepare(admin: psycopg.Connection, dsn: str, rows: int) -> tuple[str, str, dict[str, int]]:
    """Two copies of a `rows`-row table that differ in 0.1 % of rows; returns their DSNs and the expected counts."""
    base, old, live = f"base_{rows}", f"old_{rows}", f"live_{rows}"
    admin.execute(f"CREATE DATABASE {base}")
    with psycopg.connect(f"{dsn}/{base}", autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(ROWS, (rows,))
        conn.execute("VACUUM ANALYZE messages")
    admin.execute(f"CREATE DATABASE {old} TEMPLATE {base}")
    admin.execute(f"CREATE DATABASE {live} TEMPLATE {base}")
    admin.execute(f"DROP DATABASE {base}")
    step = 3000  # one row in 1000 differs, taking turns between the three kinds
    with psycopg.connect(f"{dsn}/{live}", autocommit=True) as conn:
        lost = conn.execute("DELETE FROM messages WHERE id %% %s = 0", (step,)).rowcount
        conflicts = conn.execute(
            "UPDATE messages SET body = body || ' (edited)' WHERE id %% %s = 1000", (step,)
        ).rowcount
        conn.execute("VACUUM ANALYZE messages")
    with psycopg.connect(f"{dsn}/{old}", autocommit=True) as conn:
        only_live = conn.execute("DELETE FROM messages WHERE id %% %s = 2000", (step,)).rowcount
        conn.execute("VACUUM ANALYZE messages")
    return f"{dsn}/{old}", f"{dsn}/{live}", {"lost": lost, "only_in_to": only_live, "conflicts": conflicts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="table size (repeatable); default 250k and 1M")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    args = parser.parse_args()
    sizes = sorted(args.rows or [250_000, 1_000_000])
    bindir = bench.pg_bindir()
    psql = f"{bindir}/psql"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = []
    with bench.postgres(bindir) as port, tempfile.TemporaryDirectory() as scratch:
        dsn = f"postgresql://postgres@127.0.0.1:{port}"
        with psycopg.connect(f"{dsn}/postgres", autocommit=True) as admin:
            for rows in sizes:
                t0 = time.perf_counter()
                old, live, expected = prepare(admin, dsn, rows)
                generation = time.perf_counter() - t0
                # Exit 1 is the expected answer here (differences found); the 1 MiB shell is counted.
                reconcile = [sys.executable, "-m", "ops", "reconcile", "--from", old, "--to", live, "--json"]
                ours = bench.best_of(
                    args.repeat,
                    "chefchatz reconcile",
                    ["sh", "-c", '"$@"; [ $? -eq 1 ]', "sh", *reconcile],
                    env=env,
                )
                report = json.loads(ours.stdout)
                found = {k: report["totals"][k] for k in expected}
                if found != expected:
                    sys.exit(f"reconcile found {found}, the benchmark made {expected}")
                a, b = f"{scratch}/a", f"{scratch}/b"
                naive_script = (
                    f"set -e; {psql} -X -q -d {old} -c '\\copy messages TO {a}.tsv'; "
                    f"{psql} -X -q -d {live} -c '\\copy messages TO {b}.tsv'; "
                    f"LC_ALL=C sort -o {a}.sorted {a}.tsv; LC_ALL=C sort -o {b}.sorted {b}.tsv; "
                    f"diff {a}.sorted {b}.sorted > {scratch}/diff || [ $? -eq 1 ]; wc -l < {scratch}/diff"
                )
                naive = bench.best_of(args.repeat, "naive export + sort + diff", ["bash", "-c", naive_script])
                results.append((rows, generation, ours, naive, report))

    print(
        f"\nchefchatz reconcile benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, PostgreSQL {bindir.split('/')[-2]}, "
        f"median of {args.repeat} runs; 0.1 % of rows differ (lost / post-failover / conflict in equal parts)"
    )
    print(f"\n{'rows':>10} {'variant':<30}{'wall s':>8}{'peak RSS':>11}   notes")
    for rows, generation, ours, naive, report in results:
        table = report["tables"][0]
        print(
            f"{rows:>10} {'chefchatz reconcile':<30}{ours.seconds:>8.2f}{ours.peak_tree_rss / MiB:>7.0f} MiB   "
            f"{table['ranges_compared']} ranges hashed, {table['ranges_differing']} differed, "
            f"{table['rows_fetched']} (key, hash) pairs fetched; tool's own time {report['seconds']:.2f}s"
        )
        print(
            f"{'':>10} {'naive export + sort + diff':<30}{naive.seconds:>8.2f}{naive.peak_tree_rss / MiB:>7.0f} MiB   "
            f"{naive.stdout.strip()} diff lines (table built in {generation:.0f}s)"
        )
    largest = results[-1]
    speedup = largest[3].seconds / largest[2].seconds
    peaks = [ours.peak_tree_rss for _, _, ours, _, _ in results]
    growth = max(peaks) / min(peaks) - 1
    print(f"\ntargets (issue 15), whole commands as a user runs them, at {largest[0]} rows")
    for target, value, ok in (
        (TARGETS[0], f"{speedup:.2f}x faster", speedup >= 3),
        (TARGETS[1], f"{min(peaks) / MiB:.0f}..{max(peaks) / MiB:.0f} MiB ({growth * 100:+.0f} %)", growth <= 0.2),
    ):
        print(f"  {'PASS' if ok else 'MISS'}  {target:<52} measured {value}")


if __name__ == "__main__":
    main()
