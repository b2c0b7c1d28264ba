"""The Slo component under Pulumi's mocks (tests/test_components.py style), and what it packages."""

from __future__ import annotations

import ast
import json
import sys
from typing import Any

from components.environment import Environment
from components.slo import OPS_ROOT, RECEIVER_FILES, Slo, SloArgs, SloObjectives, dashboard_body
from tests.test_components import NAMING, VERIFICATION_CODE, build, secrets
from tests.test_settings import settings_for

OBJECTIVES = SloObjectives(
    apdex=0.99,
    apdex_threshold_ms=200,
    p95_ms=200,
    p99_ms=500,
    budget_percent=0.1,
    window_s=30 * 86400,
    rollback_response_ms=1000,
)


def _slo() -> Slo:
    return Slo(
        "slo",
        SloArgs(
            naming=NAMING,
            team_id="chefchatz",
            vercel_project_id="prj_1",
            drain_secret=secrets().slo_drain_secret,
            alarm_topic_arn="arn:aws:sns:us-east-1:1:alerts",
            objectives=OBJECTIVES,
            health_alarm_names=("chefchatz-prod-unhealthy-chefchatz-com",),
            backup_kinds=("database", "assets"),
        ),
    )


# How a secret reaches the engine: wrapped in Pulumi's secret signature (pulumi.runtime.rpc).
SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _secret(value: str) -> dict[str, str]:
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def _by_name(recorded: Any, suffix: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in recorded.of_type(suffix)}


def test_the_drain_sends_signed_production_request_logs_to_the_receivers_url():
    recorded = build(_slo)
    (drain,) = recorded.of_type("index/logDrain:LogDrain")
    assert drain.inputs["deliveryFormat"] == "ndjson"
    assert drain.inputs["environments"] == ["production"]
    assert set(drain.inputs["sources"]) == {"lambda", "edge", "static", "external", "redirect"}
    assert drain.inputs["projectIds"] == ["prj_1"]
    assert drain.inputs["secret"] == _secret("test-slo-drain")
    (function,) = recorded.of_type("lambda/function:Function")
    # The secret makes the whole environment block secret on its way to the engine.
    environment = function.inputs["environment"]
    assert environment[SECRET_SIG_KEY] == SECRET_SIG
    variables = environment["value"]["variables"]
    assert variables["DRAIN_SECRET"] == "test-slo-drain"
    assert variables["VERCEL_VERIFY_CODE"] == VERIFICATION_CODE
    assert (variables["APDEX_T_MS"], variables["P95_MS"], variables["P99_MS"]) == ("200", "200", "500")
    assert function.inputs["handler"] == "ops.slo.receiver.handler"
    (url,) = recorded.of_type("lambda/functionUrl:FunctionUrl")
    assert url.inputs["authorizationType"] == "NONE"
    (table,) = recorded.of_type("dynamodb/table:Table")
    assert table.inputs["ttl"] == {"attributeName": "expiresAt", "enabled": True}


def test_burn_rate_alerts_pair_a_long_and_a_short_window_and_notify_the_topic():
    recorded = build(_slo)
    alarms = _by_name(recorded, "cloudwatch/metricAlarm:MetricAlarm")
    expected = {
        "burn-1h-5m": (3600, 300, 0.0144),
        "burn-6h-30m": (21600, 1800, 0.006),
        "burn-3d-6h": (259200, 21600, 0.001),
    }
    composites = _by_name(recorded, "cloudwatch/compositeAlarm:CompositeAlarm")
    for alert, (long_s, short_s, threshold) in expected.items():
        for window, period in (("long", long_s), ("short", short_s)):
            alarm = alarms[f"slo-{alert}-{window}"]
            periods = {q["metric"]["period"] for q in alarm["metricQueries"] if q.get("metric")}
            assert periods == {period}, (alert, window, periods)
            assert abs(alarm["threshold"] - threshold) < 1e-12, (alert, alarm["threshold"])
            assert "alarmActions" not in alarm or not alarm["alarmActions"]
        composite = composites[f"slo-{alert}"]
        assert composite["alarmRule"] == (
            f'ALARM("chefchatz-prod-slo-{alert}-long") AND ALARM("chefchatz-prod-slo-{alert}-short")'
        )
        assert composite["alarmActions"] == ["arn:aws:sns:us-east-1:1:alerts"]


def test_apdex_p95_and_p99_alarms_judge_real_requests_against_the_objectives():
    alarms = _by_name(build(_slo), "cloudwatch/metricAlarm:MetricAlarm")
    assert alarms["slo-apdex"]["threshold"] == 0.99
    assert alarms["slo-apdex"]["comparisonOperator"] == "LessThanThreshold"
    assert (alarms["slo-latency-p95"]["threshold"], alarms["slo-latency-p99"]["threshold"]) == (0.05, 0.01)
    p95_metrics = {q["metric"]["metricName"] for q in alarms["slo-latency-p95"]["metricQueries"] if q.get("metric")}
    assert p95_metrics == {"SlowOverP95Objective", "Requests"}
    for name in ("slo-apdex", "slo-latency-p95", "slo-latency-p99"):
        assert alarms[name]["alarmActions"] == ["arn:aws:sns:us-east-1:1:alerts"], name


def test_the_dashboard_charts_sli_budget_burn_latency_apdex_health_and_backups():
    body = json.loads(
        dashboard_body("prod", OBJECTIVES, ["arn:aws:cloudwatch:us-east-1:1:alarm:h"], ("database",), "us-east-1")
    )
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for word in ("SLI", "Error budget remaining", "Burn rates", "Latency", "Apdex", "Health checks", "backups"):
        assert any(word in t for t in titles), (word, titles)
    text = json.dumps(body)
    assert '"p95"' in text and '"p99"' in text and "BackupSucceeded" in text


def test_a_stack_with_the_drain_off_creates_no_slo_resources():
    recorded = build(lambda: Environment("env", settings_for("dev"), secrets()))
    assert not recorded.of_type("chefchatz:slo:Slo")
    assert not recorded.of_type("index/logDrain:LogDrain")
    assert not recorded.of_type("lambda/function:Function")


def test_prod_environment_includes_the_slo_component():
    recorded = build(lambda: Environment("env", settings_for("prod"), secrets()))
    assert recorded.of_type("chefchatz:slo:Slo")
    assert len(recorded.of_type("cloudwatch/compositeAlarm:CompositeAlarm")) == 3


def test_the_receiver_package_needs_only_the_standard_library_and_boto3():
    packaged = {path.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for path in RECEIVER_FILES}
    for path in RECEIVER_FILES:
        tree = ast.parse((OPS_ROOT / path).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert name in packaged or top in sys.stdlib_module_names or top in ("boto3", "__future__"), (
                    f"{path} imports {name}, which the Lambda package does not contain"
                )
