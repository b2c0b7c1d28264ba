"""`chefchatz rollback watch|now`: a thin typer layer over ``ops.rollback``.

Exit codes (both commands): 0 healthy, 1 failed, 2 usage error, 3 internal error, 4 rolled back (by this
run, or it already was), 5 trigger fired with automatic rollback off and the targets were notified.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ops.rollback import action as act
from ops.rollback import guard as rb
from ops.rollback import settings as ws
from ops.rollback.vercel_api import VercelClient, VercelConfigError, VercelError
from ops.slo import MIN_REQUESTS_PER_WINDOW, Counts, deployment_counts

EXIT_CODES_HELP = (
    "Exit codes: 0 healthy; 1 failed (API error, no earlier deployment, rollback not verified); "
    "2 usage error (bad option, VERCEL_TOKEN unset); 3 internal error; 4 rolled back (now, or already before "
    "this run); 5 trigger fired with --no-automatic, targets notified with the rollback command."
)

rollback_app = typer.Typer(
    name="rollback",
    help=f"Guard production after a deploy and roll it back on Vercel. {EXIT_CODES_HELP}",
    no_args_is_help=True,
)

ProjectId = Annotated[str, typer.Option("--project-id", help="Vercel project id (prj_...) or name.")]
TeamId = Annotated[str | None, typer.Option("--team-id", help="Vercel team id, when the project belongs to a team.")]
Notify = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        envvar="CHEFCHATZ_ROLLBACK_NOTIFY",
        help='Webhook URL to notify (Slack-compatible JSON {"text": ...}), or sns:<topic ARN> (its email '
        "subscribers get the text); repeatable. Env: CHEFCHATZ_ROLLBACK_NOTIFY (space-separated).",
    ),
]
AuditFile = Annotated[
    Path | None,
    typer.Option("--audit-file", help="Append a JSON-lines audit record here (also read to stay idempotent)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines instead of text.")]
VerifyTimeout = Annotated[
    str, typer.Option("--verify-timeout", help="How long to wait for Vercel to confirm the rollback.")
]
VerifyPoll = Annotated[str, typer.Option("--verify-poll", help="How often to poll Vercel while confirming.")]


def register(app: typer.Typer) -> None:
    """Add the `rollback` command group to the `chefchatz` app."""
    app.add_typer(rollback_app, name="rollback")


def _parse(option: str, value: str, parser: Callable[[str], Any]) -> Any:
    try:
        return parser(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _context(
    project_id: str,
    team_id: str | None,
    deployment_url: str | None,
    deployment_id: str | None,
    notify: list[str] | None,
    audit_file: Path | None,
    verify_timeout: str,
    verify_poll: str,
) -> act.RollbackContext:
    """What both `watch` and `now` need to roll back, from their shared options."""
    return act.RollbackContext(
        project_id=project_id,
        team_id=team_id,
        deployment_url=deployment_url,
        deployment_id=deployment_id,
        notify_urls=tuple(_parse("--notify", target, act.check_notify_target) for target in notify or ()),
        audit_file=audit_file,
        actor=act.default_actor(),
        verify_timeout_s=_parse("--verify-timeout", verify_timeout, ws.parse_duration),
        verify_poll_s=_parse("--verify-poll", verify_poll, ws.parse_duration),
    )


def _usage_error(problems: list[str]) -> None:
    raise typer.BadParameter("; ".join(problems))


def _client_factory(team_id: str | None) -> Callable[[], VercelClient]:
    def make() -> VercelClient:
        return VercelClient.from_env(team_id=team_id)

    return make


def _traffic_reader(stack: str, deployment_id: str, window_s: float) -> Callable[[], Counts]:
    """Reads the deployment's real-request counts over the window ending now (CloudWatch, us-east-1)."""
    import boto3

    from components.monitoring import METRICS_REGION

    cloudwatch = boto3.client("cloudwatch", region_name=METRICS_REGION)

    def read() -> Counts:
        return deployment_counts(cloudwatch, stack, deployment_id, datetime.now(UTC), timedelta(seconds=window_s))

    return read


