"""Run the real Pulumi program of one stack under Pulumi's mocks, as a first-time preview would.

Nothing here talks to a cloud: the resource monitor is Pulumi's `MockMonitor`, extended to keep
each registration request exactly as the SDK sends it to the engine (camelCase property names,
secrets wrapped in secret signatures, unknowns as the engine's sentinels). Like a first preview,
no resource exists yet: ids and computed outputs are unknown. Look-ups that would query a provider
(GitHub team ids) return marked stand-in values.

The Pulumi runtime is process-global, so each stack runs in a process of its own: `ops.plan.jobs`
starts one fresh process (`python -m ops.plan.offline`, `main` here) that imports the SDK modules
the programs use once (`preload`), and the policy pack, then forks one child per (project, stack)
job (two at a time, one per core). A child starts warm, records its stack, runs the policy gate over it and exits;
nothing it does can leak into another stack's run, and nothing of the caller (threads, an event
loop, a runtime a test configured) leaks into it.
`chefchatz --debug plan` shows a failing child's traceback.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import gc
import hashlib
import importlib
import json
import os
import runpy
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
from google.protobuf import json_format
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await
from pulumi_policy.deserialize import SPECIAL_ARCHIVE_SIG, SPECIAL_ASSET_SIG, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from ops import ExitStatus
from ops.plan.jobs import Job
from ops.plan.model import LOOKUP_ID_BASE, LOOKUP_ID_SPAN
from ops.plan.stack_config import StackConfigError, load_project, load_stack_config

if TYPE_CHECKING:
    from ops.plan.policy_gate import PolicyConfigs

GET_TEAM = "github:index/getTeam:getTeam"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_ENDPOINT_VERIFICATION = "vercel:index/getEndpointVerification:getEndpointVerification"


class OfflineMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.lookups: dict[int, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        # Only `Resource.get` reaches this (`RecordingMonitor` answers registrations itself).
        # First preview: the id is unknown (empty) and only the inputs are known.
        return "", dict(args.inputs)

    def _team_id(self, slug: str) -> int:
        """A stand-in id named by the slug, not by the order of the look-ups: the SDK runs them
        concurrently, and ids counted in call order swapped between two plans of one stack."""
        label = f"github team '{slug}'"
        team_id = LOOKUP_ID_BASE + 1 + int.from_bytes(hashlib.sha256(slug.encode()).digest()[:8]) % LOOKUP_ID_SPAN
        while self.lookups.get(team_id, label) != label:  # two slugs alike in the span: the next free one
            team_id = LOOKUP_ID_BASE + 1 + (team_id - LOOKUP_ID_BASE) % LOOKUP_ID_SPAN
        return team_id

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
        if args.token == GET_TEAM:
            slug = str(args.args.get("slug"))
            team_id = self._team_id(slug)
            self.lookups[team_id] = f"github team '{slug}'"
            return dict(
                {
                    "id": str(team_id),
                    "nodeId": f"offline-{slug}",
                    "slug": slug,
                    "name": slug,
                    "description": "",
                    "privacy": "closed",
                    "permission": "pull",
                    "members": [],
                    "repositories": [],
                    "repositoriesDetaileds": [],
                    "notificationSetting": "notifications_enabled",
                    "membershipType": "all",
                    "summaryOnly": True,
                    "resultsPerPage": 100,
                }
            )
        if args.token == GET_CALLER_IDENTITY:
            return {
                "accountId": "[looked up at deploy time: aws account id]",
                "arn": "[looked up at deploy time: caller arn]",
                "id": "[looked up at deploy time: caller id]",
                "userId": "[looked up at deploy time: caller user id]",
            }
        if args.token == GET_ENDPOINT_VERIFICATION:
            team = str(args.args.get("teamId", ""))
            return {
                "id": team,
                "teamId": team,
                "verificationCode": "[looked up at deploy time: vercel endpoint verification code]",
            }
        raise NotImplementedError(f"offline plan has no stand-in for the look-up {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, keeping every registration as the engine would receive it."""

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[dict[str, Any]] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names a resource (Pulumi's mock keeps only the parent's own type): the
        # parent's whole type chain, without the root stack's type.
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def GetDeploymentInfo(self, request: Any) -> Any:
        # Without alias specs the SDK sends every alias as a full URN, those a child inherits from
        # its parent's aliases included (which the engine would otherwise derive): the plan's diff
        # matches a renamed resource by them.
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def RegisterResource(self, request: Any) -> Any:
        # What the engine answers in a first preview: the resource's URN, no id yet, and its inputs
        # as its outputs (every computed output unknown). Pulumi's MockMonitor would reach the same
        # answer through `Mocks.new_resource` by decoding the inputs and encoding them again.
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            response = resource_pb2.RegisterResourceResponse(urn=urn)
        else:
            response = resource_pb2.RegisterResourceResponse(urn=urn, id="", object=request.object)
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, "", {})
        options = {
            "protect": request.protect,
            "ignoreChanges": list(request.ignoreChanges),
            "deleteBeforeReplace": request.deleteBeforeReplace,
            "deleteBeforeReplaceDefined": request.deleteBeforeReplaceDefined,
            # The resource's own aliases; those its children inherit are derived by `ops.plan.diff`,
            # as the engine derives them.
            "aliases": [*request.aliasURNs, *(a.urn for a in request.aliases if a.urn)],
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "replaceOnChanges": list(request.replaceOnChanges),
            "retainOnDelete": request.retainOnDelete,
        }
        self.registrations.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "custom": request.custom,
                "parent": request.parent or None,
                "properties": with_content_hashes(json_format.MessageToDict(request.object)),
                "dependencies": list(request.dependencies),
                "propertyDependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "provider": request.provider or None,
                "options": options,
            }
        )
        return response


