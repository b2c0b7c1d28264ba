"""`chefchatz slo report`: a thin typer layer over :mod:`ops.slo.report`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ops import ExitStatus
from ops.slo.report import Targets, build_report, to_markdown, to_text

EXIT_OK, EXIT_SPENT, EXIT_USAGE = ExitStatus.OK, ExitStatus.FAILED, ExitStatus.BAD_INPUT

slo_app = typer.Typer(
    name="slo",
    help="The SLOs measured on real traffic (Vercel drain -> CloudWatch): error budget, burn rates, apdex, p95/p99.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"slo report: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


@slo_app.command("report")
def report(
    stack: Annotated[str, typer.Option("--stack", help="Stack whose SLOs to report (dev, staging, prod).")],
    window: Annotated[
        str | None,
        typer.Option("--window", help="Error-budget window, e.g. 30d (default: the stack's sloErrorBudgetWindow)."),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="text | json | markdown (the sign-off / pull-request comment form).")
    ] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="Directory of Pulumi.yaml (objectives come from the stack config).")
    ] = Path("."),
) -> None:
    """Report a stack's error budget, burn rates, apdex and p95/p99 from the drain receiver's metrics.

    Objectives (budget, window, apdex target, p95/p99) are the stack's configuration; metrics are read
    from CloudWatch (`ChefChatz/SLO`, us-east-1, the standard AWS credential chain and AWS_ENDPOINT_URL).
    p95 is within its objective when at most 5 % of requests were slower than it (p99: 1 %).

    Exit codes: 0 budget left; 1 the error budget of the window is spent; 2 bad input
    (unknown stack, bad --window or --format, invalid stack configuration).

    Example:

        chefchatz slo report --stack prod --window 30d --json

        chefchatz slo report --stack prod --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    from components.monitoring import METRICS_REGION
    from components.settings import SettingsError, parse_duration
    from ops.plan import StackConfigError, load_stack_settings

    fmt = "json" if as_json else output
    if fmt not in ("text", "json", "markdown"):
        raise _fail(f"--format {output!r} is not one of text, json, markdown")
    try:
        settings = load_stack_settings(project_dir, stack)
    except (SettingsError, StackConfigError, FileNotFoundError) as error:
        raise _fail(str(error)) from None
    performance = settings.performance
    window_s = performance.error_budget_window_s
    if window is not None:
        try:
            window_s = parse_duration(window)
        except ValueError as error:
            raise _fail(f"--window: {error}") from None
        if window_s < 3 * 86400:
            raise _fail(f"--window {window} is shorter than 3d, the longest burn-rate window")
    objectives = Targets(
        budget_percent=performance.error_budget_percent,
        window_s=window_s,
        apdex=performance.apdex,
        p95_ms=performance.p95_ms,
        p99_ms=performance.p99_ms,
    )
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name=METRICS_REGION)
    result = build_report(cloudwatch, stack, datetime.now(UTC), objectives)
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2))
    elif fmt == "markdown":
        typer.echo(to_markdown(result))
    else:
        typer.echo(to_text(result))
    if result.budget_spent:
        raise typer.Exit(EXIT_SPENT)


def register(app: typer.Typer) -> None:
    """Add the `slo` command group to the `chefchatz` app."""
    app.add_typer(slo_app, name="slo")
