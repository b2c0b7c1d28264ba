"""`chefchatz rollout watch`: a thin typer layer over ``ops.rollout``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from ops import rollback as rb
from ops.rollback import VercelClient, VercelConfigError, VercelError
from ops.rollout.compare import DEFAULT_CONFIDENCE, DEFAULT_MARGIN, Rules
from ops.rollout.controller import (
    ExitCode,
    IntervalRecord,
    MetricsUnavailable,
    Outcome,
    RolloutSettings,
    Traffic,
    watch,
)
from ops.slo import MIN_REQUESTS_PER_WINDOW, Counts, deployment_counts

EXIT_CODES_HELP = (
    "Exit codes: 0 promoted to 100 % (or already complete); 1 failed (API error, action not confirmed; the "
    "output says at which stage the rollout was left); 2 usage error; 4 aborted (canary worse than stable "
    "or over a rollback trigger; production back on stable), also when it already was; 6 held: too little "
    "traffic to judge a stage, left there and not promoted."
)

rollout_app = typer.Typer(
    name="rollout",
    help=f"Canary releases on Vercel that promote or abort themselves on the SLOs. {EXIT_CODES_HELP}",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `rollout` command group to the `chefchatz` app."""
    app.add_typer(rollout_app, name="rollout")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"rollout watch: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def _parse(option: str, value: str, parser: Callable[[str], Any]) -> Any:
    try:
        return parser(value)
    except ValueError as exc:
        raise _usage(f"{option}: {exc}") from None


def cloudwatch_traffic(stack: str) -> Traffic:
    """Real-request counts per deployment from the SLO drain's metrics (CloudWatch, us-east-1)."""
    import boto3

    from components.monitoring import METRICS_REGION

    cloudwatch = boto3.client("cloudwatch", region_name=METRICS_REGION)

    def read(deployment_id: str, window_s: float) -> Counts:
        # CloudWatch sums whole minutes: a shorter window would read nothing.
        window = timedelta(seconds=max(60.0, window_s))
        try:
            return deployment_counts(cloudwatch, stack, deployment_id, datetime.now(UTC), window)
        except (BotoCoreError, ClientError) as exc:
            raise MetricsUnavailable(f"cannot read the SLO metrics of {deployment_id}: {exc}") from exc

    return read


def _show(console: Console) -> Callable[[IntervalRecord], None]:
    def show(record: IntervalRecord) -> None:
        c, s = record.canary, record.stable
        console.print(
            f"stage {record.stage} ({record.percentage:>3} %) {record.elapsed_s:>7.0f}s  "
            f"canary {c.server_errors}/{c.requests} 5xx  stable {s.server_errors}/{s.requests} 5xx  "
            f"{record.judgement.state}  -> {record.action}",
            highlight=False,
        )
        if record.judgement.breached or record.judgement.state == "not-enough-traffic":
            for note in record.judgement.notes:
                console.print(f"     {note}", highlight=False)

    return show


def _emit(outcome: Outcome, as_json: bool, console: Console) -> None:
    if as_json:
        typer.echo(json.dumps(outcome.as_dict(), indent=2))
        return
    style = {"promoted": "green", "already-complete": "green", "held": "yellow"}.get(outcome.action, "red")
    console.print(f"[{style}]{outcome.action}[/]: {outcome.message}", highlight=False)
    if outcome.reason and outcome.action not in ("promoted", "already-complete"):
        console.print(f"why: {outcome.reason}", highlight=False)
    for note in outcome.notifications:
        console.print(f"notification to {note['target']}: {'sent' if note['ok'] else 'FAILED'}", highlight=False)
    if outcome.audit_file:
        console.print(f"audit records appended to {outcome.audit_file}", highlight=False)