def _emit(outcome: act.Outcome, as_json: bool, console: Console, plan: dict[str, Any] | None = None) -> None:
    if as_json:
        payload = outcome.as_dict()
        if plan is not None:
            payload["evidence_rule"] = plan
        typer.echo(json.dumps(payload, indent=2))
        return
    style = {
        "healthy": "green",
        "rolled-back": "yellow",
        "already-rolled-back": "yellow",
        "notified": "yellow",
    }
    console.print(f"[{style.get(outcome.action, 'red')}]{outcome.action}[/]: {outcome.message}", highlight=False)
    if outcome.reason and outcome.action != "healthy":
        console.print(f"why: {outcome.reason}", highlight=False)
    if outcome.action in ("notified", "failed") and outcome.command:
        console.print(f"to roll back by hand: {outcome.command}", highlight=False, soft_wrap=True)
    for note in outcome.notifications:
        state = "sent" if note["ok"] else f"FAILED ({note['error']})"
        console.print(f"notification to {note['target']}: {state}", highlight=False)
    if outcome.audit_file:
        console.print(f"audit record appended to {outcome.audit_file}", highlight=False)


def _print_interval(console: Console, consecutive: int) -> Callable[[rb.IntervalReport], None]:
    def show(report: rb.IntervalReport) -> None:
        m = report.metrics
        tx = m.failed_transaction_rate
        console.print(
            f"#{m.index:<3} {report.verdict.state:<12} errors {ws.format_percent(m.error_rate)} "
            f"({m.errors}/{m.requests})  p95 {'n/a' if m.p95_ms is None else f'{m.p95_ms:.0f}ms'}  "
            f"failed-tx {ws.format_percent(tx)}  streak {report.streak}/{consecutive}  by {report.source}",
            highlight=False,
        )
        if report.traffic is not None:
            t = report.traffic
            console.print(
                f"     real traffic: {t.server_errors}/{t.requests} 5xx, {t.slow_over_rollback} slow, "
                f"{t.failed_transactions}/{t.transactions} failed transactions",
                highlight=False,
            )
        # Why the probes decided although real traffic was asked for.
        for note in report.verdict.notes:
            if note.startswith(("not enough traffic", "real-traffic metrics unavailable")):
                console.print(f"     {note}", highlight=False)
        # The evidence behind a breach, so nobody has to trust a bare "breaching".
        for note in report.verdict.notes:
            if any(note.startswith(str(trigger)) for trigger in report.verdict.breached):
                console.print(f"     {note}", highlight=False)

    return show


