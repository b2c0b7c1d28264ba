"""Migration files the way `supabase db push` reads them: which files, in which order, which statements.

The Supabase CLI takes every file of ``supabase/migrations`` whose name matches
``^([0-9]+)_(.*)\\.sql$`` (version = the digits, name = the rest), in file-name order, and skips the
others with a warning. It splits each file into statements with its own parser (``ops.migrate.parser``)
and records them in ``supabase_migrations.schema_migrations(version, name, statements)``.

Source: github.com/supabase/cli at v2.104.0, ``apps/cli-go/pkg/migration/list.go``, ``file.go``,
``apply.go`` and ``history.go``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ops.migrate.parser import split_and_trim

# The Supabase CLI release whose `db push` the rehearsal reproduces (its Go sources, apps/cli-go/).
# The app repository's `supabase` dev dependency, which `pnpm supabase db push` runs, must match it.
SUPABASE_CLI_VERSION = "2.104.0"

MIGRATION_FILE = re.compile(r"^([0-9]+)_(.*)\.sql$")
# `list.go` shouldSkip: an old CLI's first migration, <timestamp>_init.sql, is skipped (unanchored, as there).
LEGACY_INIT = re.compile(r"([0-9]{14})_init\.sql")
LEGACY_INIT_BEFORE = 20211209000000

# `apply.go`: the errors `db push` stops with before it applies anything.
MISSING_LOCAL = "Remote migration versions not found in local migrations directory."
MISSING_REMOTE = "Found local migration files to be inserted before the last migration on remote database."


class MigrationInputError(ValueError):
    """The migrations directory or a file in it cannot be used (exit code 2)."""


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path

    @property
    def file(self) -> str:
        return self.path.name


def migrations_dir(path: Path) -> Path:
    """DIR itself, or DIR/supabase/migrations when DIR is the app repository's root."""
    if not path.is_dir():
        raise MigrationInputError(f"--migrations {str(path)!r} is not a directory")
    nested = path / "supabase" / "migrations"
    return nested if nested.is_dir() else path


def discover(directory: Path) -> tuple[list[MigrationFile], list[str]]:
    """The migration files in apply order, and the names of the `.sql` files `db push` would skip."""
    found: list[MigrationFile] = []
    skipped: list[str] = []
    versions: dict[str, str] = {}
    for position, path in enumerate(sorted(directory.iterdir(), key=lambda p: p.name)):
        if position == 0 and _is_legacy_init(path.name):
            skipped.append(path.name)
            continue
        if not path.is_file() or not path.name.endswith(".sql"):
            continue
        match = MIGRATION_FILE.match(path.name)
        if not match:
            skipped.append(path.name)
            continue
        version, name = match.groups()
        if version in versions:
            raise MigrationInputError(
                f"migrations {versions[version]!r} and {path.name!r} share version {version}: "
                "schema_migrations keys on the version, so one of them would never run"
            )
        versions[version] = path.name
        found.append(MigrationFile(version, name, path))
    if not found:
        raise MigrationInputError(
            f"no migration files in {str(directory)!r}: expected <version>_<name>.sql, e.g. 20260101120000_profiles.sql"
            + (f" (skipped: {', '.join(skipped)})" if skipped else "")
        )
    return found, skipped


def _is_legacy_init(name: str) -> bool:
    match = LEGACY_INIT.search(name)
    return match is not None and int(match.group(1)) < LEGACY_INIT_BEFORE


def pending(local: list[MigrationFile], applied: list[str]) -> tuple[list[MigrationFile], str | None]:
    """The migrations `db push` would apply, or why it refuses and applies none of them.

    ``applied``: the database's versions in ``ORDER BY version`` order, as the CLI reads them. A port
    of ``FindPendingMigrations`` (``apply.go``): one merge walk over both sorted lists; remote
    versions the directory lacks stop the push first, then local files older than a remote version
    (out of order: ``db push`` needs ``--include-all``, which the pipeline does not pass). When it
    refuses, the first value is every local migration not yet applied, none of which would run.
    """
    missing: list[str] = []
    late: list[MigrationFile] = []
    i = j = 0
    while i < len(applied) and j < len(local):
        remote, version = applied[i], local[j].version
        if remote == version:
            i += 1
            j += 1
        elif remote < version:
            missing.append(remote)
            i += 1
        else:
            late.append(local[j])
            j += 1
    if j == len(local):
        missing += applied[i:]
    done = set(applied)
    not_applied = [m for m in local if m.version not in done]
    if missing:
        return not_applied, (
            f"{MISSING_LOCAL} ({', '.join(missing)}): `supabase db push` refuses and applies nothing until "
            "the history is repaired (`supabase migration repair --status reverted ...`)"
        )
    if late:
        return not_applied, (
            f"{MISSING_REMOTE} ({', '.join(m.file for m in late)}): `supabase db push` refuses and applies "
            "nothing without --include-all"
        )
    return local[len(applied) :], None


def split_statements(text: str) -> list[str]:
    """The statements `db push` sends for a file's text, and records: ``parser.SplitAndTrim``."""
    return split_and_trim(text)


def read_statements(migration: MigrationFile) -> list[str]:
    """A migration file's statements; a file that is not UTF-8 is bad input, named."""
    try:
        # The file's bytes as the Supabase CLI reads them: no newline translation (a lone CR ends no
        # `--` comment for its parser).
        text = migration.path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationInputError(f"migration {migration.file!r} is not UTF-8 text: {exc}") from None
    return split_statements(text)
