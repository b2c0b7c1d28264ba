"""`chefchatz rollout watch` as the pipeline runs it: flags, exit codes, JSON, and metrics read from moto's
CloudWatch the way the drain receiver writes them (``ChefChatz/SLO``, dimension ``DeploymentId``)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import typer
from typer.testing import CliRunner

from ops.rollout import ExitCode
from ops.rollout import cli as rollout_cli
from ops.slo import Counts
from ops.slo.drain import COUNTERS
from tests.backup.conftest import aws, moto_endpoint
from tests.rollout.standins import PROJECT, TOKEN, FakeRollingRelease

__all__ = ["aws", "moto_endpoint"]

_ids = itertools.count()


def invoke(*args: str) -> Any:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root so `rollout` stays a sub-command, as under `chefchatz`."""

    rollout_cli.register(app)
    result = CliRunner().invoke(app, ["rollout", "watch", *args], catch_exceptions=False)
    assert TOKEN not in result.output, "the Vercel token must never be printed"
    return result


def fast(*extra: str) -> list[str]:
    """Real time, so tiny steps: 3 judgements of 0.1 s per stage (CloudWatch still sums the last minute)."""
    return ["--stack", "prod", "--project-id", PROJECT, "--step", "0.3s", "--interval", "0.1s", "--json", *extra]


def seed(deployment: str, counts: Counts) -> None:
    values = counts.to_dict()
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="ChefChatz/SLO",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "DeploymentId", "Value": deployment}],
                "Timestamp": datetime.now(UTC) - timedelta(seconds=20),
                "Value": values[attribute],
                "Unit": "Count",
            }
            for name, attribute in COUNTERS.items()
        ],
    )


def fresh(release: FakeRollingRelease) -> None:
    """New deployment ids per test: moto keeps every metric for the whole session."""
    n = next(_ids)
    release.use_deployments(f"dpl_cli_canary{n}", f"dpl_cli_stable{n}")


def test_a_healthy_canary_in_cloudwatch_is_promoted_to_100_percent(aws: str, release: FakeRollingRelease) -> None:
    fresh(release)
    seed(release.canary, Counts(400, 1, 80, 0, slow_over_p95=8))
    seed(release.stable, Counts(8_000, 16, 1_600, 0, slow_over_p95=160))
    result = invoke(*fast("--deployment-url", f"https://{release.canary}.vercel.app"))
    assert result.exit_code == int(ExitCode.PROMOTED), result.output
    assert (json.loads(result.stdout)["action"], release.state) == ("promoted", "COMPLETE")


def test_a_canary_failing_in_cloudwatch_is_aborted_with_exit_4(aws: str, release: FakeRollingRelease) -> None:
    fresh(release)
    seed(release.canary, Counts(400, 40, 80, 0))
    seed(release.stable, Counts(8_000, 16, 1_600, 0))
    result = invoke(*fast("--deployment-id", release.canary))
    assert result.exit_code == int(ExitCode.ABORTED), result.output
    out = json.loads(result.stdout)
    assert (out["action"], out["canary"], out["stable"], release.state) == (
        "aborted",
        release.canary,
        release.stable,
        "ABORTED",
    ), out


def test_an_already_complete_rollout_exits_0_without_reading_metrics(release: FakeRollingRelease) -> None:
    release.state = "COMPLETE"
    result = invoke(*fast())
    assert result.exit_code == 0 and json.loads(result.stdout)["action"] == "already-complete", result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--step", "soon"], "--step"),
        (["--step", "30s", "--interval", "1m"], "--step 30s must be at least --interval 60s"),
        (["--margin", "0.5"], "--margin 0.5"),
        (["--confidence", "100%"], "--confidence 100%"),
        (["--deployment-id", "a", "--deployment-url", "b"], "not both"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(release: FakeRollingRelease, args: list[str], fragment: str) -> None:
    result = invoke("--stack", "prod", "--project-id", PROJECT, *args)
    assert result.exit_code == int(ExitCode.USAGE) and fragment in result.output, result.output


def test_a_missing_token_is_a_usage_error(release: FakeRollingRelease, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERCEL_TOKEN")
    result = invoke(*fast())
    assert result.exit_code == int(ExitCode.USAGE) and "VERCEL_TOKEN" in result.output, result.output


def test_human_output_shows_each_judgement_and_why_it_aborted(aws: str, release: FakeRollingRelease) -> None:
    fresh(release)
    seed(release.canary, Counts(400, 40, 80, 0))
    seed(release.stable, Counts(8_000, 16, 1_600, 0))
    result = invoke(*[a for a in fast("--deployment-id", release.canary) if a != "--json"])
    assert result.exit_code == int(ExitCode.ABORTED), result.output
    assert "stage 0 (  5 %)" in result.output and "-> abort" in result.output, result.output
    assert "aborted: aborted the rollout" in result.output and "why: at 5 %:" in result.output, result.output
