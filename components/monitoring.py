"""Monitoring: health checks of every domain, health and latency alarms against the SLOs, the
notification topic, and Vercel's own error-anomaly alerting.

What the platforms cannot do exactly, and the nearest honest setting (README "Monitoring"):
- Route 53 health checks have no configurable timeout: a checker must connect within 4 s and get
  a 2xx/3xx within 2 s more. The spec's 5 s timeout is therefore enforced by the rollback guard
  (`chefchatz rollback watch --timeout 5s`), not by Route 53.
- Route 53 allows request intervals of 10 s or 30 s only (30 s is the spec's) and a failure
  threshold of 1-10 (the spec's 2).
- Latency is Route 53's TimeToFirstByte from its checker regions, a proxy for what users get (it
  includes the network). Route 53 publishes it as statistic sets whose valid statistics are Average,
  Minimum and Maximum (Route 53 developer guide, health-check metrics); CloudWatch cannot compute a
  percentile from them, so a p95/p99 alarm on it would never leave INSUFFICIENT_DATA. The probes'
  average is alarmed at the p95 objective and their maximum at the p99 objective; the exact p95/p99
  of real requests are alarmed from the SLO drain (components/slo.py).
- Route 53 publishes health-check metrics only in us-east-1, so the alarms and their topic live
  there whatever the stack's region.
- CloudWatch can publish to an encrypted topic only when the topic's key is customer managed and its
  key policy lets `cloudwatch.amazonaws.com` use it (AWS SNS developer guide, "Key management":
  compatibility with AWS services); the AWS-managed `alias/aws/sns` key's policy cannot say so, and
  alarms on a topic encrypted with it change state and send nothing. Hence a key of our own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumiverse_vercel as vercel

from components.naming import NamingContext
from components.settings import ROUTE53_INTERVALS

METRICS_REGION = "us-east-1"
CHECKER_REGIONS = ["us-east-1", "us-west-1", "eu-west-1"]
# The statistic of the checkers' time to first byte alarmed at each latency objective (Route 53 offers
# no percentiles): the average against the p95 objective, the slowest probe against the p99 one.
PROBE_LATENCY_STATISTICS = {"p95": "Average", "p99": "Maximum"}
# Vercel's error-anomaly trigger needs a filter naming the status group it watches
# (pulumiverse-vercel AlertRule, "Trigger filters"); 5xx are the app's own failures, the ones the
# error-rate SLO and the rollback trigger count.
ERROR_ANOMALY_FILTER = "statusGroup:5xx"
# What a service that publishes to an encrypted topic must be allowed to do with its key.
TOPIC_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]


def topic_key_policy(account_id: str) -> dict[str, object]:
    """The alerts topic's key: the account administers it (as a default key policy does); CloudWatch
    alarms in this account and region may encrypt what they publish (AWS SNS developer guide, "Key
    management"). Publishers inside the account get the same actions through their own IAM policy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": TOPIC_KEY_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    # Any region: the backup freshness alarms live in the stack's region.
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{account_id}:alarm:*"},
                },
            },
        ],
    }


def route53_interval(interval_s: float) -> int:
    """The Route 53 request interval for the spec's probe interval (10 s or 30 s only)."""
    if interval_s in ROUTE53_INTERVALS:
        return int(interval_s)
    raise ValueError(f"Route 53 health checks probe every 10s or 30s, not {interval_s:g}s")


@dataclass(frozen=True)
class MonitoringArgs:
    naming: NamingContext
    domains: tuple[str, ...]
    health_path: str
    interval_s: float
    unhealthy_threshold: int
    p95_ms: float
    p99_ms: float
    emails: tuple[str, ...]
    team_id: str
    vercel_project_id: pulumi.Input[str]
    # The SLOs no CloudWatch alarm can take as a threshold (apdex, error budget and its window),
    # as tags of the latency alarms that watch the SLOs: the policy pack holds them to the spec.
    slo_tags: tuple[tuple[str, str], ...] = ()