@rollout_app.command("watch")
def watch_command(
    stack: Annotated[str, typer.Option("--stack", help="Stack whose SLO drain metrics to read (prod).")],
    project_id: Annotated[str, typer.Option("--project-id", help="Vercel project id (prj_...) or name.")],
    team_id: Annotated[str | None, typer.Option("--team-id", help="Vercel team id owning the project.")] = None,
    deployment_url: Annotated[
        str | None, typer.Option("--deployment-url", help="The canary: the deployment just made (its URL).")
    ] = None,
    deployment_id: Annotated[
        str | None, typer.Option("--deployment-id", help="The canary by id (instead of --deployment-url).")
    ] = None,
    step: Annotated[
        str, typer.Option("--step", help="rolloutStepDuration: how long each stage is watched before promotion.")
    ] = "10m",
    interval: Annotated[str, typer.Option("--interval", help="Time between judgements (>= 1m in practice).")] = "1m",
    max_holds: Annotated[
        int, typer.Option("--max-holds", help="Extra steps a stage without enough traffic may take, then stop.")
    ] = 3,
    min_requests: Annotated[
        int, typer.Option("--min-requests", help="Real requests each side needs in a window to be judged.")
    ] = MIN_REQUESTS_PER_WINDOW,
    margin: Annotated[
        float, typer.Option("--margin", help="Canary is worse when its rate is above margin x stable's (>= 1).")
    ] = float(DEFAULT_MARGIN),
    confidence: Annotated[
        str, typer.Option("--confidence", help="Confidence of every test (50% to below 100%).")
    ] = f"{float(DEFAULT_CONFIDENCE) * 100:g}%",
    error_rate: Annotated[str, typer.Option("--error-rate", help="Ceiling: rollback trigger error rate.")] = "1%",
    failed_transactions: Annotated[
        str, typer.Option("--failed-transactions", help="Ceiling: rollback trigger failed transactions.")
    ] = "0.1%",
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            envvar="CHEFCHATZ_ROLLBACK_NOTIFY",
            help="Webhook URL or sns:<topic ARN> to notify; repeatable.",
        ),
    ] = None,
    audit_file: Annotated[
        Path | None, typer.Option("--audit-file", help="Append JSON-lines audit records here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for machines.")] = False,
) -> None:
    """Drive the project's active rolling release: promote each stage, hold it, or abort it on the SLOs.

    Every --interval it reads the canary's and the stable deployment's real
    requests over the last interval from the SLO drain's CloudWatch metrics
    (--stack; us-east-1, the standard AWS credential chain) and judges them:
    the spec's rollback triggers as ceilings on the canary (the rollback
    guard's exact binomial evidence rule), and the canary against stable on
    5xx and failed transactions (one-sided exact conditional binomial test,
    canary worse than --margin x stable at --confidence). A failing
    judgement aborts at once (instant rollback to stable, verified). After
    --step the whole step is judged, also on requests slower than the p95
    objective (over one minute latency wanders too much to compare):
    healthy promotes the next stage (at 100 % the release completes), too
    little traffic (below --min-requests a side) holds, never promotes.
    Every action is read back from Vercel, audited and notified
    (docs/rollout.md).

    Example:

        chefchatz rollout watch --stack prod --project-id prj_123 \\
          --deployment-url https://chefchatz-abc123.vercel.app --step 10m --json

    Exit codes: 0 promoted to 100 % (or already complete); 1 failed (API
    error or an action not confirmed; says where the rollout was left);
    2 usage error; 4 aborted (this run or before it); 6 held (not enough
    traffic, left at its stage).

    The Vercel API is $VERCEL_API_URL (default https://api.vercel.com), the
    token $VERCEL_TOKEN; the token is never printed.
    """
    rules = Rules(
        thresholds=rb.Thresholds(
            error_rate=_parse("--error-rate", error_rate, rb.parse_percent),
            failed_transaction_rate=_parse("--failed-transactions", failed_transactions, rb.parse_percent),
            confidence=_parse("--confidence", confidence, rb.parse_percent),
        ),
        margin=_parse("--margin", str(margin), Fraction),
        confidence=_parse("--confidence", confidence, rb.parse_percent),
        min_requests=min_requests,
    )
    settings = RolloutSettings(
        project_id=project_id,
        team_id=team_id,
        step_s=_parse("--step", step, rb.parse_duration),
        interval_s=_parse("--interval", interval, rb.parse_duration),
        max_holds=max_holds,
        rules=rules,
        canary_id=deployment_id,
        notify_urls=tuple(_parse("--notify", target, rb.check_notify_target) for target in notify or ()),
        audit_file=audit_file,
        actor=rb.default_actor(),
    )
    problems = settings.problems()
    if deployment_url and deployment_id:
        problems.append("give --deployment-url or --deployment-id, not both")
    if problems:
        raise _usage("; ".join(problems))
    console = Console(soft_wrap=True)
    try:
        client = VercelClient.from_env(team_id=team_id)
    except VercelConfigError as exc:
        raise _usage(str(exc)) from None
    with client:
        if deployment_url:
            try:
                settings = replace(settings, canary_id=client.get_deployment(deployment_url).uid)
            except VercelError as exc:
                failed = Outcome(action="failed", project_id=project_id, error=str(exc))
                failed.message = f"cannot resolve the canary {deployment_url}: {exc}"
                _emit(failed, as_json, console)
                raise typer.Exit(int(ExitCode.FAILED)) from None
        outcome = watch(client, settings, cloudwatch_traffic(stack), on_interval=None if as_json else _show(console))
    _emit(outcome, as_json, console)
    raise typer.Exit(int(outcome.exit_code))
