"""One pgx batch, as `supabase db push` sends a migration file: extended protocol, one Sync at the end.

pgx's ``PgConn.ExecBatch`` sends Parse/Bind/Describe/Execute for every statement and a single Sync
after the last. Until that Sync PostgreSQL runs them in one implicit transaction: the first
statement runs outside any transaction block (so ``CREATE INDEX CONCURRENTLY`` may run, and commits
on its own), the later ones inside one, and an error skips everything up to the Sync. libpq's
pipeline mode sends exactly those messages (``PQsendQueryParams`` without a Sync,
``PQpipelineSync``). A statement is never more than one command here, as there: "cannot insert
multiple commands into a prepared statement".

``Pipeline.execute`` flushes each statement and waits for its result before the next is sent; the
server behaves the same whether the next message is already queued or not, and the caller gets the
time each statement took and a pause, with the transaction open, after each one.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

TEXT_OID = 25
TEXT_ARRAY_OID = 1009
_DONE = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY)


@dataclass(frozen=True)
class StatementError:
    """The server's error for one statement of the batch."""

    sqlstate: str | None
    message: str
    detail: str | None


def text_array(values: Sequence[str]) -> bytes:
    """A ``text[]`` parameter in PostgreSQL's text format: every element quoted and escaped."""
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return ("{" + ",".join(quoted) + "}").encode()


class Pipeline:
    """A batch on ``conn`` (autocommit, idle): ``execute`` each statement, then ``sync`` once."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._pg = conn.pgconn
        self._nonblocking = self._pg.nonblocking
        self._synced = False

    def __enter__(self) -> Pipeline:
        # Blocking libpq calls: each send is flushed whole and each result awaited.
        self._pg.nonblocking = 0
        self._pg.enter_pipeline_mode()
        return self

    def execute(
        self, statement: str, params: Sequence[bytes] | None = None, param_types: Sequence[int] | None = None
    ) -> StatementError | None:
        """Send one statement (no Sync) and wait for its result: None, or the server's error."""
        values = list(params) if params is not None else None
        self._pg.send_query_params(statement.encode(), values, param_types)
        self._pg.send_flush_request()
        self._pg.flush()
        result = self._pg.get_result()
        if result is None:
            raise psycopg.OperationalError(self._pg.get_error_message() or "the server closed the connection")
        while self._pg.get_result() is not None:  # the NULL that ends this statement's results
            pass
        if result.status in _DONE:
            return None
        return StatementError(
            sqlstate=_field(result, pq.DiagnosticField.SQLSTATE),
            message=_field(result, pq.DiagnosticField.MESSAGE_PRIMARY)
            or result.get_error_message()
            or pq.ExecStatus(result.status).name,
            detail=_field(result, pq.DiagnosticField.MESSAGE_DETAIL),
        )

    def sync(self) -> None:
        """The Sync that ends the implicit transaction: commit, or roll back after an error."""
        self._pg.pipeline_sync()
        self._pg.flush()
        while True:
            result = self._pg.get_result()
            if result is None:
                if self._pg.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError(self._pg.get_error_message())
                continue
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                break
        self._synced = True

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        try:
            if not self._synced and self._pg.status == pq.ConnStatus.OK:
                self.sync()  # never leave the session inside the batch's transaction
            self._pg.exit_pipeline_mode()
        finally:
            self._pg.nonblocking = self._nonblocking


def _field(result: pq.abc.PGresult, field: pq.DiagnosticField) -> str | None:
    value = result.error_field(field)
    return value.decode("utf-8", "replace") if value is not None else None
