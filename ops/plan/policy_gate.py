"""The policy gate of the offline plan: the real CrossGuard analyzer, fed as the engine feeds it.

The pack's own analyzer servicer (the object `PolicyPack` serves over gRPC to the Pulumi engine)
receives `Configure` with each policy's config (schema defaults applied, as the CLI does), then one
`Analyze` per resource and one `AnalyzeStack` with all of them. Properties travel as protobuf
Structs with camelCase names, secrets in secret signatures and unknowns as sentinels, so the
policies run behind the same unknown-checking proxy as under `pulumi preview`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import pickle
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi_policy.policy
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from ops.plan.documents import DocumentError, load_json, read_document
from ops.plan.model import StackPlan, Violation
from ops.plan.stack_config import PackConfigError
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


PolicyConfigs = dict[str, tuple[str, dict[str, Any]]]

__all__ = ["PackConfigError", "PolicyConfigs", "default_configs", "evaluate", "pack_configs"]


def policy_config(policy: Policy) -> tuple[str, dict[str, Any]]:
    """(enforcement level, properties with schema defaults) for one policy, as the CLI computes them
    when no `--policy-pack-config` is given."""
    level = (policy.enforcement_level or _PACK_LEVEL).value
    properties = {
        key: schema["default"]
        for key, schema in (policy.config_schema.properties if policy.config_schema else {}).items()
        if "default" in schema
    }
    return level, properties


def default_configs() -> PolicyConfigs:
    return {p.name: policy_config(p) for p in POLICIES}


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
}
_LEVEL_VALUES = tuple(level.value for level in EnforcementLevel)


def _schema_problem(where: str, value: Any, schema: Mapping[str, Any]) -> str | None:
    expected = schema.get("type")
    types = _JSON_TYPES.get(str(expected), (object,))
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        return f"{where}: expected {expected}, got {value!r}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"{where}: {value!r} is below the minimum {schema['minimum']}"
    items = schema.get("items")
    if isinstance(value, list) and items:
        for index, item in enumerate(value):
            problem = _schema_problem(f"{where}[{index}]", item, items)
            if problem:
                return problem
    return None


def _level(where: str, value: Any) -> str:
    if value not in _LEVEL_VALUES:
        raise PackConfigError(f"{where}: enforcement level {value!r} is not one of {', '.join(_LEVEL_VALUES)}")
    return str(value)


def pack_configs(path: Path | None) -> PolicyConfigs:
    """Each policy's (level, properties): the pack's defaults overlaid with a policy pack config file.

    The file is what `pulumi preview --policy-pack-config FILE` takes: a JSON object whose keys are
    policy names (or `all`), each either an enforcement level or an object of `enforcementLevel` and
    the policy's config properties, checked against the policy's schema as the CLI checks them.
    https://www.pulumi.com/docs/using-pulumi/crossguard/configuration/
    """
    configs = default_configs()
    if path is None:
        return configs
    try:
        document = load_json(read_document(path), str(path))
    except DocumentError as exc:
        raise PackConfigError(str(exc)) from None
    if not isinstance(document, dict):
        raise PackConfigError(f"{path}: must be a JSON object of policy name -> config")
    schemas = {p.name: (p.config_schema.properties if p.config_schema else {}) for p in POLICIES}
    if "all" in document:
        entry = document["all"]
        level = entry.get("enforcementLevel") if isinstance(entry, dict) else entry
        for name, (_, properties) in configs.items():
            configs[name] = (_level(f"{path}: all", level), properties)
    for name, entry in document.items():
        if name == "all":
            continue
        if name not in schemas:
            raise PackConfigError(f"{path}: {name!r} is not a policy of {PACK_NAME} (see README, 'Policies')")
        level, properties = configs[name]
        if not isinstance(entry, dict):
            configs[name] = (_level(f"{path}: {name}", entry), properties)
            continue
        properties = dict(properties)
        for key, value in entry.items():
            where = f"{path}: {name}.{key}"
            if key == "enforcementLevel":
                level = _level(where, value)
                continue
            if key not in schemas[name]:
                allowed = ", ".join(sorted(schemas[name])) or "none"
                raise PackConfigError(f"{where}: not a config property of {name} (allowed: {allowed})")
            problem = _schema_problem(where, value, schemas[name][key])
            if problem:
                raise PackConfigError(problem)
            properties[key] = value
        configs[name] = (level, properties)
    return configs


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
        # As the engine sends it: "defined" when the program set the option at all.
        deleteBeforeReplaceDefined=bool(options.get("deleteBeforeReplaceDefined")),
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


class _ConvertOnce:
    """`json_format` as the analyzer sees it during one evaluation: the same answers, one conversion per Struct.

    `_PolicyAnalyzerServicer` turns a resource's properties Struct into a dict again for every policy
    (`deserialize_properties(json_format.MessageToDict(...))`, 35 times per resource), which was most of
    a large stack's gate time. `deserialize_properties`, the only reader of the result, copies it and
    never changes it, so the first conversion of a Struct (keyed by its deterministic encoding) serves
    every later policy. Anything but a plain `MessageToDict(struct)` goes to `json_format` itself.
    """

    def __init__(self) -> None:
        self.converted: dict[bytes, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(message, struct_pb2.Struct):
            return json_format.MessageToDict(message, *args, **kwargs)
        key = message.SerializeToString(deterministic=True)
        found = self.converted.get(key)
        if found is None:
            found = self.converted[key] = json_format.MessageToDict(message)
        return found


@contextlib.contextmanager
def _analyzer_run() -> Iterator[None]:
    """While the analyzer runs: each Struct converted once, and no garbage collection.

    The analyzer builds a proxy per resource per policy; a collection pass would re-scan all of them
    (and the loaded SDKs) many times over a large stack. Everything is restored afterwards.
    """
    module: Any = pulumi_policy.policy
    original = module.json_format
    collecting = gc.isenabled()
    module.json_format = _ConvertOnce()
    gc.disable()
    try:
        yield
    finally:
        module.json_format = original
        if collecting:
            gc.enable()


# From this many resources on, `evaluate(..., workers=2)` splits the policies over two processes.
SPLIT_AT = 1000

# Where a violation stands in the analyzer's own order: (0, resource index, policy index) for
# `Analyze`, (1, 0, policy index) for `AnalyzeStack`.
_Keyed = list[tuple[tuple[int, int, int], Violation]]


def evaluate(plan: StackPlan, configs: PolicyConfigs | None = None, workers: int = 1) -> None:
    """Run every policy of the pack on a stack's planned resources; fills `plan.violations`.

    `configs` (from `pack_configs`) are the policies' levels and properties; the pack's defaults
    when omitted. With `workers` > 1 and at least `SPLIT_AT` resources, the policies are dealt out
    to that many processes (forked: call it only from a process that may fork, as a plan's stack
    process), each running the pack's analyzer with the others' policies disabled; the violations
    come back in the order one analyzer gives them.
    """
    configs = configs if configs is not None else default_configs()
    version = pack_version()
    resources = [r for r in plan.resources if r["type"] != "pulumi:pulumi:Stack"]
    # Each resource's properties become a protobuf Struct once; both kinds of request carry it.
    structs = [_struct(r["properties"]) for r in resources]
    enabled = [p.name for p in POLICIES if configs[p.name][0] != "disabled"]
    shares = max(1, min(workers if len(resources) >= SPLIT_AT else 1, len(enabled)))
    groups = [set(enabled[i::shares]) for i in range(shares)]

    # Configured before the analyzer runs: each policy gets a config dict of its own.
    servicers = [
        make_servicer(
            {name: (level if name in group else "disabled", props) for name, (level, props) in configs.items()},
            version,
        )
        for group in groups
    ]
    with _analyzer_run():
        others = [_forked(functools.partial(_analyze, servicer, resources, structs)) for servicer in servicers[1:]]
        keyed = _analyze(servicers[0], resources, structs)
        for collect in others:
            keyed.extend(collect())
    keyed.sort(key=lambda item: item[0])
    plan.violations = [violation for _, violation in keyed]
    plan.policy_pack = f"{PACK_NAME}@v{version}"
    plan.policies_evaluated = sum(level != "disabled" for level, _ in configs.values())


def _forked(work: Callable[[], _Keyed]) -> Callable[[], _Keyed]:
    """Start `work` in a forked process now; the returned function waits for its result."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        code = 0
        try:
            try:
                outcome: tuple[str, Any] = ("ok", work())
            except BaseException:
                outcome = ("error", traceback.format_exc())
                code = 1
            with os.fdopen(writing, "wb") as pipe:
                pickle.dump(outcome, pipe)
        finally:
            os._exit(code)
    os.close(writing)

    def collect() -> _Keyed:
        with os.fdopen(reading, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        if not data:
            raise RuntimeError("a policy gate process ended without a result")
        status, value = pickle.loads(data)  # noqa: S301 - our own forked process's result
        if status != "ok":
            raise RuntimeError(f"a policy gate process failed:\n{value}")
        return list(value)

    return collect


def _analyze(
    servicer: _PolicyAnalyzerServicer, resources: list[dict[str, Any]], structs: list[struct_pb2.Struct]
) -> _Keyed:
    """One `Analyze` per resource, then one `AnalyzeStack` with all of them, as the engine calls them."""
    order = {p.name: i for i, p in enumerate(POLICIES)}
    keyed: _Keyed = []
    for index, (resource, properties) in enumerate(zip(resources, structs, strict=True)):
        request = analyzer_pb2.AnalyzeRequest(
            type=resource["type"],
            properties=properties,
            urn=resource["urn"],
            name=resource["name"],
            options=_options(resource),
        )
        # A resource policy's finding belongs to the resource analyzed, as the engine shows it.
        findings = _diagnostics(servicer.Analyze(request, None), resource["urn"])
        keyed.extend(((0, index, order[v.policy]), v) for v in findings)
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
    keyed.extend(((1, 0, order[v.policy]), v) for v in _diagnostics(servicer.AnalyzeStack(stack_request, None)))
    return keyed
