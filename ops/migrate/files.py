"""Migration files the way `supabase db push` reads them: which files, in which order, which statements.

The Supabase CLI takes every file of ``supabase/migrations`` whose name matches
``^([0-9]+)_(.*)\\.sql$`` (version = the digits, name = the rest), in file-name order, and skips the
others with a warning. It splits each file into statements with its own parser and records them in
``supabase_migrations.schema_migrations(version, name, statements)``
(github.com/supabase/cli, ``pkg/migration/file.go`` and ``pkg/migration/history.go``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MIGRATION_FILE = re.compile(r"^([0-9]+)_(.*)\.sql$")


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
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
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


def pending(local: list[MigrationFile], applied: set[str]) -> tuple[list[MigrationFile], list[str]]:
    """The migrations `db push` would apply, and the reasons it would refuse to push at all.

    `db push` stops when the database has versions the directory lacks, or when a pending version
    sorts before the newest applied one (it then needs ``--include-all``).
    """
    problems: list[str] = []
    local_versions = {m.version for m in local}
    unknown = sorted(applied - local_versions)
    if unknown:
        problems.append(
            f"the database has migrations the directory lacks ({', '.join(unknown)}): "
            "`supabase db push` refuses to push until the history is repaired"
        )
    todo = [m for m in local if m.version not in applied]
    newest = max(applied, default=None)
    late = [m.file for m in todo if newest is not None and m.version < newest]
    if late:
        problems.append(
            f"pending migrations older than the newest applied one ({newest}): {', '.join(late)}; "
            "`supabase db push` skips them unless run with --include-all"
        )
    return todo, problems


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_statements(text: str) -> list[str]:
    """Split SQL into statements at top-level semicolons, like the Supabase CLI's parser.

    Semicolons inside quotes, identifiers, dollar-quoted bodies, comments and ``BEGIN ATOMIC ... END``
    function bodies do not split. Statements are trimmed; empty and comment-only ones are dropped.
    """
    statements: list[str] = []
    start = 0
    i = 0
    depth_atomic = 0
    has_code = False
    previous_word = ""
    n = len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            i = _skip_block_comment(text, i)
            continue
        if char in "'\"":
            escapes = char == "'" and i > 0 and text[i - 1] in "eE" and not _is_word_char(text, i - 2)
            i = _skip_quoted(text, i, char, escapes)
            has_code = True
            continue
        if char == "$":
            tag = _DOLLAR_TAG.match(text, i)
            if tag and not _is_word_char(text, i - 1):
                end = text.find(tag.group(0), tag.end())
                i = n if end < 0 else end + len(tag.group(0))
                has_code = True
                continue
        word = _WORD.match(text, i) if (char.isalpha() or char == "_") and not _is_word_char(text, i - 1) else None
        if word:
            keyword = word.group(0).upper()
            if keyword == "ATOMIC" and previous_word == "BEGIN":
                depth_atomic += 1
            elif keyword == "END" and depth_atomic:
                depth_atomic -= 1
            elif keyword == "CASE" and depth_atomic:
                depth_atomic += 1  # CASE ... END inside an atomic body
            previous_word = keyword
            has_code = True
            i = word.end()
            continue
        if char == ";" and not depth_atomic:
            if has_code:
                statements.append(text[start : i + 1].strip())
            start = i + 1
            has_code = False
            i += 1
            continue
        if not char.isspace():
            has_code = True
        i += 1
    if has_code:
        statements.append(text[start:].strip())
    return statements


def _is_word_char(text: str, index: int) -> bool:
    return index >= 0 and (text[index].isalnum() or text[index] in "_$")


def _skip_block_comment(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _skip_quoted(text: str, i: int, quote: str, backslash_escapes: bool) -> int:
    i += 1
    while i < len(text):
        if backslash_escapes and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            if text.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return i