class Monitoring(pulumi.ComponentResource):
    """Route 53 health checks, CloudWatch alarms, an SNS topic and a Vercel anomaly alert rule."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chefchatz:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.naming.tags

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.topic_key = aws.kms.Key(
            f"{name}-alerts-key",
            description=f"Alerts topic of {args.naming.project} {args.naming.stack} (CloudWatch alarms publish)",
            region=METRICS_REGION,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account.apply(lambda a: json.dumps(topic_key_policy(a))),
            tags=tags,
            opts=args.naming.stateful(child),
        )
        self.topic = aws.sns.Topic(
            f"{name}-alerts",
            name=args.naming.name("alerts"),
            region=METRICS_REGION,
            kms_master_key_id=self.topic_key.arn,
            tags=tags,
            opts=child,
        )
        for email in args.emails:
            aws.sns.TopicSubscription(
                f"{name}-alerts-{email.replace('@', '-at-').replace('.', '-')}",
                topic=self.topic.arn,
                region=METRICS_REGION,
                protocol="email",
                endpoint=email,
                opts=child,
            )

        interval = route53_interval(args.interval_s)
        self.health_checks: list[aws.route53.HealthCheck] = []
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        actions = [self.topic.arn]
        for domain in args.domains:
            slug = domain.replace(".", "-")
            check = aws.route53.HealthCheck(
                f"{name}-health-{slug}",
                type="HTTPS",
                fqdn=domain,
                port=443,
                resource_path=args.health_path,
                request_interval=interval,
                failure_threshold=args.unhealthy_threshold,
                measure_latency=True,
                enable_sni=True,
                regions=CHECKER_REGIONS,
                tags={**tags, "Name": f"{domain}{args.health_path}"},
                opts=child,
            )
            self.health_checks.append(check)
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-unhealthy-{slug}",
                    name=args.naming.name(f"unhealthy-{slug}"),
                    region=METRICS_REGION,
                    alarm_description=(
                        f"https://{domain}{args.health_path} failed {args.unhealthy_threshold} probes in a row"
                    ),
                    namespace="AWS/Route53",
                    metric_name="HealthCheckStatus",
                    dimensions={"HealthCheckId": check.id},
                    statistic="Minimum",
                    period=60,
                    evaluation_periods=1,
                    threshold=1,
                    comparison_operator="LessThanThreshold",
                    treat_missing_data="breaching",
                    alarm_actions=actions,
                    ok_actions=actions,
                    tags=tags,
                    opts=child,
                )
            )
            for percentile, threshold in (("p95", args.p95_ms), ("p99", args.p99_ms)):
                self.alarms.append(
                    aws.cloudwatch.MetricAlarm(
                        f"{name}-latency-{percentile}-{slug}",
                        name=args.naming.name(f"latency-{percentile}-{slug}"),
                        region=METRICS_REGION,
                        alarm_description=(
                            f"{PROBE_LATENCY_STATISTICS[percentile].lower()} time to first byte of Route 53's probes "
                            f"of https://{domain}{args.health_path} above the {percentile} objective "
                            f"({threshold:g}ms) for 15 minutes"
                        ),
                        namespace="AWS/Route53",
                        metric_name="TimeToFirstByte",
                        dimensions={"HealthCheckId": check.id},
                        statistic=PROBE_LATENCY_STATISTICS[percentile],
                        period=300,
                        evaluation_periods=3,
                        datapoints_to_alarm=3,
                        threshold=threshold,
                        comparison_operator="GreaterThanThreshold",
                        treat_missing_data="missing",
                        alarm_actions=actions,
                        ok_actions=actions,
                        tags={**tags, **dict(args.slo_tags), "slo-objective": percentile},
                        opts=child,
                    )
                )

        self.anomaly_rule = vercel.AlertRule(
            f"{name}-error-anomalies",
            name=args.naming.name("error-anomalies"),
            team_id=args.team_id,
            type="built-in",
            match_minimum_severity_level="medium",
            rule_scope=vercel.AlertRuleRuleScopeArgs(type="include", project_ids=[args.vercel_project_id]),
            triggers=[vercel.AlertRuleTriggerArgs(type="error_anomaly", filter=ERROR_ANOMALY_FILTER)],
            # Reaches people outside the dashboard: Vercel e-mails (and notifies) the team's owners.
            notification_settings=vercel.AlertRuleNotificationSettingsArgs(enable_team_owner_notifications=True),
            opts=child,
        )

        self.register_outputs({"topicArn": self.topic.arn, "healthCheckIds": [c.id for c in self.health_checks]})