@rollback_app.command("watch")
def watch_command(
    deployment_url: Annotated[str, typer.Option("--deployment-url", help="Base URL of the deployment to probe.")],
    project_id: ProjectId,
    team_id: TeamId = None,
    deployment_id: Annotated[
        str | None,
        typer.Option("--deployment-id", help="Deployment id to roll back from (default: looked up from the URL)."),
    ] = None,
    window: Annotated[str, typer.Option("--window", help="How long to watch, e.g. 10m.")] = "10m",
    interval: Annotated[str, typer.Option("--interval", help="Time between probe rounds (spec: 30s).")] = "30s",
    timeout: Annotated[str, typer.Option("--timeout", help="Per-probe timeout; slower counts as an error.")] = "5s",
    consecutive: Annotated[
        int, typer.Option("--consecutive", help="Breaching intervals in a row before acting (spec: 2).")
    ] = 2,
    health_path: Annotated[
        str, typer.Option("--health-path", help="Health endpoint (docs/health-contract.md).")
    ] = ws.HEALTH_PATH,
    smoke_path: Annotated[
        list[str] | None, typer.Option("--smoke-path", help="Extra path probed each interval; repeatable.")
    ] = None,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            help="Requests per path per interval. Too few to ever reach the evidence at --confidence is "
            "refused, naming the minimum.",
        ),
    ] = ws.DEFAULT_SAMPLES,
    confidence: Annotated[
        str,
        typer.Option(
            "--confidence",
            help="How sure the guard must be that a true value is above its threshold before an interval "
            "breaches (one-sided exact binomial test); 50% to below 100%.",
        ),
    ] = "99%",
    error_rate: Annotated[str, typer.Option("--error-rate", help="Breach when error rate is above this.")] = "1%",
    response_time: Annotated[
        str, typer.Option("--response-time", help="Breach when p95 latency is above this.")
    ] = "1000ms",
    failed_transactions: Annotated[
        str,
        typer.Option("--failed-transactions", help="Breach when failed/total transactions is above this."),
    ] = "0.1%",
    source: Annotated[
        ws.Source,
        typer.Option(
            "--source",
            help="What decides an interval: probes, or metrics (the deployment's real requests from the SLO "
            "drain's CloudWatch metrics; with fewer than --min-requests of them the probes decide).",
        ),
    ] = ws.Source.PROBES,
    stack: Annotated[
        str | None, typer.Option("--stack", help="Stack whose drain metrics to read (with --source metrics).")
    ] = None,
    min_requests: Annotated[
        int,
        typer.Option("--min-requests", help="Real requests an interval needs before they, not probes, decide."),
    ] = MIN_REQUESTS_PER_WINDOW,
    metrics_window: Annotated[
        str, typer.Option("--metrics-window", help="Real traffic judged each interval: the last ... (>= 1m).")
    ] = "1m",
    no_data: Annotated[
        ws.NoDataPolicy,
        typer.Option(
            "--no-data",
            help="An interval with no data (no probe answered, or no health answer following the contract) "
            "counts as: breach, hold (inconclusive, streak unchanged) or ignore. Error rate always has data.",
        ),
    ] = ws.NoDataPolicy.BREACH,
    automatic: Annotated[
        bool,
        typer.Option("--automatic/--no-automatic", help="Roll back by itself, or only notify with the command."),
    ] = True,
    notify: Notify = None,
    audit_file: AuditFile = None,
    verify_timeout: VerifyTimeout = "3m",
    verify_poll: VerifyPoll = "1s",
    as_json: Json = False,
) -> None:
    """Watch a fresh deployment; roll production back if it breaches the triggers.

    Every --interval it probes the health path and each --smoke-path with
    --timeout and computes the error rate (5xx, timeouts and connection
    errors), the p95 latency and the failed-transaction rate reported by
    /api/health (docs/health-contract.md). An interval breaches a trigger
    only on evidence: the lower bound of the one-sided Clopper-Pearson
    interval at --confidence (default 99%) must lie above the threshold
    (for p95: above the 5% of answers that may be slower). A hard outage
    (more than half of the probes, or every health probe, failing) breaches
    at once. After --consecutive breaching intervals in a row it rolls
    production back to the previous deployment Vercel can roll back to,
    verifies it, notifies and audits; with --no-automatic it only notifies, with the
    exact command to run. Before watching it prints the counts that breach
    and the false-alarm rate (docs/rollback.md).

    With --source metrics the deployment's own real requests decide: each
    interval the guard reads their 5xx, requests slower than the rollback
    response time and failed transactions over the last --metrics-window
    from the SLO drain's CloudWatch metrics (--stack; us-east-1, the
    standard AWS credential chain) and applies the same evidence rule.
    With fewer than --min-requests real requests the interval says "not
    enough traffic" and the probes decide; the probes stay the health check.

    Example:

        chefchatz rollback watch --project-id prj_123 \\
          --deployment-url https://chefchatz-abc123.vercel.app \\
          --window 10m --interval 30s --samples 30 --confidence 99% \\
          --notify https://hooks.slack.com/...

        chefchatz rollback watch --project-id prj_123 --source metrics \
          --stack prod --deployment-url https://chefchatz-abc123.vercel.app

    Exit codes: 0 healthy; 1 failed (API error, no earlier deployment,
    rollback not verified); 2 usage error (bad option, VERCEL_TOKEN unset);
    3 internal error; 4 rolled back (now, or already before this run);
    5 trigger fired with --no-automatic and the targets were notified.

    The Vercel API is $VERCEL_API_URL (default https://api.vercel.com),
    the token $VERCEL_TOKEN; the token is never printed.
    """
    settings = ws.WatchSettings(
        deployment_url=deployment_url,
        health_path=health_path,
        smoke_paths=tuple(smoke_path or ()),
        window_s=_parse("--window", window, ws.parse_duration),
        interval_s=_parse("--interval", interval, ws.parse_duration),
        timeout_s=_parse("--timeout", timeout, ws.parse_duration),
        consecutive=consecutive,
        samples=samples,
        thresholds=ws.Thresholds(
            error_rate=_parse("--error-rate", error_rate, ws.parse_percent),
            response_time_ms=_parse("--response-time", response_time, ws.parse_milliseconds),
            failed_transaction_rate=_parse("--failed-transactions", failed_transactions, ws.parse_percent),
            confidence=_parse("--confidence", confidence, ws.parse_percent),
        ),
        no_data=no_data,
        source=source,
        min_requests=min_requests,
        metrics_window_s=_parse("--metrics-window", metrics_window, ws.parse_duration),
    )
    problems = settings.problems()
    if source is ws.Source.METRICS and not stack:
        problems.append("--source metrics needs --stack (the stack whose drain metrics to read)")
    if source is ws.Source.METRICS and not automatic and deployment_id is None:
        problems.append("--source metrics with --no-automatic needs --deployment-id (the metrics are per deployment)")
    if problems:
        _usage_error(problems)
    ctx = _context(project_id, team_id, deployment_url, deployment_id, notify, audit_file, verify_timeout, verify_poll)
    console = Console(soft_wrap=True)
    factory = _client_factory(team_id) if automatic else None
    if factory is not None:
        # Check the token and resolve the deployment before watching, not ten minutes into an incident.
        try:
            with factory() as client:
                client.get_project(project_id)
                if deployment_id is None:
                    ctx = replace(ctx, deployment_id=client.get_deployment(deployment_url).uid)
        except VercelConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="VERCEL_TOKEN") from exc
        except VercelError as exc:
            failed = act.Outcome(action="failed", project_id=project_id, deployment_url=deployment_url)
            failed.error = str(exc)
            failed.message = f"cannot start watching: {exc}"
            _emit(failed, as_json, console)
            raise typer.Exit(int(act.ExitCode.FAILED)) from exc
    plan = ws.evidence_plan(settings)
    show = None
    if not as_json:
        console.print(ws.plan_text(settings, plan), highlight=False)
        show = _print_interval(console, settings.consecutive)
    traffic = None
    if source is ws.Source.METRICS and stack and ctx.deployment_id:
        traffic = _traffic_reader(stack, ctx.deployment_id, settings.metrics_window_s)
    outcome = rb.guard(settings, ctx, automatic, factory, show, traffic)
    _emit(outcome, as_json, console, plan)
    raise typer.Exit(int(outcome.exit_code))


