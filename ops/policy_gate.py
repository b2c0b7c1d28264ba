"""The policy gate of the offline plan: the real CrossGuard analyzer, fed as the engine feeds it.

The pack's own analyzer servicer (the object `PolicyPack` serves over gRPC to the Pulumi engine)
receives `Configure` with each policy's config (schema defaults applied, as the CLI does), then one
`Analyze` per resource and one `AnalyzeStack` with all of them. Properties travel as protobuf
Structs with camelCase names, secrets in secret signatures and unknowns as sentinels, so the
policies run behind the same unknown-checking proxy as under `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from ops.plan import StackPlan, Violation
from policies.pack import PACK_NAME, POLICIES, pack_version

_LEVELS = {
    EnforcementLevel.ADVISORY: analyzer_pb2.ADVISORY,
    EnforcementLevel.MANDATORY: analyzer_pb2.MANDATORY,
    EnforcementLevel.DISABLED: analyzer_pb2.DISABLED,
    EnforcementLevel.REMEDIATE: analyzer_pb2.REMEDIATE,
}
_LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
}
_PACK_LEVEL = EnforcementLevel.MANDATORY


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(dict(value), message)
    return message


def policy_config(policy: Policy) -> tuple[str, dict[str, Any]]:
    """(enforcement level, properties with schema defaults) for one policy, as the CLI computes them
    when no `--policy-pack-config` is given (the offline gate always uses the pack's defaults)."""
    level = (policy.enforcement_level or _PACK_LEVEL).value
    properties = {
        key: schema["default"]
        for key, schema in (policy.config_schema.properties if policy.config_schema else {}).items()
        if "default" in schema
    }
    return level, properties


def make_servicer(configs: Mapping[str, tuple[str, dict[str, Any]]], version: str) -> _PolicyAnalyzerServicer:
    """The pack's analyzer, configured as the CLI configures it (`configs`: name -> level, properties)."""
    servicer = _PolicyAnalyzerServicer(PACK_NAME, version, POLICIES, _PACK_LEVEL)
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, (level, properties) in configs.items():
        request.policyConfig[name].CopyFrom(
            analyzer_pb2.PolicyConfig(enforcementLevel=_LEVELS[EnforcementLevel(level)], properties=_struct(properties))
        )
    servicer.Configure(request, None)
    return servicer


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.get("options", {})
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options.get("protect")),
        ignoreChanges=options.get("ignoreChanges", []),
        deleteBeforeReplace=bool(options.get("deleteBeforeReplace")),
        aliases=options.get("aliases", []),
        additionalSecretOutputs=options.get("additionalSecretOutputs", []),
        parent=resource.get("parent") or "",
    )


def _diagnostics(response: Any, default_urn: str = "") -> list[Violation]:
    found = []
    for d in response.diagnostics:
        message = d.message
        if message.startswith(d.description):
            message = message[len(d.description) :].lstrip("\n") or d.description
        found.append(
            Violation(d.policyName, _LEVEL_NAMES.get(d.enforcementLevel, "advisory"), d.urn or default_urn, message)
        )
    return found


def evaluate(plan: StackPlan) -> None:
    """Run every policy of the pack on a stack's planned resources; fills `plan.violations`."""
    configs = {p.name: policy_config(p) for p in POLICIES}
    version = pack_version()
    servicer = make_servicer(configs, version)
    resources = [r for r in plan.resources if r["type"] != "pulumi:pulumi:Stack"]
    # Each resource's properties become a protobuf Struct once; both kinds of request carry it.
    structs = [_struct(r["properties"]) for r in resources]
    violations: list[Violation] = []
    for resource, properties in zip(resources, structs, strict=True):
        request = analyzer_pb2.AnalyzeRequest(
            type=resource["type"],
            properties=properties,
            urn=resource["urn"],
            name=resource["name"],
            options=_options(resource),
        )
        violations.extend(_diagnostics(servicer.Analyze(request, None)))
    stack_request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r["type"],
                properties=properties,
                urn=r["urn"],
                name=r["name"],
                options=_options(r),
                parent=r.get("parent") or "",
                dependencies=r.get("dependencies", []),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.get("propertyDependencies", {}).items()
                },
            )
            for r, properties in zip(resources, structs, strict=True)
        ]
    )
    violations.extend(_diagnostics(servicer.AnalyzeStack(stack_request, None)))
    plan.violations = violations
    plan.policy_pack = f"{PACK_NAME}@v{version}"
    plan.policies_evaluated = sum(level != "disabled" for level, _ in configs.values())
