"""Platform contracts (policies/platform.py): each rule passes the shape the components register now,
and fails the shape they registered before the first real `pulumi up` (issue 23), naming the resource."""

from __future__ import annotations

import json
from typing import Any

from policy_harness import (
    UNKNOWN_STRING_VALUE,
    config_for,
    options,
    resource,
    run_resource_policy,
    run_stack_policy,
)
from resource_shapes import backups_plan, replication_policy

from policies.platform import (
    ALERT_RULE,
    FUNCTION_URL,
    KMS_KEY,
    PERMISSION,
    TOPIC,
    alarm_topics_reachable,
    object_locked_replicas,
    public_function_url_ready,
    public_function_urls_capped,
    replication_after_versioning,
    route53_alarms_evaluable,
    vercel_alert_rules_deployable,
    vercel_variables_replaceable,
)

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"


def _alert_rule(trigger: dict[str, Any], owners: bool | None = True) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": "chefchatz-prod-error-anomalies",
        "teamId": "team_0000000000000000chefchatz",
        "type": "built-in",
        "triggers": [trigger],
    }
    if owners is not None:
        props["notificationSettings"] = {"enableTeamOwnerNotifications": owners}
    return props


def test_an_error_anomaly_trigger_with_a_status_group_filter_passes() -> None:
    for text in ("statusGroup:5xx", "statusGroup:4xx", "statusGroup:5xx AND route:/api/*"):
        props = _alert_rule({"type": "error_anomaly", "filter": text})
        assert run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, props) == [], text


def test_the_error_anomaly_trigger_without_a_filter_vercel_refuses_fails() -> None:
    # The shape components/monitoring.py registered before: `pulumi up` failed on it in every stack.
    props = _alert_rule({"type": "error_anomaly"}, owners=None)
    findings = run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, props)
    findings.expect("triggers[0] (error_anomaly)")
    findings.expect("notifies nobody outside Vercel's dashboard")
    route_only = _alert_rule({"type": "error_anomaly", "filter": "route:/api/*"})
    run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, route_only).expect("statusGroup:4xx or")
    mixed = _alert_rule({"type": "error_anomaly", "filter": "statusGroup:5xx OR route:/api/*"})
    run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, mixed).expect("OR and NOT cannot combine")
    both = _alert_rule({"type": "error_anomaly", "filter": "statusGroup:4xx OR statusGroup:5xx"})
    assert run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, both) == []
    other_group = _alert_rule({"type": "error_anomaly", "filter": "statusGroup:3xx"})
    run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, other_group).expect("statusGroup:4xx or")


def test_a_usage_anomaly_trigger_needs_no_status_group() -> None:
    props = _alert_rule({"type": "usage_anomaly"})
    assert run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, props) == []


def test_an_unknown_alert_filter_is_unverifiable() -> None:
    props = _alert_rule({"type": "error_anomaly", "filter": UNKNOWN_STRING_VALUE})
    run_resource_policy(vercel_alert_rules_deployable, ALERT_RULE, props).expect_unverifiable()


def test_vercel_variables_must_be_replaced_delete_first() -> None:
    var = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
    props = {"key": "OPENAI_API_KEY", "value": "x", "sensitive": True, "targets": ["production"]}
    ok = run_resource_policy(vercel_variables_replaceable, var, props, opts=options(delete_before_replace=True))
    assert ok == []
    for unset in (None, False):
        found = run_resource_policy(vercel_variables_replaceable, var, props, opts=options(delete_before_replace=unset))
        found.expect("OPENAI_API_KEY is replaced create-before-delete")


# --- the alerts topic -------------------------------------------------------------------------------


def _key_policy(*, cloudwatch: bool) -> str:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"}
    ]
    if cloudwatch:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _alarm_stack(topic_props: dict[str, Any], key_policy: str | None = None, composite: bool = False) -> list[Any]:
    built = []
    key_deps: dict[str, list[Any]] = {}
    if key_policy is not None:
        key = resource(KMS_KEY, "chefchatz-prod-monitoring-alerts-key", {"policy": key_policy})
        built.append(key)
        key_deps = {"kmsMasterKeyId": [key]}
    topic = resource(TOPIC, "chefchatz-prod-monitoring-alerts", topic_props, property_dependencies=key_deps)
    alarm_type = COMPOSITE if composite else ALARM
    alarm = resource(
        alarm_type,
        "chefchatz-prod-unhealthy",
        {"alarmActions": [UNKNOWN_STRING_VALUE]},
        property_dependencies={"alarmActions": [topic]},
    )
    return [*built, topic, alarm]


