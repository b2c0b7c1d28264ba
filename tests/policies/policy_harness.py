"""Call the pack's policies exactly as the CrossGuard engine does, without the engine.

The analyzer servicer receives properties and policy config as protobuf Structs, so every number
arrives as a float, secrets arrive wrapped in a secret signature and are unwrapped for analysis,
and unknown values arrive as the SDK's sentinel strings behind `unknown_checking_proxy`. These
builders reproduce that path (Struct round trip, `deserialize_properties`, the proxy), then call
`policy.validate(args, report)` like pulumi-policy's own SDK tests.

Kept out of `conftest.py` so that test modules can import it by name; there is deliberately no
`tests/policies/__init__.py`: a package called `policies` under `tests/` would shadow the real
`policies` package for pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

__all__ = [
    "UNKNOWN_ARRAY_VALUE",
    "UNKNOWN_BOOLEAN_VALUE",
    "UNKNOWN_NUMBER_VALUE",
    "UNKNOWN_OBJECT_VALUE",
    "UNKNOWN_STRING_VALUE",
    "Finding",
    "Findings",
    "config_for",
    "engine_props",
    "options",
    "resource",
    "run_resource_policy",
    "run_stack_policy",
    "secret",
    "urn",
]

PROJECT = "chefchatz"
UNVERIFIABLE = "cannot be verified"


def urn(resource_type: str, name: str, stack: str = "prod") -> str:
    """`urn:pulumi:prod::chefchatz::aws:s3/bucket:Bucket::name` (the stack is the third field)."""
    return f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}"


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine sends a secret: wrapped in the secret signature."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def _wire(value: Mapping[str, Any]) -> dict[str, Any]:
    """Through a protobuf Struct and back, as the engine sends it: every number becomes a float."""
    message = struct_pb2.Struct()
    json_format.ParseDict(dict(value), message)
    return json_format.MessageToDict(message)


def engine_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Resource inputs as a policy sees them: wire format, secrets unwrapped, unknowns raising."""
    return unknown_checking_proxy(deserialize_properties(_wire(props)))


def config_for(policy: ResourceValidationPolicy | StackValidationPolicy, **overrides: Any) -> dict[str, Any]:
    """The policy's schema defaults merged with `overrides`, as the CLI hands them to the pack."""
    schema = policy.config_schema.properties if policy.config_schema else {}
    unknown = sorted(set(overrides) - set(schema))
    if unknown:
        raise AssertionError(f"policy {policy.name} has no config properties {unknown}; it has {sorted(schema)}")
    config = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    config.update(overrides)
    return _wire(config)


OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def options(*, delete_before_replace: bool | None = None, protect: bool = False) -> PolicyResourceOptions:
    """Resource options as the engine sends them (`delete_before_replace` None: not set by the program)."""
    return PolicyResourceOptions(protect, [], delete_before_replace, [], PolicyCustomTimeouts(0, 0, 0), [])


class _Anywhere:
    """Sentinel: a finding may be reported against any URN (or none)."""


ANYWHERE = _Anywhere()


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str | None


class Findings(list[Finding]):
    """What a policy reported, with assertions whose failure names the resource and the findings."""

    def messages(self) -> list[str]:
        return [f.message for f in self]

    def with_text(self, text: str) -> list[Finding]:
        return [f for f in self if text in f.message]

    def expect(self, text: str, on: str | _Anywhere | None = ANYWHERE) -> Finding:
        """The one finding containing `text` (reported against URN `on`, when given)."""
        found = self.with_text(text)
        if not isinstance(on, _Anywhere):
            found = [f for f in found if f.urn == on]
        where = "" if isinstance(on, _Anywhere) else f" on {on}"
        assert len(found) == 1, f"expected one finding containing {text!r}{where}; got {list(self)}"
        return found[0]

    def expect_unverifiable(self, on: str | _Anywhere | None = ANYWHERE, path: str | None = None) -> Finding:
        """A preview-time unknown was reported as a violation of the rule, not silently passed, naming
        the unknown property (`path`, dotted as the proxy names it) when given."""
        finding = self.expect(UNVERIFIABLE, on)
        if path is not None:
            assert f"value at .{path} can't be known" in finding.message, f"{path} not named in {finding.message!r}"
        return finding


def _recorder() -> tuple[Findings, Any]:
    findings = Findings()

    def report(message: str, violation_urn: str | None = None) -> None:
        findings.append(Finding(message, violation_urn))

    return findings, report


def run_resource_policy(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    stack: str = "prod",
    name: str = "chefchatz-test",
    config: Mapping[str, Any] | None = None,
    opts: PolicyResourceOptions = OPTS,
) -> Findings:
    """Validate one resource's inputs (plain camelCase dict) with `policy` and its default config."""
    assert isinstance(policy, ResourceValidationPolicy), f"{policy.name} is not a resource policy"
    args = ResourceValidationArgs(
        resource_type,
        engine_props(props),
        urn(resource_type, name, stack),
        name,
        opts,
        None,
        config if config is not None else config_for(policy),
        {},
    )
    findings, report = _recorder()
    result = policy.validate(args, report)
    assert result is None, f"{policy.name} returned an awaitable; the engine would have to run it"
    return findings


def resource(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    stack: str = "prod",
    property_dependencies: Mapping[str, Sequence[PolicyResource]] | None = None,
    after: Sequence[PolicyResource] = (),
    opts: PolicyResourceOptions = OPTS,
) -> PolicyResource:
    """One resource of a stack validation, with its property dependencies (e.g. `dimensions`) and the
    resources it was told to wait for (`depends_on`): the engine's `dependencies` are both."""
    deps = {key: list(value) for key, value in (property_dependencies or {}).items()}
    dependencies = [*(d for value in deps.values() for d in value), *after]
    return PolicyResource(
        resource_type, engine_props(props), urn(resource_type, name, stack), name, opts, None, None, dependencies, deps
    )


def run_stack_policy(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    resources: Sequence[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> Findings:
    assert isinstance(policy, StackValidationPolicy), f"{policy.name} is not a stack policy"
    args = StackValidationArgs(list(resources), config if config is not None else config_for(policy), {})
    findings, report = _recorder()
    result = policy.validate(args, report)
    assert result is None, f"{policy.name} returned an awaitable; the engine would have to run it"
    return findings
