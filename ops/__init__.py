"""The `chefchatz` operations tool: offline plan, backups, restore drills, TLS checks, rollback, sign-off.

`ExitStatus` is what an exit code means, the same for every command (README, "Exit codes"); each
capability names its codes after these.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Exit codes of every `chefchatz` command."""

    OK = 0  # ok: no mandatory violation, the check passed, the watch stayed healthy, promoted
    FAILED = 1  # a check or policy failed, named in the output
    BAD_INPUT = 2  # invalid input, named (file, key or flag, and what is allowed); never a traceback
    INTERNAL = 3  # a bug: one line (`chefchatz --debug ...` for the traceback)
    BACK_ON_EARLIER = 4  # production serves the earlier deployment: rolled back, or the canary aborted
    NOTIFIED = 5  # a rollback trigger fired with automatic rollback off: the targets were notified
    HELD = 6  # a rollout stage had too little traffic to judge: left at that stage, not promoted
