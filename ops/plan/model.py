"""What an offline plan is: the recorded stack, its violations, the engine's markers and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import proxy

from ops import ExitStatus

# The engine's markers, as the policy SDK reads them: a secret's signature and the unknowns.
UNKNOWN_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)
# Stand-in ids for offline look-ups, from a range no real object uses, so renderers can label them.
LOOKUP_ID_BASE = 990_000_000
LOOKUP_ID_SPAN = 9_000_000  # ids LOOKUP_ID_BASE + 1 ... + LOOKUP_ID_SPAN

EXIT_OK = ExitStatus.OK
EXIT_VIOLATIONS = ExitStatus.FAILED
EXIT_CONFIG = ExitStatus.BAD_INPUT


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "urn": self.urn, "message": self.message}


@dataclass
class StackPlan:
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    lookups: dict[str, str] = field(default_factory=dict)
    config_error: str | None = None
    violations: list[Violation] = field(default_factory=list)
    policies_evaluated: int = 0
    policy_pack: str = ""

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]


def exit_code(plans: list[StackPlan]) -> int:
    if any(p.config_error for p in plans):
        return EXIT_CONFIG
    if any(p.mandatory_violations for p in plans):
        return EXIT_VIOLATIONS
    return EXIT_OK
