"""`chefchatz plan`: the offline preview of one or all stacks, with the policy gate."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path

import typer

from ops import plan as planlib


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def plan(
    stack: str = typer.Option(..., "--stack", "-s", help="dev, staging, prod or all"),
    output_format: Format = typer.Option(Format.text, "--format", "-f", help="text, json or markdown"),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Directory holding Pulumi.yaml"),
    policies: bool = typer.Option(True, "--policies/--no-policies", help="Evaluate the policy pack"),
    base: str | None = typer.Option(
        None,
        "--base",
        metavar="REF",
        help="Also plan the merge base of REF and HEAD (a temporary git worktree) and show what the working "
        "tree changes, stack by stack: resources, property paths, policy results, outputs.",
    ),
    pack_config: Path | None = typer.Option(
        None,
        "--policy-pack-config",
        metavar="FILE",
        help="Policy pack config (the JSON `pulumi preview --policy-pack-config` takes): the only way to "
        "lower a floor of the spec. Default: the pack's own defaults, which are the spec.",
    ),
) -> None:
    """Show what `pulumi preview` would create for a stack, offline, and run the policy pack on it.

    Runs the real Pulumi program under Pulumi's mocks with the stack's real configuration
    (secrets replaced by marked placeholders): no Pulumi CLI, no cloud credentials.

    With --base REF, the plan of the merge base of REF and HEAD is planned in the same run and the
    output leads with the difference: created, updated (property paths, old → new), deleted and
    renamed resources, stateful and protected ones flagged, policy results introduced and resolved,
    outputs changed. Secrets are never shown.

    Example: chefchatz plan --stack prod --format json

    Example: chefchatz plan --stack all --base origin/main --format markdown

    Exit codes: 0 no mandatory violation, 1 a mandatory policy violation (named), 2 invalid input
    (stack file, Pulumi.yaml, a value the platform cannot do, policy pack config, an unknown --base REF;
    named), 3 internal error.
    """
    directory = project_dir.resolve()
    try:
        stacks = planlib.resolve_stacks(directory, stack)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(planlib.EXIT_CONFIG) from None
    if base is not None:
        _compare(directory, stacks, base, output_format, policies, pack_config)
    started = time.monotonic()
    try:
        plans = planlib.run_plan(directory, stacks, evaluate_policies=policies, pack_config=pack_config)
    except planlib.PackConfigError as exc:
        typer.echo(f"error: --policy-pack-config {exc}", err=True)
        raise typer.Exit(planlib.EXIT_CONFIG) from None
    elapsed = time.monotonic() - started
    code = planlib.exit_code(plans)
    if output_format is Format.json:
        typer.echo(json.dumps(planlib.to_json(plans), indent=2))
    elif output_format is Format.markdown:
        from ops.plan.markdown import to_markdown

        typer.echo(to_markdown(plans))
    else:
        typer.echo(planlib.to_text(plans))
        typer.echo(f"Planned {len(plans)} stack(s) in {elapsed:.1f}s; exit {code}.")
    raise typer.Exit(code)


def _compare(
    directory: Path, stacks: list[str], base: str, output_format: Format, policies: bool, pack_config: Path | None
) -> None:
    from ops.plan import diff_render
    from ops.plan.base import BaseRefError

    started = time.monotonic()
    try:
        comparison = planlib.run_plan_against_base(
            directory, stacks, base, evaluate_policies=policies, pack_config=pack_config
        )
    except BaseRefError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(planlib.EXIT_CONFIG) from None
    except planlib.PackConfigError as exc:
        typer.echo(f"error: --policy-pack-config {exc}", err=True)
        raise typer.Exit(planlib.EXIT_CONFIG) from None
    elapsed = time.monotonic() - started
    code = planlib.exit_code(comparison.plans)
    if output_format is Format.json:
        typer.echo(json.dumps(diff_render.to_json_comparison(comparison), indent=2))
    elif output_format is Format.markdown:
        typer.echo(diff_render.to_markdown(comparison))
    else:
        typer.echo(diff_render.to_text(comparison))
        typer.echo(
            f"Planned {len(stacks)} stack(s) at the base and in the working tree in {elapsed:.1f}s; exit {code}."
        )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
