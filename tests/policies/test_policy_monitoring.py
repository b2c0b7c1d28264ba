"""Monitoring rules: every production domain is probed at /api/health every 30s, unhealthy after 2
failures, with an alarm that notifies; latency is alarmed at the SLOs (p95 200ms, p99 500ms).
Alarms are tied to their health check through the `dimensions` property dependency."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_STRING_VALUE,
    Findings,
    config_for,
    run_stack_policy,
)
from pulumi_policy import StackValidationPolicy
from resource_shapes import DELETE, StackPlan, monitoring_plan, web_plan

from policies.monitoring import production_domains_monitored, slo_alarms

PREFIX = "chefchatz-prod-monitoring"
APEX_CHECK = f"{PREFIX}-health-chefchatz-com"
WWW_CHECK = f"{PREFIX}-health-www-chefchatz-com"
APEX_UNHEALTHY = f"{PREFIX}-unhealthy-chefchatz-com"
APEX_P95 = f"{PREFIX}-latency-p95-chefchatz-com"
APEX_P99 = f"{PREFIX}-latency-p99-chefchatz-com"


def run(policy: StackValidationPolicy, plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(policy, plan.resources(), config_for(policy, **config))


# --- production-domains-monitored -----------------------------------------------------------------


def test_every_production_domain_has_a_health_check_that_notifies(prod_monitoring: StackPlan) -> None:
    assert run(production_domains_monitored, prod_monitoring) == []


def test_health_check_settings_arrive_as_floats(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(APEX_CHECK, "requestInterval", 30.0).set(APEX_CHECK, "failureThreshold", 2.0)
    assert run(production_domains_monitored, prod_monitoring) == []


def test_production_domain_without_a_health_check_is_refused(prod_monitoring: StackPlan) -> None:
    prod_monitoring.drop(WWW_CHECK)
    run(production_domains_monitored, prod_monitoring).expect(
        "production domain www.chefchatz.com has no health check",
        on=prod_monitoring.urn_of("chefchatz-prod-web-domain-www-chefchatz-com"),
    )


def test_health_check_of_another_host_does_not_count(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(WWW_CHECK, "fqdn", "chefchatz.vercel.app")
    run(production_domains_monitored, prod_monitoring).expect("production domain www.chefchatz.com has no health check")


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("resourcePath", "/", "probes '/', not '/api/health'"),
        ("resourcePath", DELETE, "probes None, not '/api/health'"),
        ("requestInterval", 60, "probes every 60s, the spec says every 30s"),
        ("failureThreshold", 3, "needs 3 failures before unhealthy, the spec says 2"),
        # Route 53's default threshold is 3: leaving it out is a weaker check than the spec's.
        ("failureThreshold", DELETE, "needs 3 failures before unhealthy, the spec says 2"),
        ("disabled", True, "is disabled"),
    ],
)
def test_each_weakened_health_check_setting_is_named(
    prod_monitoring: StackPlan, path: str, value: object, problem: str
) -> None:
    prod_monitoring.set(APEX_CHECK, path, value)
    findings = run(production_domains_monitored, prod_monitoring)
    findings.expect(f"health check of chefchatz.com {problem}", on=prod_monitoring.urn_of(APEX_CHECK))
    assert len(findings) == 1, findings


def test_faster_probes_than_the_spec_are_fine(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(APEX_CHECK, "requestInterval", 10)
    assert run(production_domains_monitored, prod_monitoring) == []


@pytest.mark.parametrize(
    "change",
    [
        ("drop", APEX_UNHEALTHY),
        (APEX_UNHEALTHY, "alarmActions", []),
        (APEX_UNHEALTHY, "alarmActions", DELETE),
        (APEX_UNHEALTHY, "metricName", "HealthCheckPercentageHealthy"),
    ],
    ids=["no-alarm", "no-actions", "actions-absent", "other-metric"],
)
def test_health_check_without_an_alarm_that_notifies_is_refused(
    prod_monitoring: StackPlan, change: tuple[Any, ...]
) -> None:
    if change[0] == "drop":
        prod_monitoring.drop(change[1])
    else:
        prod_monitoring.set(*change)
    run(production_domains_monitored, prod_monitoring).expect(
        "health check of chefchatz.com has no alarm that notifies anyone when it fails",
        on=prod_monitoring.urn_of(APEX_CHECK),
    )


def test_alarm_is_tied_to_its_health_check_by_property_dependency(prod_monitoring: StackPlan) -> None:
    """The check id is unknown before the check exists; only the dependency says which check it is."""
    prod_monitoring[APEX_UNHEALTHY].depends["dimensions"] = [WWW_CHECK]
    findings = run(production_domains_monitored, prod_monitoring)
    findings.expect("health check of chefchatz.com has no alarm", on=prod_monitoring.urn_of(APEX_CHECK))


def test_other_stacks_need_no_monitors() -> None:
    assert run(production_domains_monitored, web_plan("staging", domain="staging.chefchatz.com")) == []


def test_health_check_spec_and_production_stacks_are_configurable(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(APEX_CHECK, "resourcePath", "/healthz").set(WWW_CHECK, "resourcePath", "/healthz")
    assert run(production_domains_monitored, prod_monitoring, healthPath="/healthz") == []
    findings = run(
        production_domains_monitored, prod_monitoring, healthPath="/healthz", interval=10, unhealthyThreshold=1
    )
    findings.expect("health check of chefchatz.com probes every 30s, the spec says every 10s")
    findings.expect("health check of chefchatz.com needs 2 failures before unhealthy, the spec says 1")
    staging = web_plan("staging", domain="staging.chefchatz.com")
    run(production_domains_monitored, staging, productionStacks=["prod", "staging"]).expect(
        "production domain staging.chefchatz.com has no health check"
    )


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        ("chefchatz-prod-web-domain-chefchatz-com", "domain", UNKNOWN_STRING_VALUE),
        (APEX_CHECK, "fqdn", UNKNOWN_STRING_VALUE),
        (APEX_CHECK, "resourcePath", UNKNOWN_STRING_VALUE),
        (APEX_CHECK, "requestInterval", UNKNOWN_NUMBER_VALUE),
        (APEX_CHECK, "failureThreshold", UNKNOWN_NUMBER_VALUE),
        (APEX_CHECK, "disabled", UNKNOWN_BOOLEAN_VALUE),
        (APEX_UNHEALTHY, "metricName", UNKNOWN_STRING_VALUE),
        (APEX_UNHEALTHY, "alarmActions", UNKNOWN_ARRAY_VALUE),
    ],
)
def test_domain_monitoring_unknown_at_preview_is_reported(
    prod_monitoring: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_monitoring.set(name, path, unknown)
    run(production_domains_monitored, prod_monitoring).expect_unverifiable(path=path)


# --- slo-alarms ----------------------------------------------------------------------------------


def test_latency_is_alarmed_at_p95_200ms_and_p99_500ms(prod_monitoring: StackPlan) -> None:
    assert run(slo_alarms, prod_monitoring) == []


def test_slo_thresholds_arrive_as_floats(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(APEX_P95, "threshold", 200.0).set(APEX_P99, "threshold", 499.5)
    assert run(slo_alarms, prod_monitoring) == []


@pytest.mark.parametrize("value", [False, DELETE])
def test_health_check_that_does_not_measure_latency_is_refused(prod_monitoring: StackPlan, value: object) -> None:
    prod_monitoring.set(APEX_CHECK, "measureLatency", value)
    findings = run(slo_alarms, prod_monitoring)
    findings.expect("health check of chefchatz.com does not measure latency", on=prod_monitoring.urn_of(APEX_CHECK))
    assert len(findings) == 1, findings


@pytest.mark.parametrize(("name", "percentile", "slo"), [(APEX_P95, "p95", "200"), (APEX_P99, "p99", "500")])
def test_missing_latency_alarm_is_refused(prod_monitoring: StackPlan, name: str, percentile: str, slo: str) -> None:
    prod_monitoring.drop(name)
    run(slo_alarms, prod_monitoring).expect(
        f"no {percentile} latency alarm for chefchatz.com (SLO {slo}ms)", on=prod_monitoring.urn_of(APEX_CHECK)
    )


@pytest.mark.parametrize(
    ("change", "percentile"),
    [
        (("tags.slo-objective", "p90"), "p95"),
        (("metricName", "HealthCheckStatus"), "p95"),
    ],
    ids=["other-percentile", "other-metric"],
)
def test_alarm_on_another_statistic_is_no_latency_alarm(
    prod_monitoring: StackPlan, change: tuple[str, str], percentile: str
) -> None:
    prod_monitoring.set(APEX_P95, *change)
    run(slo_alarms, prod_monitoring).expect(f"no {percentile} latency alarm for chefchatz.com")


def test_latency_alarm_of_another_health_check_does_not_count(prod_monitoring: StackPlan) -> None:
    prod_monitoring[APEX_P99].depends["dimensions"] = [WWW_CHECK]
    run(slo_alarms, prod_monitoring).expect("no p99 latency alarm for chefchatz.com")


@pytest.mark.parametrize(
    ("name", "threshold", "message"),
    [
        (APEX_P95, 250, "p95 alarm fires above 250ms; the SLO is 200ms"),
        (APEX_P99, 1000.0, "p99 alarm fires above 1000ms; the SLO is 500ms"),
    ],
)
def test_latency_alarm_looser_than_the_slo_is_refused(
    prod_monitoring: StackPlan, name: str, threshold: float, message: str
) -> None:
    prod_monitoring.set(name, "threshold", threshold)
    run(slo_alarms, prod_monitoring).expect(message, on=prod_monitoring.urn_of(name))


def test_slos_are_configurable(prod_monitoring: StackPlan) -> None:
    prod_monitoring.set(APEX_P95, "threshold", 300)
    assert run(slo_alarms, prod_monitoring, p95Ms=300) == []
    run(slo_alarms, prod_monitoring, p99Ms=400).expect(
        "p99 alarm fires above 500ms; the SLO is 400ms", on=prod_monitoring.urn_of(APEX_P99)
    )


def test_latency_outside_production_is_not_judged() -> None:
    plan = monitoring_plan("staging", domains=("staging.chefchatz.com",))
    plan.drop("chefchatz-staging-monitoring-latency-p95-staging-chefchatz-com")
    assert run(slo_alarms, plan) == []
    run(slo_alarms, plan, productionStacks=["staging"]).expect("no p95 latency alarm for staging.chefchatz.com")


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        (APEX_CHECK, "measureLatency", UNKNOWN_BOOLEAN_VALUE),
        (APEX_P95, "metricName", UNKNOWN_STRING_VALUE),
        (APEX_P95, "tags.slo-objective", UNKNOWN_STRING_VALUE),
        (APEX_P95, "threshold", UNKNOWN_NUMBER_VALUE),
    ],
)
def test_slo_alarm_unknown_at_preview_is_reported(
    prod_monitoring: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_monitoring.set(name, path, unknown)
    run(slo_alarms, prod_monitoring).expect_unverifiable(path=path)