@rollback_app.command("now")
def now_command(
    project_id: ProjectId,
    team_id: TeamId = None,
    deployment_url: Annotated[
        str | None,
        typer.Option("--deployment-url", help="Roll back from the deployment at this URL (default: production's)."),
    ] = None,
    deployment_id: Annotated[
        str | None,
        typer.Option("--deployment-id", help="Roll back from this deployment id (default: production's)."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why; sent to Vercel, the audit log and notifications.")
    ] = "manual rollback",
    notify: Notify = None,
    audit_file: AuditFile = None,
    verify_timeout: VerifyTimeout = "3m",
    verify_poll: VerifyPoll = "1s",
    as_json: Json = False,
) -> None:
    """Roll production back to the previous deployment Vercel can roll back to, now.

    Rolls back from --deployment-id / --deployment-url, or from whatever
    production serves, to the newest deployment created before it that
    Vercel lists as a rollback candidate (READY, production, once aliased
    to production: never an aborted canary); then verifies the rollback with Vercel, notifies and audits.
    Idempotent: if Vercel or the audit file shows that deployment was
    already rolled back, it does nothing and says so (exit 4).

    Example:

        chefchatz rollback now --project-id prj_123 \\
          --reason "checkout 500s after deploy" --audit-file audit.jsonl

    Exit codes: 0 healthy; 1 failed (API error, no earlier deployment,
    rollback not verified); 2 usage error (bad option, VERCEL_TOKEN unset);
    3 internal error; 4 rolled back (now, or already before this run).

    The Vercel API is $VERCEL_API_URL (default https://api.vercel.com),
    the token $VERCEL_TOKEN; the token is never printed.
    """
    ctx = _context(project_id, team_id, deployment_url, deployment_id, notify, audit_file, verify_timeout, verify_poll)
    try:
        client = VercelClient.from_env(team_id=team_id)
    except VercelConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="VERCEL_TOKEN") from exc
    with client:
        outcome = act.roll_back(client, ctx, reason, automatic=False)
    _emit(outcome, as_json, Console(soft_wrap=True))
    raise typer.Exit(int(outcome.exit_code))
