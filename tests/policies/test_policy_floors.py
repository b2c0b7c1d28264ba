"""The spec floors: each rule passes the spec's values and anything tighter, reports a looser value
naming the `chefchatz:` key, the value and the floor, accepts a lowered floor from its config, and
never lets a value unknown at preview pass unseen."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, config_for, resource, run_stack_policy
from pulumi_policy import PolicyResource
from resource_shapes import SPEC_PIPELINE_VARIABLES, SPEC_RECOVERY_TAGS

from policies.common import ALARM, BUCKET, GITHUB_ENV_VARIABLE, HEALTH_CHECK, VERCEL_ENV_VAR
from policies.floors import (
    TASK_DEFINITION,
    backup_image_pinned_in_production,
    backup_plan_floors,
    backup_replica_in_another_region,
    disaster_recovery_floors,
    feature_floors,
    health_check_floors,
    performance_objective_floors,
    release_approver_floor,
    rollback_trigger_floors,
    tls_floors,
)

LAMBDA = "aws:lambda/function:Function"
SLO_TAGS = {
    "slo-apdex": "0.99",
    "slo-apdex-threshold": "200ms",
    "slo-error-budget-percent": "0.1",
    "slo-error-budget-window": "30d",
}


def variables(stack: str = "prod", **changed: Any) -> list[PolicyResource]:
    values = {**SPEC_PIPELINE_VARIABLES, **changed}
    return [
        resource(GITHUB_ENV_VARIABLE, f"var-{name.lower()}", {"variableName": name, "value": value}, stack=stack)
        for name, value in values.items()
    ]


def latency_alarms(p95: Any = 200, p99: Any = 500, **tags: Any) -> list[PolicyResource]:
    return [
        resource(
            ALARM,
            f"latency-{percentile}",
            {
                "metricName": "TimeToFirstByte",
                "statistic": "Average",
                "threshold": threshold,
                "tags": {**SLO_TAGS, "slo-objective": percentile, **tags},
            },
        )
        for percentile, threshold in (("p95", p95), ("p99", p99))
    ]


def buckets(stack: str = "prod", replica_region: str = "us-west-2", **tags: Any) -> list[PolicyResource]:
    database_tags = {"backup-kind": "database", "backup-type": "incremental", "pitr": "enabled", **SPEC_RECOVERY_TAGS}
    database_tags.update({k.replace("_", "-"): v for k, v in tags.items()})
    return [
        resource(BUCKET, "database", {"region": "us-east-1", "tags": database_tags}, stack=stack),
        resource(BUCKET, "assets", {"region": "us-east-1", "tags": {"backup-kind": "assets", "backup-type": "full"}}),
        resource(BUCKET, "replica", {"region": replica_region, "tags": {"backup-replica-of": "database"}}, stack=stack),
    ]


def messages(policy: Any, resources: list[PolicyResource], **config: Any) -> list[str]:
    return run_stack_policy(policy, resources, config_for(policy, **config)).messages()


VARIABLE_POLICIES = [release_approver_floor, rollback_trigger_floors, health_check_floors, tls_floors]


@pytest.mark.parametrize("policy", VARIABLE_POLICIES, ids=lambda p: p.name)
def test_the_spec_values_pass(policy: Any) -> None:
    assert messages(policy, variables()) == []


@pytest.mark.parametrize(
    ("policy", "variable", "value", "key"),
    [
        (release_approver_floor, "RELEASE_APPROVERS", "tech-lead", "releaseApprovals"),
        (rollback_trigger_floors, "ROLLBACK_ERROR_RATE", "1.5%", "rollbackErrorRate"),
        (rollback_trigger_floors, "ROLLBACK_RESPONSE_TIME", "2s", "rollbackResponseTime"),
        (rollback_trigger_floors, "ROLLBACK_FAILED_TRANSACTIONS", "1%", "rollbackFailedTransactions"),
        (rollback_trigger_floors, "ROLLBACK_NOTIFICATIONS", "", "rollbackNotifications"),
        (rollback_trigger_floors, "ROLLBACK_NOTIFICATIONS", "pager:1", "rollbackNotifications"),
        (health_check_floors, "HEALTH_CHECK_PATH", "/", "healthCheckPath"),
        (health_check_floors, "HEALTH_CHECK_INTERVAL", "1m", "healthCheckInterval"),
        (health_check_floors, "HEALTH_CHECK_TIMEOUT", "6s", "healthCheckTimeout"),
        (health_check_floors, "ROLLBACK_CONSECUTIVE", "3", "healthCheckUnhealthyThreshold"),
        (tls_floors, "TLS_PROVIDER", "custom", "tlsProvider"),
        (tls_floors, "TLS_AUTO_RENEW", "false", "tlsAutoRenew"),
        (tls_floors, "TLS_MINIMUM_VERSION", "TLS1.1", "tlsMinimumVersion"),
        (tls_floors, "TLS_CIPHERS", "ECDHE-RSA-AES128-GCM-SHA256", "tlsPreferredCiphers"),
        (
            tls_floors,
            "TLS_CIPHERS",
            SPEC_PIPELINE_VARIABLES["TLS_CIPHERS"] + ",ECDHE-RSA-AES128-SHA256",
            "tlsPreferredCiphers",
        ),
    ],
)
def test_a_looser_value_is_reported_with_key_value_and_floor(policy: Any, variable: str, value: str, key: str) -> None:
    found = messages(policy, variables(**{variable: value}))
    assert found, f"{policy.name} let {variable}={value!r} through"
    assert all(f"chefchatz:{key}" in m for m in found), found


@pytest.mark.parametrize(
    ("policy", "variable", "value"),
    [
        (release_approver_floor, "RELEASE_APPROVERS", "tech-lead,product-owner,security"),
        (rollback_trigger_floors, "ROLLBACK_ERROR_RATE", "0.5%"),
        (rollback_trigger_floors, "ROLLBACK_RESPONSE_TIME", "1s"),
        (health_check_floors, "HEALTH_CHECK_INTERVAL", "10s"),
        (health_check_floors, "ROLLBACK_CONSECUTIVE", "1"),
        (tls_floors, "TLS_MINIMUM_VERSION", "TLS1.3"),
        (tls_floors, "TLS_CIPHERS", SPEC_PIPELINE_VARIABLES["TLS_CIPHERS"] + ",ECDHE-RSA-CHACHA20-POLY1305"),
    ],
)
def test_a_tighter_value_passes(policy: Any, variable: str, value: str) -> None:
    assert messages(policy, variables(**{variable: value})) == []


def test_the_message_names_the_value_the_floor_and_the_pack_config_property() -> None:
    (message,) = messages(rollback_trigger_floors, variables(ROLLBACK_ERROR_RATE="2%"))
    assert "chefchatz:rollbackErrorRate is '2%'" in message and "floor '1%'" in message
    assert "rollback-trigger-floors.errorRate" in message


def test_a_lowered_floor_in_the_pack_config_admits_the_value_and_nothing_looser() -> None:
    assert messages(rollback_trigger_floors, variables(ROLLBACK_ERROR_RATE="2%"), errorRate="2%") == []
    assert messages(rollback_trigger_floors, variables(ROLLBACK_ERROR_RATE="2.5%"), errorRate="2%")


def test_a_missing_carrier_is_reported_not_passed() -> None:
    without = [r for r in variables() if r.props["variableName"] != "ROLLBACK_ERROR_RATE"]
    (message,) = messages(rollback_trigger_floors, without)
    assert "ROLLBACK_ERROR_RATE" in message


def test_an_unknown_value_cannot_pass_unseen() -> None:
    found = run_stack_policy(rollback_trigger_floors, variables(ROLLBACK_ERROR_RATE=UNKNOWN_STRING_VALUE))
    found.expect_unverifiable()


# --- health checks on Route 53 ---------------------------------------------------------------------


def test_route53_health_checks_are_held_to_the_same_floors() -> None:
    check = resource(
        HEALTH_CHECK, "apex", {"resourcePath": "/api/health", "requestInterval": 30, "failureThreshold": 3}
    )
    (message,) = messages(health_check_floors, [*variables(), check])
    assert "chefchatz:healthCheckUnhealthyThreshold is '3'" in message


# --- performance objectives ------------------------------------------------------------------------


def test_the_spec_slos_pass() -> None:
    assert messages(performance_objective_floors, latency_alarms()) == []


@pytest.mark.parametrize(
    ("alarms", "key"),
    [
        (latency_alarms(p95=250), "sloP95"),
        (latency_alarms(p99=501), "sloP99"),
        (latency_alarms(**{"slo-apdex": "0.95"}), "sloApdex"),
        (latency_alarms(**{"slo-apdex-threshold": "5000ms"}), "sloApdexThreshold"),
        (latency_alarms(**{"slo-error-budget-percent": "0.5"}), "sloErrorBudget"),
        (latency_alarms(**{"slo-error-budget-window": "90d"}), "sloErrorBudgetWindow"),
    ],
)
def test_a_looser_slo_is_reported(alarms: list[PolicyResource], key: str) -> None:
    found = messages(performance_objective_floors, alarms)
    assert found and all(f"chefchatz:{key}" in m for m in found), found


def test_apdex_t_is_held_where_it_takes_effect_the_slo_receiver_too() -> None:
    def receiver(threshold: str) -> PolicyResource:
        env = {"variables": {"APDEX_T_MS": threshold, "P95_MS": "200"}}
        return resource(LAMBDA, "slo-receiver", {"environment": env})

    assert messages(performance_objective_floors, [*latency_alarms(), receiver("150")]) == []
    found = messages(performance_objective_floors, [*latency_alarms(), receiver("5000")])
    assert found and "chefchatz:sloApdexThreshold" in found[0] and "5000ms" in found[0], found
    # A pack config may lower the floor: T 100ms at most.
    strict = config_for(performance_objective_floors, apdexThreshold="100ms")
    assert run_stack_policy(performance_objective_floors, [*latency_alarms(), receiver("150")], strict)


def test_apdex_t_may_not_exceed_the_stacks_own_tighter_p95() -> None:
    # p95 tightened to 150ms, T left at 200ms: within the floor, but above the stack's own objective.
    found = messages(performance_objective_floors, latency_alarms(p95=150))
    assert any("above this stack's p95 objective" in m and "chefchatz:sloP95, 150ms" in m for m in found), found
    assert messages(performance_objective_floors, latency_alarms(p95=150, **{"slo-apdex-threshold": "150ms"})) == []


def test_no_latency_alarm_means_the_slos_cannot_be_checked() -> None:
    (message,) = messages(performance_objective_floors, variables())
    assert "no latency alarm" in message


def test_an_unknown_threshold_cannot_pass_unseen() -> None:
    run_stack_policy(performance_objective_floors, latency_alarms(p95=UNKNOWN_NUMBER_VALUE)).expect_unverifiable()


# --- backups and disaster recovery -----------------------------------------------------------------


@pytest.mark.parametrize("policy", [backup_plan_floors, disaster_recovery_floors, backup_replica_in_another_region])
def test_the_spec_backups_pass(policy: Any) -> None:
    assert messages(policy, buckets()) == []


@pytest.mark.parametrize(
    ("policy", "tags", "key"),
    [
        (backup_plan_floors, {"backup_type": "full"}, "backupDatabaseType"),
        (backup_plan_floors, {"pitr": "disabled"}, "backupPointInTimeRecovery"),
        (disaster_recovery_floors, {"dr_rpo": "2h"}, "drRpo"),
        (disaster_recovery_floors, {"dr_rto": "16m"}, "drRto"),
        (disaster_recovery_floors, {"dr_database_failover": "manual"}, "drDatabaseFailover"),
        (disaster_recovery_floors, {"dr_data_reconciliation": "manual"}, "drDataReconciliation"),
    ],
)
def test_a_looser_backup_or_recovery_value_is_reported(policy: Any, tags: dict[str, str], key: str) -> None:
    found = messages(policy, buckets(**tags))
    assert found and all(f"chefchatz:{key}" in m for m in found), found


def test_automatic_region_failover_is_a_tightening() -> None:
    assert messages(disaster_recovery_floors, buckets(dr_region_failover="automatic")) == []


def test_a_stack_without_backups_has_no_recovery_values_to_hold() -> None:
    assert messages(disaster_recovery_floors, variables(stack="dev")) == []


def test_a_production_replica_in_the_primary_region_is_reported() -> None:
    (message,) = messages(backup_replica_in_another_region, buckets(replica_region="us-east-1"))
    assert "chefchatz:backupReplicaRegion is 'us-east-1'" in message


def test_replica_region_is_a_production_rule() -> None:
    assert messages(backup_replica_in_another_region, buckets(stack="staging", replica_region="us-east-1")) == []


DIGEST = "ghcr.io/chefchatz/chefchatz-infra:0.1.0@sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("stack", "image", "reported"),
    [
        ("prod", "ghcr.io/chefchatz/chefchatz-infra:0.1.0", True),
        ("prod", "ghcr.io/chefchatz/chefchatz-infra:latest", True),
        ("prod", DIGEST, False),
        ("staging", "ghcr.io/chefchatz/chefchatz-infra:0.1.0", False),
    ],
)
def test_production_backup_images_are_pinned_by_digest(stack: str, image: str, reported: bool) -> None:
    task = resource(TASK_DEFINITION, "task", {"tags": {"backup-image": image}}, stack=stack)
    found = messages(backup_image_pinned_in_production, [task])
    assert bool(found) is reported, found


# --- features outside development ------------------------------------------------------------------


def features(stack: str, ai_limits: str = "production", analytics: str = "true") -> list[PolicyResource]:
    return [
        resource(VERCEL_ENV_VAR, "ai-limits", {"key": "NEXT_PUBLIC_AI_LIMITS", "value": ai_limits}, stack=stack),
        resource(
            VERCEL_ENV_VAR, "analytics", {"key": "NEXT_PUBLIC_FEATURE_ANALYTICS", "value": analytics}, stack=stack
        ),
    ]


@pytest.mark.parametrize(
    ("stack", "ai_limits", "analytics", "keys"),
    [
        ("prod", "production", "true", []),
        ("staging", "production", "true", []),
        ("prod", "relaxed", "true", ["featureAiLimits"]),
        ("staging", "production", "false", ["featureAnalytics"]),
        ("dev", "relaxed", "false", []),
    ],
)
def test_features_keep_the_spec_outside_development(
    stack: str, ai_limits: str, analytics: str, keys: list[str]
) -> None:
    found = messages(feature_floors, features(stack, ai_limits, analytics))
    assert [k for k in ("featureAiLimits", "featureAnalytics") if any(f"chefchatz:{k}" in m for m in found)] == keys


def test_a_cipher_list_finding_names_the_suites_that_make_it_looser() -> None:
    found = messages(tls_floors, variables(TLS_CIPHERS="ECDHE-RSA-AES128-GCM-SHA256,AES128-SHA"))
    assert any("missing: ECDHE-ECDSA-AES128-GCM-SHA256" in m for m in found), found
    assert any("not allowed: AES128-SHA" in m for m in found), found
