"""Database migrations: rehearse the pending Supabase migrations on a restored copy before `db push`.

Owns reading a Supabase migrations directory the way `supabase db push` does (``files``, with the
CLI's statement splitter in ``parser``), the migration linter (``lint``: squawk), the rehearsal
itself (``rehearse``: each file one pgx-style batch, ``pipeline``, run as a role shaped like
Supabase's `postgres`, ``role``); ``cli`` is `chefchatz migrate`.
"""

from ops.migrate.files import (
    SUPABASE_CLI_VERSION,
    MigrationFile,
    MigrationInputError,
    discover,
    pending,
    split_statements,
)
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
from ops.migrate.role import MIGRATION_ROLE

__all__ = [
    "DEFAULT_LOCK_BUDGET",
    "ERROR_RULES",
    "MIGRATION_ROLE",
    "REPORT_KIND",
    "SUPABASE_CLI_VERSION",
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
