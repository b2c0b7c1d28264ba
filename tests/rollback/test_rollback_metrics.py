"""`rollback watch --source metrics`: the guard decides on the deployment's own real requests.

The pure rule (``decide``) is tested by table; the command end to end reads moto's CloudWatch, seeded
the way the drain receiver writes it (``ChefChatz/SLO``, dimension ``DeploymentId``, one datum per
counter, see ``ops/slo/drain.py``), while the probes hit a healthy loopback app -- so only the real
traffic can make the guard fire.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import boto3
import pytest

from ops.rollback import action as act
from ops.rollback.probes import IntervalMetrics, Transactions
from ops.rollback.settings import IntervalState, Source, Thresholds, Trigger, WatchSettings
from ops.rollback.verdicts import decide, evaluate_traffic
from ops.slo import Counts
from ops.slo.drain import COUNTERS
from tests.backup.conftest import aws, moto_endpoint

__all__ = ["aws", "moto_endpoint"]

PROJECT = "prj_chefchatz"

SETTINGS = WatchSettings(deployment_url="https://d.example", source=Source.METRICS)


def probes(requests: int = 30, errors: int = 0, health_errors: int = 0) -> IntervalMetrics:
    return IntervalMetrics(
        index=0,
        started_at=0.0,
        requests=requests,
        errors=errors,
        latencies_ms=(20.0,) * (requests - errors),
        health_answered=health_errors < requests,
        transactions=Transactions(5000, 0, 60),
        health_requests=requests,
        health_errors=health_errors,
    )


@pytest.mark.parametrize(
    ("case", "counts", "state", "breached", "source"),
    [
        ("healthy real traffic", Counts(1000, 3, 200, 0, slow_over_rollback=10), "healthy", (), "metrics"),
        ("sustained 5xx among real requests", Counts(1000, 40, 200, 0), "breaching", ("error-rate",), "metrics"),
        (
            "p95 over 1000ms",
            Counts(1000, 0, 200, 0, slow_over_rollback=120),
            "breaching",
            ("response-time",),
            "metrics",
        ),
        ("failed transactions", Counts(1000, 0, 20_000, 80), "breaching", ("failed-transactions",), "metrics"),
        # 10 % 5xx of 40 requests: a quiet minute proves nothing, the (healthy) probes decide.
        ("quiet minute cannot trigger", Counts(40, 4, 0, 0), "healthy", (), "probes"),
        ("error rate exactly at 1 %", Counts(1000, 10, 200, 0), "healthy", (), "metrics"),
        ("no transactions: no failed-transaction verdict", Counts(500, 0, 0, 0), "healthy", (), "metrics"),
    ],
)
def test_real_traffic_decides_when_there_is_enough_of_it(
    case: str, counts: Counts, state: str, breached: tuple[str, ...], source: str
) -> None:
    verdict, decided_by = decide(probes(), counts, SETTINGS)
    assert (str(verdict.state), tuple(map(str, verdict.breached)), str(decided_by)) == (state, breached, source), (
        f"{case}: {verdict.notes}"
    )


def test_a_quiet_minute_cannot_hide_a_breach_the_probes_see() -> None:
    verdict, source = decide(probes(errors=20), Counts(40, 0, 0, 0), SETTINGS)
    assert (verdict.state, source) == (IntervalState.BREACHING, Source.PROBES), verdict.notes
    assert verdict.notes[0].startswith("not enough traffic: 40 real requests"), verdict.notes


def test_probes_stay_the_health_check_when_real_traffic_looks_healthy() -> None:
    verdict, source = decide(probes(errors=30, health_errors=30), Counts(1000, 0, 200, 0), SETTINGS)
    assert (verdict.state, source) == (IntervalState.BREACHING, Source.METRICS), verdict.notes
    assert "health check" in verdict.notes[-1], verdict.notes


def test_unreadable_metrics_fall_back_to_the_probes_and_say_why() -> None:
    verdict, source = decide(probes(), None, SETTINGS, "EndpointConnectionError: no route")
    assert (verdict.state, source) == (IntervalState.HEALTHY, Source.PROBES)
    assert "metrics unavailable (EndpointConnectionError" in verdict.notes[0], verdict.notes


def test_more_than_half_of_real_requests_failing_is_a_hard_outage() -> None:
    verdict = evaluate_traffic(Counts(101, 60), Thresholds(confidence=Fraction(999_999, 1_000_000)))
    assert verdict.breached == (Trigger.ERROR_RATE,), verdict.notes
    assert verdict.evidence[0].hard_outage == "more than half of the real requests failed"


def test_min_requests_and_metrics_window_are_checked() -> None:
    bad = WatchSettings(deployment_url="https://d.example", source=Source.METRICS, min_requests=0, metrics_window_s=30)
    problems = " ".join(bad.problems())
    assert "--min-requests 0" in problems and "--metrics-window 30s" in problems, problems


# --- end to end: moto CloudWatch + Vercel stand-in + a healthy app -------------------------------------


def seed(deployment: str, counts: Counts, at: datetime) -> None:
    """Counters as the drain receiver writes them for one delivery of one deployment."""
    values = counts.to_dict()
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="ChefChatz/SLO",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "DeploymentId", "Value": deployment}],
                "Timestamp": at,
                "Value": values[attribute],
                "Unit": "Count",
            }
            for name, attribute in COUNTERS.items()
        ],
    )


_ids = itertools.count()


def fresh_deployment(project: Any, app_url: str) -> str:
    """A new production deployment per test: moto keeps every metric for the whole session."""
    uid = f"dpl_new{next(_ids)}"
    project.add_deployment(uid, PROJECT, 4_000, f"new{uid}.vercel.app", production=True)
    return uid


def watch(app_url: str, *extra: str) -> list[str]:
    """Three 0.2 s intervals of 10 probes per path, JSON out (as in test_rollback_watch)."""
    return [
        "watch",
        *("--deployment-url", app_url, "--project-id", PROJECT, "--window", "0.6s", "--interval", "0.2s"),
        *("--timeout", "0.2s", "--verify-poll", "0.02s", "--samples", "10", "--json"),
        *extra,
    ]


def metrics_watch(app_url: str, deployment: str, *extra: str) -> list[str]:
    return watch(app_url, "--source", "metrics", "--stack", "prod", "--deployment-id", deployment, *extra)


def test_healthy_real_traffic_is_not_rolled_back(aws: str, project: Any, app_server: Any, run: Any) -> None:
    deployment = fresh_deployment(project, app_server.url)
    seed(deployment, Counts(2000, 4, 300, 0, slow_over_rollback=20), datetime.now(UTC) - timedelta(seconds=20))
    result = run(*metrics_watch(app_server.url, deployment))
    assert result.exit_code == int(act.ExitCode.HEALTHY), result.output
    assert {i["source"] for i in result.json["evidence"]} == {"metrics"}, result.json["evidence"]
    assert result.json["evidence"][-1]["real_traffic"]["requests"] == 2000
    assert project.rollback_posts == []


def test_sustained_5xx_among_real_requests_rolls_back_although_probes_pass(
    aws: str, project: Any, app_server: Any, run: Any, tmp_path: Any
) -> None:
    deployment = fresh_deployment(project, app_server.url)
    seed(deployment, Counts(2000, 80, 300, 0), datetime.now(UTC) - timedelta(seconds=20))
    audit = tmp_path / "audit.jsonl"
    result = run(*metrics_watch(app_server.url, deployment, "--audit-file", str(audit)))
    assert result.exit_code == int(act.ExitCode.ROLLED_BACK), result.output
    out = result.json
    assert (out["action"], out["triggers"], out["to_deployment"]) == ("rolled-back", ["error-rate"], "dpl_bad"), out
    assert [i["source"] for i in out["evidence"]] == ["metrics", "metrics"], out["evidence"]
    assert [i["errors"] for i in out["evidence"]] == [0, 0], "the probes saw no error: real traffic decided"
    assert '"source": "metrics"' in audit.read_text(), "the audit must say what decided"


def test_a_quiet_period_is_not_enough_traffic_and_the_probes_decide(
    aws: str, project: Any, app_server: Any, run: Any
) -> None:
    deployment = fresh_deployment(project, app_server.url)
    seed(deployment, Counts(30, 6, 0, 0), datetime.now(UTC) - timedelta(seconds=20))  # 20 % of 30 requests
    result = run(*metrics_watch(app_server.url, deployment))
    assert result.exit_code == int(act.ExitCode.HEALTHY), result.output
    evidence = result.json["evidence"]
    assert {i["source"] for i in evidence} == {"probes"}, evidence
    assert evidence[-1]["notes"][0].startswith("not enough traffic: 30 real requests"), evidence[-1]["notes"]
    assert "0 decided by real traffic" in result.json["message"], result.json["message"]


def test_metrics_source_needs_a_stack(project: Any, app_server: Any, run: Any) -> None:
    result = run(*watch(app_server.url, "--source", "metrics"))
    assert result.exit_code == int(act.ExitCode.USAGE) and "--source metrics needs --stack" in result.output, (
        result.output
    )


def test_human_output_says_what_decided_each_interval(aws: str, project: Any, app_server: Any, run: Any) -> None:
    deployment = fresh_deployment(project, app_server.url)
    seed(deployment, Counts(30, 0, 0, 0), datetime.now(UTC) - timedelta(seconds=20))
    args = [a for a in metrics_watch(app_server.url, deployment) if a != "--json"]
    result = run(*args)
    assert result.exit_code == int(act.ExitCode.HEALTHY), result.output
    assert "by probes" in result.output and "real traffic: 0/30 5xx" in result.output, result.output
    assert "not enough traffic: 30 real requests" in result.output, result.output