def test_alarms_publish_to_a_topic_whose_own_key_lets_cloudwatch_use_it() -> None:
    stack = _alarm_stack({"kmsMasterKeyId": UNKNOWN_STRING_VALUE}, _key_policy(cloudwatch=True))
    assert run_stack_policy(alarm_topics_reachable, stack) == []
    assert run_stack_policy(alarm_topics_reachable, _alarm_stack({})) == [], "an unencrypted topic works"


def test_alarms_on_a_topic_encrypted_with_the_aws_managed_key_send_nothing() -> None:
    # The shape components/monitoring.py registered before.
    for composite in (False, True):
        stack = _alarm_stack({"kmsMasterKeyId": "alias/aws/sns"}, composite=composite)
        found = run_stack_policy(alarm_topics_reachable, stack)
        found.expect("'alias/aws/sns', a key this stack does not manage", on=stack[0].urn)


def test_a_topic_key_without_a_cloudwatch_grant_fails() -> None:
    stack = _alarm_stack({"kmsMasterKeyId": UNKNOWN_STRING_VALUE}, _key_policy(cloudwatch=False))
    run_stack_policy(alarm_topics_reachable, stack).expect("does not let cloudwatch.amazonaws.com use it")


def test_an_unknown_topic_key_policy_is_unverifiable() -> None:
    stack = _alarm_stack({"kmsMasterKeyId": UNKNOWN_STRING_VALUE}, UNKNOWN_STRING_VALUE)
    run_stack_policy(alarm_topics_reachable, stack).expect_unverifiable()


# --- replication ------------------------------------------------------------------------------------

PREFIX = "chefchatz-prod-backups"


def test_production_replication_shaped_like_the_component_passes_both_rules() -> None:
    resources = backups_plan("prod").resources()
    assert run_stack_policy(object_locked_replicas, resources) == []
    assert run_stack_policy(replication_after_versioning, resources) == []


def test_a_replica_without_object_lock_fails() -> None:
    plan = backups_plan("prod").set(f"{PREFIX}-database-replica-bucket", "objectLockEnabled", False)
    found = run_stack_policy(object_locked_replicas, plan.resources())
    found.expect("DstBucketObjectLockConfigMissing", on=plan.urn_of(f"{PREFIX}-database-replication"))


def test_a_replication_role_that_cannot_read_retention_fails() -> None:
    plan = backups_plan("prod")
    document = replication_policy("chefchatz-prod-assets-backups", "chefchatz-prod-assets-backups-replica")
    document["Statement"][1]["Action"] = document["Statement"][1]["Action"][:3]
    plan.set(f"{PREFIX}-assets-replication-policy", "policy", json.dumps(document))
    # The key document is unknown at preview: it might grant the rest, so that is all a preview can say.
    run_stack_policy(object_locked_replicas, plan.resources()).expect_unverifiable()
    for kind in ("database", "assets"):  # one role serves both
        plan.set(f"{PREFIX}-{kind}-replication-keys", "policy", json.dumps({"Statement": []}))
    found = run_stack_policy(object_locked_replicas, plan.resources())
    found.expect("lacks s3:GetObjectLegalHold, s3:GetObjectRetention", on=plan.urn_of(f"{PREFIX}-assets-replication"))


def test_replication_that_does_not_wait_for_both_versionings_fails() -> None:
    # The shape components/backups.py registered before: it waited for the buckets only.
    plan = backups_plan("prod")
    plan[f"{PREFIX}-database-replication"].after = []
    found = run_stack_policy(replication_after_versioning, plan.resources())
    urn = plan.urn_of(f"{PREFIX}-database-replication")
    found.expect("source bucket chefchatz-prod-database-backups's versioning", on=urn)
    found.expect("destination bucket chefchatz-prod-database-backups-replica's versioning", on=urn)


# --- public function URLs ---------------------------------------------------------------------------


