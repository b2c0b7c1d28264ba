"""Database migrations: rehearse the pending Supabase migrations on a restored copy before `db push`.

Owns reading a Supabase migrations directory the way `supabase db push` does (``files``), the
migration linter (``lint``: squawk) and the rehearsal itself (``rehearse``); ``cli`` is
`chefchatz migrate`.
"""

from ops.migrate.files import MigrationFile, MigrationInputError, discover, pending, split_statements
from ops.migrate.lint import ERROR_RULES, Finding, level_of
from ops.migrate.rehearse import (
    DEFAULT_LOCK_BUDGET,
    REPORT_KIND,
    LockHeld,
    MigrationResult,
    Rehearsal,
    lock_level,
    parse_budget,
    rehearse,
)

__all__ = [
    "DEFAULT_LOCK_BUDGET",
    "ERROR_RULES",
    "REPORT_KIND",
    "Finding",
    "LockHeld",
    "MigrationFile",
    "MigrationInputError",
    "MigrationResult",
    "Rehearsal",
    "discover",
    "level_of",
    "lock_level",
    "parse_budget",
    "pending",
    "rehearse",
    "split_statements",
]
