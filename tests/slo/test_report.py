"""`chefchatz slo report` and `deployment_counts` against metrics the real receiver wrote into moto."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import typer
from typer.testing import CliRunner

from ops.slo import Receiver, ReceiverConfig, deployment_counts
from ops.slo.budget import burn_rate_alerts
from ops.slo.cli import register
from ops.slo.drain import Objectives, signature
from ops.slo.receiver import DynamoStore
from tests.slo.conftest import SECRET, as_ndjson, request_lines, unique

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    """A project directory with a fresh copy of the prod stack under a unique name, so metrics
    seeded by one test (moto is shared by the session) never reach another."""
    stack = unique("prodcopy")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.prod.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path, stack


@pytest.fixture
def seed(aws: str, dynamodb_table: str):
    """Deliver a real-shaped, signed batch through the receiver as if it arrived `ago` earlier."""

    def deliver(stack: str, ago: timedelta, ok: int, errors: int = 0, slow: int = 0, deployment: str = "dpl_x") -> None:
        lines = []
        batch = unique("b")
        for i in range(ok):
            lines += request_lines(deployment, f"{batch}-ok-{i}", 200, 40.0)
        for i in range(slow):
            lines += request_lines(deployment, f"{batch}-slow-{i}", 200, 650.0)
        for i in range(errors):
            lines += request_lines(deployment, f"{batch}-err-{i}", 500, 40.0)
        body = as_ndjson(lines)
        config = ReceiverConfig(stack, SECRET, "code", Objectives(200, 200, 500))
        store = DynamoStore(boto3.client("dynamodb"), dynamodb_table)
        when = time.time() - ago.total_seconds()
        receiver = Receiver(config, boto3.client("cloudwatch"), store, clock=lambda: when)
        response = receiver.receive("POST", {"x-vercel-signature": signature(body, SECRET)}, body)
        assert response.status == 200, response.body

    return deliver


def _cli(project_dir: Path, *args: str):
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, ["slo", "report", "--project-dir", str(project_dir), *args])


def test_a_healthy_stack_reports_its_budget_left_and_exits_0(project, seed):
    directory, stack = project
    seed(stack, timedelta(minutes=20), ok=995, slow=5)
    result = _cli(directory, "--stack", stack, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"]["requests"] == 1000
    assert report["budgetRemaining"] == pytest.approx(1.0)
    # 995 satisfied (40 ms), 5 tolerating (650 ms is within 4 x 200 ms): (995 + 2.5) / 1000.
    assert report["apdex"] == pytest.approx(0.9975)
    assert report["shareOverP95Objective"] == pytest.approx(0.005)
    assert report["shareOverP99Objective"] == pytest.approx(0.005)
    assert report["checks"] == {"error-budget": True, "apdex": True, "p95": True, "p99": True, "burn-rate": True}
    assert [w["alert"] for w in report["burnRates"]] == ["burn-1h-5m", "burn-6h-30m", "burn-3d-6h"]


def test_a_spent_budget_exits_1_and_a_fresh_burst_fires_the_fast_burn_alert(project, seed):
    directory, stack = project
    seed(stack, timedelta(days=2), ok=995, errors=5)  # 0.5 % of 1000: five times the 0.1 % budget
    seed(stack, timedelta(minutes=2), ok=180, errors=20)  # 10 % right now: 100x
    result = _cli(directory, "--stack", stack, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["budgetSpent"] is True
    assert report["budgetRemaining"] == pytest.approx(1 - 25 / (1200 * 0.001))
    fast = next(w for w in report["burnRates"] if w["alert"] == "burn-1h-5m")
    assert fast["firing"] is True and fast["shortWindowRate"] == pytest.approx(100.0)
    slow = next(w for w in report["burnRates"] if w["alert"] == "burn-3d-6h")
    assert slow["longWindowRate"] == pytest.approx(25 / 1200 / 0.001)


def test_too_little_traffic_never_fires_a_burn_rate_alert(project, seed):
    directory, stack = project
    seed(stack, timedelta(minutes=1), ok=9, errors=1)
    report = json.loads(_cli(directory, "--stack", stack, "--json").output)
    assert not any(w["firing"] for w in report["burnRates"])


def test_markdown_is_a_table_for_the_signoff_and_pull_requests(project, seed):
    directory, stack = project
    seed(stack, timedelta(minutes=5), ok=100)
    result = _cli(directory, "--stack", stack, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("<!-- chefchatz-slo-report -->")
    assert "| apdex >= 0.99 | 1.0000 | met |" in result.output
    assert "| error budget 0.1% | 100.0% remaining | met |" in result.output


def test_no_traffic_is_reported_as_such_and_is_not_a_spent_budget(project, aws):
    directory, stack = project
    result = _cli(directory, "--stack", stack)
    assert result.exit_code == 0, result.output
    assert "no traffic" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "nosuchstack"], "no stack file Pulumi.nosuchstack.yaml"),
        (["--window", "30 days"], "--window: '30 days' is not a duration"),
        (["--window", "1d"], "shorter than 3d"),
        (["--format", "yaml"], "--format 'yaml' is not one of text, json, markdown"),
    ],
)
def test_bad_input_exits_2_naming_it(project, args, message):
    directory, stack = project
    full = args if args[0] == "--stack" else ["--stack", stack, *args]
    result = _cli(directory, *full)
    assert result.exit_code == 2
    assert message in result.output


def test_deployment_counts_are_what_that_deployments_real_requests_got(project, seed):
    _, stack = project
    old, new = unique("dpl_old"), unique("dpl_new")
    seed(stack, timedelta(minutes=3), ok=50, errors=0, deployment=old)
    seed(stack, timedelta(minutes=2), ok=90, errors=10, slow=3, deployment=new)
    counts = deployment_counts(boto3.client("cloudwatch"), stack, new, datetime.now(UTC), timedelta(minutes=10))
    assert (counts.requests, counts.server_errors, counts.slow_over_p95, counts.slow_over_p99) == (103, 10, 3, 3)
    assert (
        deployment_counts(boto3.client("cloudwatch"), stack, old, datetime.now(UTC), timedelta(minutes=10)).requests
        == 50
    )


def test_the_report_reads_the_same_windows_the_alarms_use():
    assert [(a.long_window_s, a.short_window_s) for a in burn_rate_alerts(0.1, 30 * 86400)] == [
        (3600, 300),
        (21600, 1800),
        (259200, 21600),
    ]
