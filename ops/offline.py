"""Run the real Pulumi program of one stack under Pulumi's mocks, as a first-time preview would.

Nothing here talks to a cloud: the resource monitor is Pulumi's `MockMonitor`, extended to keep
each registration request exactly as the SDK sends it to the engine (camelCase property names,
secrets wrapped in secret signatures, unknowns as the engine's sentinels). Like a first preview,
no resource exists yet: ids and computed outputs are unknown. Look-ups that would query a provider
(GitHub team ids) return marked stand-in values.

Run one stack per process (`python -m ops.offline STACK --project-dir DIR`): the Pulumi runtime is
process-global, so a fresh process per stack keeps stacks independent.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from ops.plan import LOOKUP_ID_BASE, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from ops.stack_config import StackConfigError, load_project, load_stack_config

GET_TEAM = "github:index/getTeam:getTeam"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_ENDPOINT_VERIFICATION = "vercel:index/getEndpointVerification:getEndpointVerification"

EXIT_OK = 0
EXIT_CONFIG = 2


class OfflineMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.lookups: dict[int, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        # First preview: the id is unknown (empty) and only the inputs are known.
        return "", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
        if args.token == GET_TEAM:
            slug = str(args.args.get("slug"))
            team_id = LOOKUP_ID_BASE + len(self.lookups) + 1
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

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        options = {
            "protect": request.protect,
            "ignoreChanges": list(request.ignoreChanges),
            "deleteBeforeReplace": request.deleteBeforeReplace,
            "aliases": [a.urn for a in request.aliases if a.urn],
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
        }
        self.registrations.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "custom": request.custom,
                "parent": request.parent or None,
                "properties": json_format.MessageToDict(request.object),
                "dependencies": list(request.dependencies),
                "propertyDependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "provider": request.provider or None,
                "options": options,
            }
        )
        return response


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

    from components.settings import SettingsError

    try:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        _sync_await(wait_for_rpcs())
    except pulumi.RunError as exc:
        cause = exc.__cause__
        if isinstance(cause, SettingsError):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one stack of the Pulumi program offline (internal).")
    parser.add_argument("stack")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    # The program's own components (not an installed copy) must be the ones imported.
    sys.path.insert(0, str(project_dir))

    from components.settings import SettingsError

    try:
        result = run_stack(project_dir, args.stack)
    except (StackConfigError, SettingsError) as exc:
        json.dump({"stack": args.stack, "configError": str(exc)}, sys.stdout)
        return EXIT_CONFIG
    json.dump(result, sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
