"""The Backups component's alarms: backup freshness (the RPO monitor) and restore capacity (the RTO
monitor as the database grows). The windows are pure functions of the plan, tested as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.backup_documents import METRIC_NAMESPACE

if TYPE_CHECKING:
    from components.backups import BackupKind, BackupsArgs

# A backup run itself takes time; the freshness alarm allows this much beyond the frequency.
FRESHNESS_SLACK_S = 3600
# The alarm compares a weekly drill with the database's size: one window of a week (CloudWatch's
# longest) holds one drill, the largest size the backups saw and the smallest capacity a drill stated.
CAPACITY_WINDOW_S = 7 * 86400
# The database's size as a percentage of the largest database the drill restored within its budget.
CAPACITY_EXPRESSION = "100 * m_size / m_capacity"


def freshness_window(frequency_s: float) -> tuple[int, int]:
    """(period, evaluation periods) of the freshness alarm: alarm when no backup succeeded within
    frequency + slack. Hourly periods keep each period within CloudWatch's limits."""
    hours = int(-(-(frequency_s + FRESHNESS_SLACK_S) // 3600))
    return 3600, hours


def freshness_alarm(
    name: str, args: BackupsArgs, spec: BackupKind, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """Alarm when no backup of `spec.kind` succeeded within its frequency plus slack (the RPO monitor)."""
    period, periods = freshness_window(spec.frequency_s)
    actions = [args.alarm_topic_arn] if args.alarm_topic_arn is not None else []
    return aws.cloudwatch.MetricAlarm(
        f"{name}-{spec.kind}-freshness",
        name=args.naming.name(f"{spec.kind}-backup-stale"),
        alarm_description=(
            f"No successful {spec.kind} backup for {periods}h (frequency "
            f"{int(spec.frequency_s // 3600)}h + 1h slack): the RPO is at risk. Runbook: docs/restore.md"
        ),
        namespace=METRIC_NAMESPACE,
        metric_name="BackupSucceeded",
        dimensions={"Stack": args.naming.stack, "Kind": spec.kind},
        statistic="Sum",
        period=period,
        evaluation_periods=periods,
        datapoints_to_alarm=periods,
        threshold=1,
        comparison_operator="LessThanThreshold",
        # No data means no backup: that is exactly what must alarm.
        treat_missing_data="breaching",
        alarm_actions=actions,
        ok_actions=actions,
        tags=args.naming.tags,
        opts=opts,
    )


def capacity_alarm(
    name: str, args: BackupsArgs, percent: int, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """Alarm when the database passes `percent` of the largest database the last drill restored within its
    budget: act (a bigger restore host) before an incident finds the RTO too short."""
    actions = [args.alarm_topic_arn] if args.alarm_topic_arn is not None else []
    dimensions = {"Stack": args.naming.stack}

    def metric(query_id: str, metric_name: str, stat: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=METRIC_NAMESPACE,
                metric_name=metric_name,
                dimensions=dimensions,
                period=CAPACITY_WINDOW_S,
                stat=stat,
            ),
        )

    return aws.cloudwatch.MetricAlarm(
        f"{name}-restore-capacity",
        name=args.naming.name("restore-capacity"),
        alarm_description=(
            f"The database passed {percent}% of the largest database the last restore drill brought back "
            "within its budget (RestoreDrillMaxDatabaseBytes): the RTO is at risk as it grows. Act now: a "
            "bigger restore host (restoreTaskCpu), see docs/disaster-recovery.md"
        ),
        metric_queries=[
            metric("m_size", "DatabaseSizeBytes", "Maximum"),
            metric("m_capacity", "RestoreDrillMaxDatabaseBytes", "Minimum"),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="used",
                expression=CAPACITY_EXPRESSION,
                label="database size, % of the drill's restore capacity",
                return_data=True,
            ),
        ],
        evaluation_periods=1,
        threshold=percent,
        comparison_operator="GreaterThanThreshold",
        # A week without a drill states no capacity: that is not a breach of it (the sign-off's
        # 7-day drill evidence covers a missing drill).
        treat_missing_data="missing",
        alarm_actions=actions,
        ok_actions=actions,
        tags=args.naming.tags,
        opts=opts,
    )
