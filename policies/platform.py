"""Platform contracts: what AWS and Vercel do with an input that their Python SDKs accept anyway.

Each rule holds one fact a platform documents and the provider SDK does not check, so a later
change cannot quietly bring back a deployment that `pulumi up` refuses, or one that deploys and
then does nothing. The source of each fact is named in the rule's description.

Resources are tied together by their dependencies (an ARN or id is unknown before the first
deployment; the dependency on the resource that will have it is known).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.common import (
    ALARM,
    BUCKET,
    LAMBDA_FUNCTION,
    REPLICATION,
    VERCEL_ENV_VAR,
    VERSIONING,
    config_with_defaults,
    get,
    of_type,
    policy_statements,
    resource_policy,
    stack_policy,
    stack_schema,
)

ALERT_RULE = "vercel:index/alertRule:AlertRule"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
TOPIC = "aws:sns/topic:Topic"
KMS_KEY = "aws:kms/key:Key"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"

ERROR_ANOMALY_STATUS_GROUPS = ("4xx", "5xx")
CLOUDWATCH = "cloudwatch.amazonaws.com"
# CloudWatch encrypts what it publishes to an encrypted topic with the topic's key.
CLOUDWATCH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
OBJECT_LOCK_REPLICATION_ACTIONS = ("s3:GetObjectRetention", "s3:GetObjectLegalHold")
PUBLIC_URL_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")
# sloDrainConcurrency's ceiling: a publicly reachable function never takes more of the account.
MAX_PUBLIC_CONCURRENCY = 100


def _deps(resource: PolicyResource, *properties: str) -> list[PolicyResource]:
    return [d for p in properties for d in resource.property_dependencies.get(p, [])]


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement grants `action` (exactly, or by a trailing `*` wildcard)."""
    if statement.get("Effect") != "Allow":
        return False
    for granted in _listed(statement.get("Action")):
        if granted == action or granted == "*" or (granted.endswith("*") and action.startswith(granted[:-1])):
            return True
    return False


# --- Vercel -----------------------------------------------------------------------------------------