def _content_hash(value: dict[str, Any]) -> str | None:
    """sha256 of an asset's or archive's content (an archive: of its members' names and hashes);
    None for a remote one (compared by its URI)."""
    if value.get(SPECIAL_SIG_KEY) == SPECIAL_ASSET_SIG:
        if "text" in value:
            return hashlib.sha256(str(value["text"]).encode()).hexdigest()
        if "path" in value:
            path = Path(str(value["path"]))
            return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return None
    if "assets" in value:
        digest = hashlib.sha256()
        for name, member in sorted(value["assets"].items()):
            digest.update(f"{name}\0{member.get('hash')}\n".encode())
        return digest.hexdigest()
    if "path" in value:
        path = Path(str(value["path"]))
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.relative_to(path) if file != path else ''}\0".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest() if files else None
    return None


def with_content_hashes(value: Any) -> Any:
    """Assets and archives with the hash of their content, the way the engine compares them, and a
    file's path relative to the project: two checkouts of one commit in different folders record
    the same program (a path on disk is not part of what gets deployed)."""
    if isinstance(value, list):
        return [with_content_hashes(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: with_content_hashes(v) for k, v in value.items()}
    if value.get(SPECIAL_SIG_KEY) in (SPECIAL_ASSET_SIG, SPECIAL_ARCHIVE_SIG):
        digest = _content_hash(value)
        if digest:
            value["hash"] = digest
        if "path" in value:
            path = Path(str(value["path"]))
            if path.is_absolute() and path.resolve().is_relative_to(Path.cwd()):
                value["path"] = str(path.resolve().relative_to(Path.cwd()))
    return value


def _resolve_output(value: Any) -> Any:
    """Stack outputs the way a preview shows them: unknowns and secrets marked, never revealed."""
    output = pulumi.Output.from_input(value)

    async def resolve() -> Any:
        known = await output.is_known()
        secret = await output.is_secret()
        if secret:
            return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": "[secret]"}
        if not known:
            return rpc.UNKNOWN
        return await output.future(with_unknowns=True)

    return _sync_await(resolve())


def _json_safe(value: Any) -> Any:
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class _NoSettingsModule(Exception):
    """Stands for the settings error of a project without `components/settings.py` (never raised)."""


def settings_error_type() -> type[Exception]:
    """The project's `SettingsError`: its configuration problems are input errors, not crashes."""
    try:
        from components.settings import SettingsError
    except ImportError:
        return _NoSettingsModule
    return SettingsError


def run_stack(project_dir: Path, stack: str) -> dict[str, Any]:
    """Run `__main__.py` of the project for one stack; returns the recorded plan.

    The project directory must already be first on `sys.path` (`main` does that), so that the
    program's own `components` are imported rather than an installed copy.
    """
    project = load_project(project_dir, stack)
    config = load_stack_config(project, stack)

    os.chdir(project_dir)

    mocks = OfflineMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(config.values, config.secret_keys)
    pulumi.runtime.set_mocks(mocks, project=project.name, stack=stack, preview=True, monitor=monitor)

    settings_error = settings_error_type()
    try:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        _sync_await(wait_for_rpcs())
    except pulumi.RunError as exc:
        cause = exc.__cause__
        if isinstance(cause, settings_error):
            raise cause from None
        raise

    root = pulumi.runtime.settings.get_root_resource()
    outputs = {name: _json_safe(_resolve_output(value)) for name, value in getattr(root, "outputs", {}).items()}
    return {
        "stack": stack,
        "resources": monitor.registrations,
        "outputs": outputs,
        "placeholders": config.placeholders,
        "lookups": {str(k): v for k, v in mocks.lookups.items()},
    }


# --- many stacks: preload once, fork per stack ------------------------------------------------------

# The provider SDKs are large lazily-loaded packages (pulumi_aws.ec2 alone takes about a second to
# import); these are the ones whose attribute chains `preload` follows in the program's sources.
SDK_PACKAGES = ("pulumi_aws", "pulumi_github", "pulumiverse_vercel")


def _sdk_references(source: str) -> set[tuple[str, ...]]:
    """(package, attr, attr...) chains such as ("pulumi_aws", "ec2", "SecurityGroup") in one module."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in SDK_PACKAGES:
                    aliases[alias.asname or alias.name] = alias.name
    chains: set[tuple[str, ...]] = set()
    for node in ast.walk(tree):
        parts: list[str] = []
        current: ast.expr = node  # type: ignore[assignment]
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name) and current.id in aliases and parts:
            chains.add((aliases[current.id], *reversed(parts)))
    return chains


def preload(*project_dirs: Path) -> None:
    """Import the SDK modules the programs' sources name, so that every forked stack starts warm.

    Only SDK code is loaded here, never a project's own modules. A chain that does not resolve is
    skipped: the child imports whatever it really needs anyway.
    """
    importlib.import_module("pulumi.runtime.mocks")
    chains: set[tuple[str, ...]] = set()
    for project_dir in dict.fromkeys(project_dirs):
        sources = [project_dir / "__main__.py", *sorted((project_dir / "components").glob("*.py"))]
        for path in sources:
            if path.is_file():
                chains |= _sdk_references(path.read_text())
    for package, *attrs in sorted(chains):
        value: Any = importlib.import_module(package)
        for attr in attrs:
            value = getattr(value, attr, None)
            if value is None:
                break


def _largest_first(jobs: Sequence[Job]) -> list[int]:
    """Job indexes, the largest stack file first: the longest run starts at once instead of last."""

    def size(index: int) -> int:
        directory, stack = jobs[index]
        path = directory / f"Pulumi.{stack}.yaml"
        return path.stat().st_size if path.is_file() else 0

    return sorted(range(len(jobs)), key=size, reverse=True)


# Seconds one stack may take in its forked process (program and gate); a stack of this project takes
# one or two, a loaded CI machine ten times that.
STACK_TIMEOUT_VARIABLE = "CHEFCHATZ_PLAN_STACK_TIMEOUT"
DEFAULT_STACK_TIMEOUT_S = 120


def stack_timeout() -> int:
    raw = os.environ.get(STACK_TIMEOUT_VARIABLE, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_STACK_TIMEOUT_S


def fork_jobs(jobs: Sequence[Job], scratch: Path, policies: PolicyConfigs | None, workers: int = 2) -> None:
    """In this (fresh, preloaded) process: run each job in a forked child, `workers` at a time.

    The child of job i writes `i.json` when its stack is recorded (and gated) and `i.log` in any case.
    """
    if policies is not None:
        # The pack and the analyzer, imported once here instead of once per child.
        importlib.import_module("ops.plan.policy_gate")
    running: dict[int, int] = {}
    pending = _largest_first(jobs)
    while pending or running:
        while pending and len(running) < workers:
            index = pending.pop(0)
            running[_fork_child(jobs[index], policies, scratch, str(index))] = index
        pid, status = os.wait()
        index = running.pop(pid, -1)
        if index >= 0 and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            # The child's own alarm ended it: say so as the last line of its log, which the caller reports.
            with (scratch / f"{index}.log").open("a", encoding="utf-8") as log:
                log.write(
                    f"\nstack {jobs[index][1]!r} ran longer than {stack_timeout()} s and was stopped "
                    f"(a program that never finishes?; {STACK_TIMEOUT_VARIABLE} sets the limit)\n"
                )


def _child(job: Job, policies: PolicyConfigs | None, result_path: Path) -> int:
    """The body of one forked run: record (and gate) the plan into `result_path`, return the exit status."""
    # The child lives for one stack: collecting garbage would only re-scan the preloaded SDK
    # (about half of a run's time), and the process's memory is returned when it exits.
    gc.freeze()
    gc.disable()
    project_dir, stack = job
    sys.path.insert(0, str(project_dir))
    _use_project_ops(project_dir)
    try:
        result: dict[str, Any] = run_stack(project_dir, stack)
    except (StackConfigError, settings_error_type()) as exc:
        result = {"stack": stack, "configError": str(exc)}
    if policies is not None and "configError" not in result:
        # The SDK's RPC threads are done: stop them, so the gate may fork a single-threaded process.
        _sync_await(asyncio.get_event_loop().shutdown_default_executor())
        result.update(_gate(result, policies))
    # Written whole, then renamed: the parent never reads half a plan.
    partial = result_path.with_suffix(".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.rename(result_path)
    return ExitStatus.OK


def _use_project_ops(project_dir: Path) -> None:
    """Let the program import the `ops` of its own checkout, as `pulumi up` there would.

    The program packages part of `ops` (components/slo.py: the drain function's code), and the base
    of `chefchatz plan --base` is another checkout: forget this tool's `ops` modules, except the
    plan that is running now, so that the program's imports find the project's copy first on `sys.path`.
    """
    if not (project_dir / "ops" / "__init__.py").is_file():
        return
    for name in [n for n in sys.modules if n == "ops" or n.startswith("ops.")]:
        if name != "ops.plan" and not name.startswith("ops.plan."):
            del sys.modules[name]


def _gate(recorded: dict[str, Any], policies: PolicyConfigs) -> dict[str, Any]:
    """The policy gate's verdict on one recorded stack, as the plan's JSON carries it."""
    from ops.plan.model import StackPlan
    from ops.plan.policy_gate import evaluate

    plan = StackPlan(recorded["stack"], resources=recorded["resources"])
    # This process may fork: a large stack's gate uses both cores.
    evaluate(plan, policies, workers=2)
    return {
        "violations": [v.as_json() for v in plan.violations],
        "policyPack": plan.policy_pack,
        "policiesEvaluated": plan.policies_evaluated,
    }


def _fork_child(job: Job, policies: PolicyConfigs | None, scratch: Path, name: str) -> int:
    log = os.open(scratch / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(log)
        return pid
    # The child: its output goes to the log the parent shows only when the run fails, and it
    # leaves with os._exit so that nothing of the parent (atexit hooks, buffers) runs twice.
    code = 1
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        # A program that runs away (a loop, a value that expands without end) is ended by the kernel,
        # even inside C code that never returns to Python; the parent reports it by name.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(stack_timeout())
        code = _child(job, policies, scratch / f"{name}.json")
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.plan.offline --jobs FILE --out DIR`, started by `ops.plan.jobs`.

    FILE is JSON `[[project_dir, stack], ...]`. The SDKs load first; then the gate's configuration
    arrives on standard input (JSON `{"policies": {name: [level, properties]} or null}`: the caller
    checks the pack config meanwhile), and an empty input means the caller gave up: nothing runs.
    """
    parser = argparse.ArgumentParser(description="Record stacks of programs offline (for chefchatz plan).")
    parser.add_argument("--jobs", type=Path, required=True, help="JSON: [[project_dir, stack], ...]")
    parser.add_argument("--out", type=Path, required=True, help="directory for <job>.json and <job>.log")
    args = parser.parse_args(argv)
    jobs = [(Path(directory).resolve(), stack) for directory, stack in json.loads(args.jobs.read_text("utf-8"))]
    preload(*(directory for directory, _ in jobs))
    go = sys.stdin.read()
    if not go.strip():
        return ExitStatus.OK
    policies = json.loads(go)["policies"]
    fork_jobs(jobs, args.out, None if policies is None else {k: (v[0], v[1]) for k, v in policies.items()})
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main())
