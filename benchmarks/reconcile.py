"""Benchmark `chefchatz reconcile` against a naive full export-and-diff of the same two tables.

    .venv/bin/python benchmarks/reconcile.py                          # 1M rows, and 250k for the memory curve
    .venv/bin/python benchmarks/reconcile.py --rows 1000000 --rows 4000000 --repeat 1

One run: starts a throw-away PostgreSQL on 127.0.0.1 (the backup benchmark's helper), and for each
size builds two databases that sort text differently, as a failover to a copy restored on another
server may: `old` with the ICU `en-US` collation, `live` with libc `C.UTF-8`. Each holds the same
two tables: `messages` (bigint key, uuid, timestamptz, ~80 characters of text, a nullable integer)
and `cooks` (a text key of ~38 characters whose case and punctuation sort differently under the
two collations, text, timestamptz, a nullable integer). In each table 0.1 % of the rows differ, in
three equal parts: rows only `old` has (lost writes), rows only `live` has (post-failover writes),
rows changed on `live` (conflicts). Then it measures, per table, each as a process tree (wall time,
CPU time of the tree and of the PostgreSQL backends that served it, and the peak of the summed
resident memory, sampled every 10 ms in one more run of its own, as the sampling costs CPU the
timed runs should not share). The targets are judged by wall time; CPU time says how a
run would fare on a busy machine, where wall time depends on what else runs:

    chefchatz reconcile --from old --to live --tables T --json     report only: the comparison itself
    naive: psql \\copy old T > a; psql \\copy live T > b; sort a; sort b; diff

The naive baseline uses `LC_ALL=C sort` (byte order: its fastest setting, and the same under any
database collation) and writes to a temporary directory. PostgreSQL's own server processes serve
both alike: not counted in either's wall time or memory, counted in the CPU column. The tool's
answer is checked against the differences the benchmark made. The tool runs as installed, its
bytecode compiled.
"""

from __future__ import annotations

import argparse
import compileall
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
COLLATIONS = {  # database -> its default collation: the same keys, two orders
    "old": "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    "live": "LOCALE_PROVIDER libc LOCALE 'C.UTF-8'",
}


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
);
CREATE TABLE cooks (
    handle text PRIMARY KEY,
    n bigint NOT NULL,
    display_name text NOT NULL,
    joined_at timestamptz NOT NULL,
    recipes integer
)
"""
ROWS = {
    "messages": """
INSERT INTO messages
SELECT i, md5((i %% 5000)::text)::uuid, timestamptz '2026-01-01 00:00Z' + i * interval '7 seconds',
       md5(i::text) || ' ' || md5((i * 31)::text) || ' ' || left(md5((i * 17)::text), 14),
       CASE WHEN i %% 11 = 0 THEN NULL ELSE i %% 4000 END
FROM generate_series(1, %s) AS i
""",
    "cooks": """
INSERT INTO cooks
SELECT (ARRAY['Chef ', 'chef-', 'CHEF_', 'chef.'])[1 + i %% 4] || md5(i::text), i,
       'Cook ' || left(md5((i * 31)::text), 20), timestamptz '2026-01-01 00:00Z' + i * interval '7 seconds',
       CASE WHEN i %% 13 = 0 THEN NULL ELSE i %% 700 END
