"""Stack configuration as the Pulumi CLI prepares it for a program, without the CLI.

The CLI reads `Pulumi.yaml` (project-level declarations with types and defaults) and
`Pulumi.<stack>.yaml`, rejects project keys that are not declared or have the wrong type, applies
the defaults and hands the program every value as a string (lists as JSON). Secure values cannot be
decrypted here (no credentials), so the offline plan substitutes a clearly marked placeholder that
is still a *secret* to the program, exactly where a real secret would be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class StackConfigError(Exception):
    """The stack's configuration files are unusable; the message names every problem."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        super().__init__(
            f"stack '{stack}': {len(problems)} configuration problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        )


PROMOTION_ORDER = ("dev", "staging", "prod")


def stack_names(directory: Path) -> list[str]:
    """Stacks with a stack file, in promotion order (dev, staging, prod), then any others."""
    names = [p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml")]
    rank = {name: index for index, name in enumerate(PROMOTION_ORDER)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def placeholder(key: str) -> str:
    """The offline stand-in for a secret; it names the key and says what it is."""
    return f"[offline placeholder for secret {key}]"


@dataclass(frozen=True)
class Project:
    name: str
    directory: Path
    declarations: dict[str, dict[str, Any]]
    provider_values: dict[str, Any]

    @property
    def stacks(self) -> list[str]:
        return stack_names(self.directory)


@dataclass
class StackConfig:
    """Configuration of one stack, ready for `pulumi.runtime.set_all_config`."""

    project: str
    stack: str
    values: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    def add_placeholder(self, full_key: str) -> None:
        """A secret this run cannot decrypt (or that is not set): a marked stand-in, still secret."""
        self.values[full_key] = placeholder(full_key)
        self.secret_keys.append(full_key)
        self.placeholders.append(full_key)


def load_project(directory: Path) -> Project:
    path = directory / "Pulumi.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no Pulumi.yaml in {directory} (run from the repository root or pass --project-dir)")
    document = yaml.safe_load(path.read_text()) or {}
    declarations: dict[str, dict[str, Any]] = {}
    provider_values: dict[str, Any] = {}
    for key, value in (document.get("config") or {}).items():
        if ":" in key:
            provider_values[key] = value
        else:
            declarations[key] = value
    return Project(str(document["name"]), directory, declarations, provider_values)


def _type_matches(declared: str, value: Any) -> bool:
    if declared == "string":
        return isinstance(value, str)
    if declared == "boolean":
        return isinstance(value, bool)
    if declared == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if declared == "array":
        return isinstance(value, list)
    return False


def _as_program_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def load_stack_config(project: Project, stack: str) -> StackConfig:
    """Apply project defaults to `Pulumi.<stack>.yaml` the way the CLI does, reporting every problem."""
    path = project.directory / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(project.stacks) or "none"
        raise StackConfigError(stack, [f"no stack file {path.name} (stacks: {known})"])
    document = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = dict(document.get("config") or {})
    problems: list[str] = []
    result = StackConfig(project.name, stack)
    prefix = f"{project.name}:"

    for key, value in project.provider_values.items():
        result.values[key] = _as_program_string(value)

    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            # Provider configuration (aws:region, ...) is not declared by the project.
            if isinstance(value, dict) and "secure" in value:
                result.add_placeholder(full_key)
            else:
                result.values[full_key] = _as_program_string(value)
            continue
        key = full_key[len(prefix) :]
        declaration = project.declarations.get(key)
        if declaration is None:
            problems.append(f"{full_key}: not declared in Pulumi.yaml (check the spelling)")
            continue
        if isinstance(value, dict) and "secure" in value:
            result.add_placeholder(full_key)
            continue
        if declaration.get("secret"):
            problems.append(f"{full_key}: is a secret but is stored in plain text; use `pulumi config set --secret`")
            continue
        declared_type = declaration.get("type", "string")
        if not _type_matches(declared_type, value):
            problems.append(f"{full_key}: expected {declared_type}, got {value!r}")
            continue
        result.values[full_key] = _as_program_string(value)

    for key, declaration in project.declarations.items():
        full_key = prefix + key
        if full_key in result.values or full_key in raw:
            continue
        if declaration.get("secret"):
            # Offline: no secret is ever committed, so every secret gets a marked placeholder.
            result.add_placeholder(full_key)
        elif "default" in declaration:
            result.values[full_key] = _as_program_string(declaration["default"])
        # A missing required value is reported by the program's settings, with all other problems.

    if problems:
        raise StackConfigError(stack, problems)
    return result