def _drain_stack(*, wait: bool) -> list[Any]:
    function = resource("aws:lambda/function:Function", "receiver", {"name": "chefchatz-prod-slo-receiver"})
    url = resource(
        FUNCTION_URL,
        "receiver-url",
        {"functionName": UNKNOWN_STRING_VALUE, "authorizationType": "NONE"},
        property_dependencies={"functionName": [function]},
    )
    grants = [
        resource(
            PERMISSION,
            f"grant-{action}",
            {"function": UNKNOWN_STRING_VALUE, "action": action, "principal": "*"},
            property_dependencies={"function": [function]},
        )
        for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")
    ]
    drain = resource(
        "vercel:index/logDrain:LogDrain",
        "drain",
        {"endpoint": UNKNOWN_STRING_VALUE},
        property_dependencies={"endpoint": [url]},
        after=[function, *grants] if wait else [function],
    )
    return [function, url, *grants, drain]


def test_the_log_drain_waits_for_the_public_grants_of_its_endpoint() -> None:
    assert run_stack_policy(public_function_url_ready, _drain_stack(wait=True)) == []


def test_a_log_drain_created_before_the_grants_fails() -> None:
    # The shape components/slo.py registered before: Vercel's verification request could get 403.
    stack = _drain_stack(wait=False)
    found = run_stack_policy(public_function_url_ready, stack)
    found.expect("lambda:InvokeFunctionUrl, lambda:InvokeFunction", on=stack[-1].urn)


# --- Route 53 metrics -------------------------------------------------------------------------------


def _route53_alarm(**props: Any) -> list[Any]:
    base = {"namespace": "AWS/Route53", "metricName": "TimeToFirstByte", "threshold": 200}
    return [resource(ALARM, "latency-p95", {**base, **props})]


def test_probe_latency_alarms_on_a_statistic_route53_publishes_pass() -> None:
    for statistic in ("Average", "Maximum"):
        assert run_stack_policy(route53_alarms_evaluable, _route53_alarm(statistic=statistic)) == [], statistic


def test_a_percentile_of_route53s_time_to_first_byte_never_fires() -> None:
    # The shape components/monitoring.py registered before: p95/p99 of a statistic set.
    found = run_stack_policy(route53_alarms_evaluable, _route53_alarm(extendedStatistic="p95"))
    found.expect("asks for p95 of TimeToFirstByte: Route 53 publishes no percentiles")
    run_stack_policy(route53_alarms_evaluable, _route53_alarm(statistic="Sum")).expect("uses 'Sum'")
    other = [resource(ALARM, "slo", {"namespace": "ChefChatz/SLO", "extendedStatistic": "p95"})]
    assert run_stack_policy(route53_alarms_evaluable, other) == [], "only Route 53's statistic sets are judged"


# --- public function URLs: a concurrency cap ----------------------------------------------------------


def _public_function(**props: Any) -> list[Any]:
    function = resource("aws:lambda/function:Function", "chefchatz-prod-slo-receiver", {"name": "r", **props})
    url = resource(
        FUNCTION_URL,
        "receiver-url",
        {"functionName": UNKNOWN_STRING_VALUE, "authorizationType": "NONE"},
        property_dependencies={"functionName": [function]},
    )
    return [function, url]


def test_a_public_function_with_reserved_concurrency_within_the_cap_passes() -> None:
    assert run_stack_policy(public_function_urls_capped, _public_function(reservedConcurrentExecutions=10)) == []


def test_a_public_function_without_reserved_concurrency_fails() -> None:
    # The shape components/slo.py registered before: unsigned requests could scale it to the account's limit.
    stack = _public_function()
    run_stack_policy(public_function_urls_capped, stack).expect("no reserved concurrency", on=stack[0].urn)
    unreserved = _public_function(reservedConcurrentExecutions=-1)
    run_stack_policy(public_function_urls_capped, unreserved).expect("no reserved concurrency")
    for bad in (0, 500):
        found = run_stack_policy(public_function_urls_capped, _public_function(reservedConcurrentExecutions=bad))
        found.expect(f"reserved concurrency {bad}; between 1 and 100")


def test_the_pack_may_lower_the_cap() -> None:
    stack = _public_function(reservedConcurrentExecutions=10)
    lowered = config_for(public_function_urls_capped, maxConcurrency=5)
    run_stack_policy(public_function_urls_capped, stack, lowered).expect("between 1 and 5")