FROM generate_series(1, %s) AS i
""",
}
# One row in 1000 differs, taking turns between the three kinds: lost (deleted from live),
# conflicts (changed on live), post-failover rows (deleted from old).
CHANGES = {
    "messages": (
        "DELETE FROM messages WHERE id % 3000 = 0",
        "UPDATE messages SET body = body || ' (edited)' WHERE id % 3000 = 1000",
        "DELETE FROM messages WHERE id % 3000 = 2000",
    ),
    "cooks": (
        "DELETE FROM cooks WHERE n % 3000 = 0",
        "UPDATE cooks SET recipes = -1 WHERE n % 3000 = 1000",
        "DELETE FROM cooks WHERE n % 3000 = 2000",
    ),
}


def prepare(admin: psycopg.Connection, dsn: str, rows: int) -> tuple[str, str, dict[str, dict[str, int]]]:
    """Two databases under different collations with `rows`-row tables that differ in 0.1 % of rows.

    Returns their DSNs and the expected counts per table.
    """
    urls = {}
    for side, collation in COLLATIONS.items():
        name = f"{side}_{rows}"
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 {collation}")
        urls[side] = f"{dsn}/{name}"
        with psycopg.connect(urls[side], autocommit=True) as conn:
            conn.execute(SCHEMA)
            for insert in ROWS.values():
                conn.execute(insert, (rows,))
    expected = {}
    for table, (lose, change, add) in CHANGES.items():
        with psycopg.connect(urls["live"], autocommit=True) as conn:
            lost, conflicts = conn.execute(lose).rowcount, conn.execute(change).rowcount
        with psycopg.connect(urls["old"], autocommit=True) as conn:
            only_live = conn.execute(add).rowcount
        expected[table] = {"lost": lost, "only_in_to": only_live, "conflicts": conflicts}
    for url in urls.values():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    # Measure a server at rest, not one still writing out the load: the next checkpoint (and the
    # kernel's write-back of the files) would otherwise fall within the runs, on the same two cores.
    admin.execute("CHECKPOINT")
    os.sync()
    return urls["old"], urls["live"], expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="table size (repeatable); default 250k and 1M")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    args = parser.parse_args()
    sizes = sorted(args.rows or [250_000, 1_000_000])
    # The tool as installed: pip and uv compile a package's bytecode as they install it, and Python
    # writes it on a first run, but not under PYTHONDONTWRITEBYTECODE (set on our CI machines), where
    # every run of the editable checkout would compile the tool's modules again (15 ms a run).
    compileall.compile_dir(ROOT / "ops", quiet=1)
    bindir = bench.pg_bindir()
    psql = f"{bindir}/psql"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = []
    with bench.postgres(bindir) as (port, postmaster), tempfile.TemporaryDirectory() as scratch:
        dsn = f"postgresql://postgres@127.0.0.1:{port}"
        # No S3 stand-in here: its slot holds the postmaster too, and its figure is not printed.
        servers = bench.Servers(postmaster, postmaster)
        with psycopg.connect(f"{dsn}/postgres", autocommit=True) as admin:
            for rows in sizes:
                t0 = time.perf_counter()
                old, live, expected = prepare(admin, dsn, rows)
                generation = time.perf_counter() - t0
                for table in ROWS:
                    # Exit 1 is the expected answer here (differences found); the 1 MiB shell is counted.
                    reconcile = [
                        *(sys.executable, "-m", "ops", "reconcile", "--from", old, "--to", live),
                        *("--tables", table, "--json"),
                    ]
                    a, b = f"{scratch}/a", f"{scratch}/b"
                    naive_script = (
                        f"set -e; {psql} -X -q -d {old} -c '\\copy {table} TO {a}.tsv'; "
                        f"{psql} -X -q -d {live} -c '\\copy {table} TO {b}.tsv'; "
                        f"LC_ALL=C sort -o {a}.sorted {a}.tsv; LC_ALL=C sort -o {b}.sorted {b}.tsv; "
                        f"diff {a}.sorted {b}.sorted > {scratch}/diff || [ $? -eq 1 ]; wc -l < {scratch}/diff"
                    )
                    ours, naive = bench.timed_in_turns(
                        args.repeat,
                        [
                            ("chefchatz reconcile", ["sh", "-c", '"$@"; [ $? -eq 1 ]', "sh", *reconcile], env),
                            ("naive export + sort + diff", ["bash", "-c", naive_script], None),
                        ],
                        servers,
                    )
                    report = json.loads(ours.stdout)
                    found = {k: report["totals"][k] for k in expected[table]}
                    if found != expected[table]:
                        sys.exit(f"{table}: reconcile found {found}, the benchmark made {expected[table]}")
                    results.append((rows, table, generation, ours, naive, report))

    print(
        f"\nchefchatz reconcile benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, PostgreSQL {bindir.split('/')[-2]}, "
        f"median of {args.repeat} runs; 0.1 % of rows differ (lost / post-failover / conflict in equal parts); "
        "--from sorts text in ICU en-US, --to in C.UTF-8"
    )
    print(f"\n{'rows':>10} {'table':<9} {'variant':<28}{'wall s':>8}{'CPU s':>7}{'peak RSS':>11}   notes")
    for rows, table, generation, ours, naive, report in results:
        stats = report["tables"][0]
        print(
            f"{rows:>10} {table:<9} {'chefchatz reconcile':<28}{ours.seconds:>8.2f}{ours.cpu + ours.server_cpu:>7.2f}"
            f"{ours.peak_tree_rss / MiB:>7.0f} MiB   {stats['passes']} passes, {stats['buckets_compared']} buckets "
            f"hashed, {stats['buckets_differing']} differed ({stats['buckets_pinpointed']} pinpointed to a piece), "
            f"{stats['rows_fetched']} (key, hash) pairs fetched; "
            f"tool's own time {report['seconds']:.2f}s"
        )
        print(
            f"{'':>10} {'':<9} {'naive export + sort + diff':<28}"
            f"{naive.seconds:>8.2f}{naive.cpu + naive.server_cpu:>7.2f}"
            f"{naive.peak_tree_rss / MiB:>7.0f} MiB   {naive.stdout.strip()} diff lines "
            f"(databases built in {generation:.0f}s)"
        )
    largest = max(sizes)
    print(f"\ntargets (issues 15 and 24), whole commands as a user runs them, at {largest} rows")
    for table in ROWS:
        runs = [(ours, naive) for rows, t, _, ours, naive, _ in results if t == table]
        ours, naive = next((o, n) for rows, t, _, o, n, _ in results if t == table and rows == largest)
        speedup = naive.seconds / ours.seconds
        peaks = [o.peak_tree_rss for o, _ in runs]
        growth = max(peaks) / min(peaks) - 1
        for target, value, ok in (
            (TARGETS[0], f"{speedup:.2f}x faster", speedup >= 3),
            (TARGETS[1], f"{min(peaks) / MiB:.0f}..{max(peaks) / MiB:.0f} MiB ({growth * 100:+.0f} %)", growth <= 0.2),
        ):
            print(f"  {'PASS' if ok else 'MISS'}  {table:<9} {target:<52} measured {value}")


if __name__ == "__main__":
    main()