def _validate_alert_rule(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ALERT_RULE:
        return
    for index, trigger in enumerate(get(args.props, "triggers", default=[]) or []):
        if get(trigger, "type") != "error_anomaly":
            continue
        text = str(get(trigger, "filter", default="") or "")
        terms = text.replace("(", " ").replace(")", " ").split()
        groups = [t.split(":", 1)[1] for t in terms if t.startswith("statusGroup:")]
        if not groups or any(g not in ERROR_ANOMALY_STATUS_GROUPS for g in groups):
            report(
                f"triggers[{index}] (error_anomaly) has filter {text!r}; Vercel requires "
                "statusGroup:4xx or statusGroup:5xx in it, and refuses the rule otherwise",
                args.urn,
            )
        fields = {t.split(":", 1)[0] for t in terms if ":" in t}
        if len(fields) > 1 and ({"OR", "NOT"} & set(terms)):
            report(
                f"triggers[{index}] (error_anomaly) has filter {text!r}: OR and NOT cannot combine different "
                "fields (only AND can), and Vercel refuses the rule",
                args.urn,
            )
    owners = get(args.props, "notificationSettings", "enableTeamOwnerNotifications")
    if owners is not True:
        report("the alert rule notifies nobody outside Vercel's dashboard (enable team-owner notifications)", args.urn)


vercel_alert_rules_deployable = resource_policy(
    "vercel-alert-rules-deployable",
    "A Vercel error-anomaly alert trigger filters on statusGroup:4xx|5xx, which Vercel requires "
    "(pulumiverse-vercel AlertRule, 'Trigger filters'), and the rule notifies people outside the dashboard.",
    _validate_alert_rule,
)


def _validate_variable_replacement(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_ENV_VAR:
        return
    if not args.opts.delete_before_replace:
        report(
            f"variable {get(args.props, 'key')} is replaced create-before-delete: a change of its `sensitive` "
            "flag fails with Vercel's ENV_ALREADY_EXISTS; set delete_before_replace=True",
            args.urn,
        )


vercel_variables_replaceable = resource_policy(
    "vercel-variables-replaceable",
    "Vercel environment variables are replaced delete-before-create: Vercel refuses a second variable "
    "with the same key and target (ENV_ALREADY_EXISTS; pulumiverse/pulumi-vercel issue 118).",
    _validate_variable_replacement,
)


# --- AWS: alarm notifications -----------------------------------------------------------------------


def _alarm_topics(args: StackValidationArgs) -> dict[str, tuple[PolicyResource, PolicyResource]]:
    """Topic URN -> (topic, one alarm publishing to it)."""
    found: dict[str, tuple[PolicyResource, PolicyResource]] = {}
    for alarm in [*of_type(args.resources, ALARM), *of_type(args.resources, COMPOSITE_ALARM)]:
        for topic in _deps(alarm, "alarmActions", "okActions", "insufficientDataActions"):
            if topic.resource_type == TOPIC:
                found.setdefault(topic.urn, (topic, alarm))
    return found


def _key_allows_cloudwatch(key: PolicyResource) -> bool:
    for statement in policy_statements(get(key.props, "policy", default="{}")):
        principals = _listed(get(statement, "Principal", "Service"))
        if CLOUDWATCH in principals and all(_allows(statement, a) for a in CLOUDWATCH_KEY_ACTIONS):
            return True
    return False


def _validate_alarm_topics(args: StackValidationArgs, report: ReportViolation) -> None:
    for topic, alarm in _alarm_topics(args).values():
        keys = [k for k in _deps(topic, "kmsMasterKeyId") if k.resource_type == KMS_KEY]
        if keys:
            for key in keys:
                if not _key_allows_cloudwatch(key):
                    report(
                        f"topic {topic.name} is encrypted with key {key.name}, whose key policy does not let "
                        f"{CLOUDWATCH} use it: alarm {alarm.name} and the others change state and send nothing",
                        topic.urn,
                    )
            continue
        key_id = str(get(topic.props, "kmsMasterKeyId", default="") or "")
        if key_id:
            report(
                f"topic {topic.name} is encrypted with {key_id!r}, a key this stack does not manage (the "
                f"AWS-managed alias/aws/sns cannot allow {CLOUDWATCH}): alarm {alarm.name} and the others "
                "cannot publish to it; encrypt it with a customer-managed key of the stack",
                topic.urn,
            )


alarm_topics_reachable = stack_policy(
    "alarm-topics-reachable",
    "An SNS topic that CloudWatch alarms notify is unencrypted or encrypted with a customer-managed key "
    "whose key policy lets cloudwatch.amazonaws.com use it (AWS SNS developer guide, 'Key management').",
    _validate_alarm_topics,
)


# Route 53 health-check metrics are statistic sets: these are their valid statistics (Route 53
# developer guide, "Metrics and dimensions for Route 53 health checks"). CloudWatch computes no
# percentile from statistic sets, so a pNN alarm on them stays INSUFFICIENT_DATA and never fires.
ROUTE53_STATISTICS = {
    "HealthCheckStatus": ("Minimum", "Maximum", "Average"),
    "HealthCheckPercentageHealthy": ("Average", "Minimum", "Maximum"),
    "TimeToFirstByte": ("Average", "Minimum", "Maximum"),
    "ConnectionTime": ("Average", "Minimum", "Maximum"),
    "SSLHandshakeTime": ("Average", "Minimum", "Maximum"),
    "ChildHealthCheckHealthyCount": ("Average", "Minimum", "Maximum"),
}


def _validate_route53_statistics(args: StackValidationArgs, report: ReportViolation) -> None:
    for alarm in of_type(args.resources, ALARM):
        if get(alarm.props, "namespace") != "AWS/Route53":
            continue
        metric = str(get(alarm.props, "metricName", default=""))
        extended = get(alarm.props, "extendedStatistic")
        statistic = get(alarm.props, "statistic")
        valid = ROUTE53_STATISTICS.get(metric, ("Average", "Minimum", "Maximum"))
        if extended is not None:
            report(
                f"alarm {alarm.name} asks for {extended} of {metric}: Route 53 publishes no percentiles "
                f"({', '.join(valid)} only), so it never leaves INSUFFICIENT_DATA",
                alarm.urn,
            )
        elif statistic not in valid:
            report(f"alarm {alarm.name} uses {statistic!r} of {metric}; Route 53 offers {', '.join(valid)}", alarm.urn)


route53_alarms_evaluable = stack_policy(
    "route53-alarms-evaluable",
    "Alarms on Route 53 health-check metrics use a statistic Route 53 publishes (Average, Minimum, "
    "Maximum; no percentiles), so they can fire (Route 53 developer guide, health-check metrics).",
    _validate_route53_statistics,
)


# --- AWS: replication -------------------------------------------------------------------------------


def _buckets_by_name(args: StackValidationArgs) -> dict[str, PolicyResource]:
    return {str(get(b.props, "bucket")): b for b in of_type(args.resources, BUCKET) if get(b.props, "bucket")}


def _replicated(args: StackValidationArgs) -> Iterable[tuple[PolicyResource, str, str]]:
    """(replication configuration, source bucket name, destination bucket name) per rule."""
    for replication in of_type(args.resources, REPLICATION):
        source = str(get(replication.props, "bucket", default=""))
        for rule in get(replication.props, "rules", default=[]) or []:
            destination = str(get(rule, "destination", "bucket", default=""))
            yield replication, source, destination.removeprefix("arn:aws:s3:::")


def _role_grants(
    args: StackValidationArgs, replication: PolicyResource, source: str
) -> tuple[set[str], UnknownValueError | None]:
    """The Object Lock actions the replication role's known policies grant on the source's objects,
    and the first policy document unknown at preview (it might grant the rest)."""
    roles = {r.urn for r in _deps(replication, "role")}
    granted: set[str] = set()
    unknown: UnknownValueError | None = None
    for policy in of_type(args.resources, ROLE_POLICY):
        if not roles & {r.urn for r in _deps(policy, "role")}:
            continue
        try:
            document = get(policy.props, "policy", default="{}")
        except UnknownValueError as exc:
            unknown = unknown or exc
            continue
        for statement in policy_statements(document):
            resources = _listed(statement.get("Resource"))
            if not any(r in ("*", f"arn:aws:s3:::{source}/*") for r in resources):
                continue
            granted |= {a for a in OBJECT_LOCK_REPLICATION_ACTIONS if _allows(statement, a)}
    return granted, unknown


def _validate_object_lock_replication(args: StackValidationArgs, report: ReportViolation) -> None:
    buckets = _buckets_by_name(args)
    for replication, source, destination in _replicated(args):
        source_bucket = buckets.get(source)
        if source_bucket is None or get(source_bucket.props, "objectLockEnabled") is not True:
            continue
        replica = buckets.get(destination)
        if replica is None or get(replica.props, "objectLockEnabled") is not True:
            report(
                f"{source} uses Object Lock but its replica {destination} does not: S3 fails every copy "
                "(DstBucketObjectLockConfigMissing)",
                replication.urn,
            )
        granted, unknown = _role_grants(args, replication, source)
        missing = sorted(set(OBJECT_LOCK_REPLICATION_ACTIONS) - granted)
        if missing and unknown is not None:
            raise unknown
        if missing:
            report(
                f"the replication role of {source} lacks {', '.join(missing)} on its objects: locked objects "
                "are not replicated",
                replication.urn,
            )


object_locked_replicas = stack_policy(
    "object-locked-replicas",
    "A replica of an Object-Locked bucket has Object Lock, and the replication role may read objects' "
    "retention and legal hold (S3 user guide, 'Using Object Lock with S3 Replication').",
    _validate_object_lock_replication,
)


def _validate_replication_order(args: StackValidationArgs, report: ReportViolation) -> None:
    versionings: dict[str, list[str]] = {}
    for versioning in of_type(args.resources, VERSIONING):
        if get(versioning.props, "versioningConfiguration", "status") == "Enabled":
            versionings.setdefault(str(get(versioning.props, "bucket")), []).append(versioning.urn)
    for replication, source, destination in _replicated(args):
        after = {d.urn for d in replication.dependencies}
        for role, bucket in (("source", source), ("destination", destination)):
            if not after & set(versionings.get(bucket, [])):
                report(
                    f"replication of {source} does not wait for the {role} bucket {bucket}'s versioning: S3 "
                    "refuses the rule until versioning is enabled on both buckets",
                    replication.urn,
                )


replication_after_versioning = stack_policy(
    "replication-after-versioning",
    "S3 replication is configured only after versioning is enabled on its source and destination "
    "buckets (S3 user guide, 'Requirements for replication'; the provider's own example orders them).",
    _validate_replication_order,
)


# --- AWS: public function URLs ----------------------------------------------------------------------


def _validate_public_url_dependants(args: StackValidationArgs, report: ReportViolation) -> None:
    grants: dict[str, dict[str, str]] = {}
    for permission in of_type(args.resources, PERMISSION):
        for granted_to in _deps(permission, "function"):
            action = str(get(permission.props, "action", default=""))
            grants.setdefault(granted_to.urn, {})[action] = permission.urn
    public = {
        url.urn: [f.urn for f in _deps(url, "functionName")]
        for url in of_type(args.resources, FUNCTION_URL)
        if get(url.props, "authorizationType") == "NONE"
    }
    for resource in args.resources:
        after = {d.urn for d in resource.dependencies}
        for dependency in {d.urn for deps in resource.property_dependencies.values() for d in deps} & set(public):
            for function_urn in public[dependency]:
                missing = [a for a in PUBLIC_URL_ACTIONS if grants.get(function_urn, {}).get(a) not in after]
                if missing:
                    report(
                        f"{resource.name} uses a public function URL before the grants {', '.join(missing)} "
                        "exist: a request it makes on creation (e.g. Vercel's endpoint verification) gets 403",
                        resource.urn,
                    )


public_function_url_ready = stack_policy(
    "public-function-url-ready",
    "A resource that uses a public (auth NONE) Lambda function URL waits for both of its public grants, "
    "lambda:InvokeFunctionUrl and lambda:InvokeFunction (AWS Lambda developer guide, function URL access control).",
    _validate_public_url_dependants,
)


def _validate_public_url_concurrency(args: StackValidationArgs, report: ReportViolation) -> None:
    cap = int(config_with_defaults(args, {"maxConcurrency": MAX_PUBLIC_CONCURRENCY})["maxConcurrency"])
    functions = {f.urn: f for f in of_type(args.resources, LAMBDA_FUNCTION)}
    for url in of_type(args.resources, FUNCTION_URL):
        if get(url.props, "authorizationType") != "NONE":
            continue
        targets = [functions[d.urn] for d in _deps(url, "functionName") if d.urn in functions]
        if not targets:
            report(
                "a public function URL whose function is not in this stack: its concurrency cannot be checked", url.urn
            )
        for function in targets:
            reserved = get(function.props, "reservedConcurrentExecutions")
            if reserved is None or int(reserved) < 0:
                report(
                    f"{function.name} serves a public URL with no reserved concurrency: anyone can scale it to "
                    f"the account's limit; reserve at most {cap}",
                    function.urn,
                )
            elif int(reserved) == 0 or int(reserved) > cap:
                report(
                    f"{function.name} serves a public URL with reserved concurrency {int(reserved)}; "
                    f"between 1 and {cap} (0 stops it)",
                    function.urn,
                )


public_function_urls_capped = stack_policy(
    "public-function-urls-capped",
    "A Lambda function behind a public (auth NONE) function URL has reserved concurrency between 1 and the "
    "cap, so unsigned requests cannot scale it to the account's concurrency limit.",
    _validate_public_url_concurrency,
    schema=stack_schema(
        maxConcurrency={
            "type": "integer",
            "default": MAX_PUBLIC_CONCURRENCY,
            "description": "Most reserved concurrency a publicly reachable function may have",
        }
    ),
)

POLICIES = [
    vercel_alert_rules_deployable,
    vercel_variables_replaceable,
    alarm_topics_reachable,
    route53_alarms_evaluable,
    object_locked_replicas,
    replication_after_versioning,
    public_function_url_ready,
    public_function_urls_capped,
]
