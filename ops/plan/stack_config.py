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
from typing import TYPE_CHECKING, Any

import yaml

from ops.plan.documents import DocumentError, load_yaml, read_document

if TYPE_CHECKING:
    from components.settings import Settings


class StackConfigError(Exception):
    """The stack's configuration files are unusable; the message names every problem."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        super().__init__(
            f"stack '{stack}': {len(problems)} configuration problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        )


class PackConfigError(Exception):
    """A `--policy-pack-config` file the CLI would reject; the message names the file and the key."""


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


# The types a project may declare for a config key (Pulumi's project schema).
DECLARED_TYPES = ("string", "integer", "boolean", "array")


def _read_yaml(path: Path, stack: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; anything else names the file and where it broke."""
    try:
        document = load_yaml(read_document(path), path.name)
    except DocumentError as exc:
        raise StackConfigError(stack, [str(exc)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackConfigError(stack, [f"{path.name}: not valid YAML{where}: {problem}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackConfigError(stack, [f"{path.name}: the top level must be a mapping, got {type(document).__name__}"])
    return document


def _config_section(document: dict[str, Any], path: Path, stack: str) -> dict[str, Any]:
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackConfigError(stack, [f"{path.name}: 'config' must be a mapping of keys to values"])
    return config


def load_project(directory: Path, stack: str = "*") -> Project:
    """`Pulumi.yaml`: the project's name and its config declarations; problems name file and key."""
    path = directory / "Pulumi.yaml"
    if not path.is_file():
        raise StackConfigError(
            stack, [f"no Pulumi.yaml in {directory} (run from the repository root or pass --project-dir)"]
        )
    document = _read_yaml(path, stack)
    problems: list[str] = []
    name = document.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"Pulumi.yaml: 'name' must be the project name (a string), got {name!r}")
    declarations: dict[str, dict[str, Any]] = {}
    provider_values: dict[str, Any] = {}
    for key, value in _config_section(document, path, stack).items():
        if ":" in str(key):
            provider_values[str(key)] = value
        elif not isinstance(value, dict):
            problems.append(f"Pulumi.yaml: config.{key}: must be a declaration (type, description, default)")
        elif value.get("type", "string") not in DECLARED_TYPES:
            problems.append(
                f"Pulumi.yaml: config.{key}: type {value.get('type')!r} is not one of {', '.join(DECLARED_TYPES)}"
            )
        elif "default" in value and not _type_matches(value.get("type", "string"), value["default"]):
            problems.append(
                f"Pulumi.yaml: config.{key}: default {value['default']!r} is not a {value.get('type', 'string')}"
            )
        else:
            declarations[str(key)] = value
    if problems:
        raise StackConfigError(stack, problems)
    return Project(str(name), directory, declarations, provider_values)


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
    raw: dict[str, Any] = dict(_config_section(_read_yaml(path, stack), path, stack))
    problems: list[str] = []
    result = StackConfig(project.name, stack)
    prefix = f"{project.name}:"

    for key, value in project.provider_values.items():
        result.values[key] = _as_program_string(value)

    for key_as_written, value in raw.items():
        full_key = str(key_as_written)
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
            problems.append(f"{path.name}: {full_key}: not declared in Pulumi.yaml (check the spelling)")
            continue
        if isinstance(value, dict) and "secure" in value:
            result.add_placeholder(full_key)
            continue
        if declaration.get("secret"):
            problems.append(
                f"{path.name}: {full_key}: is a secret but is stored in plain text; use `pulumi config set --secret`"
            )
            continue
        declared_type = declaration.get("type", "string")
        if not _type_matches(declared_type, value):
            problems.append(f"{path.name}: {full_key}: expected {declared_type}, got {value!r}")
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


def load_stack_settings(project_dir: Path, stack: str) -> Settings:
    """The stack's validated settings (frequencies, RTO, domains), read offline like the plan reads them."""
    from components.settings import NAMESPACE, SECRET_KEYS, load_settings

    project = load_project(project_dir)
    config = load_stack_config(project, stack)
    prefix = f"{NAMESPACE}:"
    raw = {
        k[len(prefix) :]: v
        for k, v in config.values.items()
        if k.startswith(prefix) and k[len(prefix) :] not in SECRET_KEYS
    }
    return load_settings(project.name, stack, raw, config.values.get("aws:region", "us-east-1"))
