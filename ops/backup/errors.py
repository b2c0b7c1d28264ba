"""The backup tool's errors; each carries the exit code the CLI uses (1 a check or operation failed,
2 bad input or configuration)."""

from __future__ import annotations

__all__ = [
    "BackupError",
    "CorruptBackupError",
    "CredentialsError",
    "NoBackupError",
    "TargetRefusedError",
    "UsageError",
]


class BackupError(Exception):
    """An operation or check failed (exit code 1)."""

    exit_code = 1


class UsageError(BackupError):
    """The tool was given a bad value or configuration (exit code 2)."""

    exit_code = 2


class CredentialsError(UsageError):
    """AWS (or the Supabase API) rejected or could not find credentials."""


class TargetRefusedError(UsageError):
    """The restore target is not one this restore may write to (checked before anything is written)."""


class NoBackupError(BackupError):
    """There is no complete backup to verify or restore."""


class CorruptBackupError(BackupError):
    """The stored object does not match its manifest."""
