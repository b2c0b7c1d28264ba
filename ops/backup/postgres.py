"""PostgreSQL plumbing: DSNs without their passwords, pg_dump/pg_restore as children, the catalog.

Credentials never reach output: the DSN password goes to pg_dump/pg_restore through PGPASSWORD
(not argv, where `ps` would show it) and every message passes through `redact`.

Row counts: pg_dump runs inside a snapshot exported by our own REPEATABLE READ transaction, so the
exact counts we take for small tables (`EXACT_COUNT_MAX_BYTES`) describe exactly the rows in the
dump. Bigger tables get `pg_class.reltuples` only: a `count(*)` there would cost a full scan.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import IO, Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from ops.backup.access import read_unreadable
from ops.backup.errors import BackupError, UsageError
from ops.backup.layout import MiB
from ops.backup.toc import failed_entry

__all__ = [
    "EXACT_COUNT_MAX_BYTES",
    "READ_SIZE",
    "STDERR_TAIL_LINES",
    "count_rows",
    "describe_dsn",
    "pg_binary",
    "pg_restore_error",
    "redact",
    "run_pg_restore",
    "split_dsn",
    "user_tables",
]

# Tables up to this size get an exact `count(*)` in the manifest: a scan of a few MiB is cheap.
EXACT_COUNT_MAX_BYTES = 32 * MiB
STDERR_TAIL_LINES = 20
# Pipes between us and pg_dump/pg_restore; also the size of each read.
READ_SIZE = 1 * MiB


_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str, *secret_values: str | None) -> str:
    """Remove passwords from `text`: URL userinfo, `password=...` pairs and any known secret value."""
    out = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    out = _KV_PASSWORD.sub(r"\1***", out)
    for value in secret_values:
        if value and len(value) >= 3:
            out = out.replace(value, "***")
    return out


def split_dsn(dsn: str) -> tuple[str, str | None]:
    """Split a libpq DSN (URL or key=value) into a password-free conninfo and the password."""
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid database URL {redact(dsn)!r}: {redact(str(exc), dsn).strip()}") from None
    password = params.pop("password", None)
    clean = {k: str(v) for k, v in params.items() if v is not None}
    return pg_conninfo.make_conninfo("", **clean), (str(password) if password is not None else None)


def describe_dsn(dsn: str) -> str:
    """`user@host:port/dbname` for messages: enough to recognise the target, no secrets."""
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return redact(dsn)
    user = params.get("user") or "?"
    host = params.get("host") or "local socket"
    port = params.get("port") or "5432"
    return f"{user}@{host}:{port}/{params.get('dbname') or '?'}"


def pg_binary(name: str) -> str:
    """Find pg_dump/pg_restore: PG_BINDIR if set (to pick a version), else PATH."""
    bindir = os.environ.get("PG_BINDIR")
    path = os.path.join(bindir, name) if bindir else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        where = f"PG_BINDIR={bindir}" if bindir else "PATH"
        raise UsageError(f"{name} not found on {where}: install the PostgreSQL client matching the server")
    return path


def pg_env(password: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return env


@contextlib.contextmanager
def sql_errors(what: str, dsn: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise BackupError(f"{what} on {describe_dsn(dsn)}: {redact(str(exc), dsn).strip()}") from None


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, connect_timeout=15, **kwargs)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to {describe_dsn(dsn)}: {redact(str(exc), dsn).strip()}") from None


class StderrTail:
    """Drain a child's stderr in a thread (so it can never block) and keep its last lines."""

    def __init__(self, stream: IO[bytes], secrets_: tuple[str | None, ...]) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        # pg_restore's "from TOC entry" and "error:" lines, which a long failed command can push out of the tail.
        self._marks: collections.deque[str] = collections.deque(maxlen=2)
        self._secrets = secrets_
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            if line.startswith(("pg_restore: from TOC entry", "pg_restore: error:")):
                self._marks.append(line)

    def text(self) -> str:
        self._thread.join(timeout=5)
        return redact("\n".join(self._lines), *self._secrets)

    def marks(self) -> str:
        self._thread.join(timeout=5)
        return redact("\n".join(self._marks), *self._secrets)


def pg_restore_error(what: str, returncode: int, stderr: str, marks: str = "") -> BackupError:
    """pg_restore's failure, the entry it stopped at first (it runs with --verbose to print it);
    `marks`: that entry's lines when `stderr` is only the tail."""
    at = failed_entry(stderr) or failed_entry(marks)
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
    return BackupError(f"{what} failed with exit code {returncode}" + (f" at {at}" if at else "") + f":\n{tail}")


def run_pg_restore(args: list[str], target_url: str, password: str | None, what: str) -> None:
    """Run pg_restore to completion (stdin closed); raise BackupError naming the entry it stopped at."""
    proc = subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=pg_env(password),
        check=False,
    )
    if proc.returncode != 0:
        stderr = redact(proc.stderr.decode("utf-8", "replace"), target_url, password)
        raise pg_restore_error(what, proc.returncode, stderr)


def widen_pipe(stream: IO[bytes]) -> None:
    """1 MiB pipe instead of 64 KiB: fewer context switches between us and pg_dump/pg_restore."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, READ_SIZE)


# How long pg_dump/pg_restore get to stop their workers after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 5.0


def stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop pg_dump/pg_restore: SIGTERM first, SIGKILL after `grace` seconds.

    With `--jobs`, SIGTERM is what stops the workers too: the leader's handler signals them and
    cancels their queries (src/bin/pg_dump/parallel.c, `sigTermHandler`). SIGKILL reaches the leader
    alone; its workers finish the table they are on (pg_restore commits it) before they notice.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


_USER_TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples::bigint, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def user_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str, int, int]]:
    """User tables (not catalogs, not extension members): schema, name, reltuples, size in bytes."""
    return [(str(s), str(n), int(t), int(b)) for s, n, t, b in conn.execute(_USER_TABLES_SQL).fetchall()]


def count_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def snapshot_and_describe(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Open the REPEATABLE READ transaction whose snapshot pg_dump will share; read server facts and
    what pg_dump would read that the role may not (`access`, an `ops.backup.access.DumpAccess`).
    `tables` leaves out the tables the dump will leave out."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    row = conn.execute(
        "SELECT current_database(), current_setting('server_version'), current_setting('server_version_num')::int, "
        "pg_database_size(current_database())"
    ).fetchone()
    assert row is not None
    snapshot: str | None
    try:
        snap = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot = str(snap[0]) if snap else None
    except psycopg.Error:
        # e.g. a transaction-mode pooler; the dump is still consistent, the counts merely approximate.
        conn.rollback()
        snapshot = None
    access = read_unreadable(conn)
    excluded = {(u.schema, u.name) for u in access.excluded}
    return {
        "database": str(row[0]),
        "server_version": str(row[1]),
        "server_version_num": int(row[2]),
        "size_bytes": int(row[3]),
        "snapshot": snapshot,
        "tables": [t for t in user_tables(conn) if t[:2] not in excluded],
        "access": access,
    }


def exact_counts(conn: psycopg.Connection[Any], tables: list[tuple[str, str, int, int]], out: dict[str, int]) -> None:
    for schema, name, _estimate, size in tables:
        if size <= EXACT_COUNT_MAX_BYTES:
            try:
                # A savepoint per table: one failure must not end the transaction that holds the snapshot.
                with conn.transaction():
                    out[f"{schema}.{name}"] = count_rows(conn, schema, name)
            except psycopg.Error:
                # A lock or a cancellation, for instance: the manifest keeps the estimate. (A table the role
                # may not read is refused or left out before the dump: `ops.backup.access`.)
                continue
