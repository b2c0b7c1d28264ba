"""Data reconciliation after a failover: find the writes the recovered database lost, and bring them back.

Owns `chefchatz reconcile`. `reconcile()` compares every keyed table of a schema between the
recovered source (--from) and the live database (--to) by hashes of buckets of rows (a row's
bucket: a hash of its primary key, the same under any collation), classifies each differing key
(lost, only in --to, conflict) and, when asked, inserts the lost rows in foreign-key order
without ever deleting or overwriting. `rehearse_failover()` exercises all of it
on a restored scratch database (the restore drill's `--failover`).
"""

from ops.reconcile.catalog import ReconcileInputError
from ops.reconcile.rehearsal import Rehearsal, rehearse_failover
from ops.reconcile.report import Report, TableReport
from ops.reconcile.run import DEFAULT_BATCH_ROWS, describe, reconcile

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "ReconcileInputError",
    "Rehearsal",
    "Report",
    "TableReport",
    "describe",
    "reconcile",
    "rehearse_failover",
]
