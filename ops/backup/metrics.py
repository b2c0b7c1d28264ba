"""The CloudWatch metrics the backup tool publishes (a contract with the alarms in `components/backups.py`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.backup.aws import cloudwatch_client, translate_aws_error

__all__ = [
    "METRIC_BACKUP_SUCCEEDED",
    "METRIC_DATABASE_BYTES",
    "METRIC_DRILL_MAX_DATABASE_BYTES",
    "METRIC_DRILL_SECONDS",
    "METRIC_DRILL_SUCCEEDED",
    "METRIC_DRILL_THROUGHPUT",
    "METRIC_NAMESPACE",
    "publish_metric",
]


METRIC_NAMESPACE = "ChefChatz/Backups"
"""CloudWatch namespace. A contract with the freshness alarm in the Backups component: do not rename."""
METRIC_BACKUP_SUCCEEDED = "BackupSucceeded"
METRIC_DRILL_SECONDS = "RestoreDrillSeconds"
METRIC_DRILL_SUCCEEDED = "RestoreDrillSucceeded"
# The drill's scale statement: bytes of database restored per second, and the largest database that
# rate brings back within the restore budget; the backup publishes the database's own size beside it.
METRIC_DRILL_THROUGHPUT = "RestoreDrillThroughput"
METRIC_DRILL_MAX_DATABASE_BYTES = "RestoreDrillMaxDatabaseBytes"
METRIC_DATABASE_BYTES = "DatabaseSizeBytes"


def publish_metric(
    cloudwatch: Any, name: str, value: float, dimensions: dict[str, str], unit: str = "Count"
) -> str | None:
    """Publish one data point; return a warning instead of raising (a metric never fails a backup).

    `cloudwatch=None` creates the client here, inside the guard: a missing region is a warning too.
    """
    try:
        if cloudwatch is None:
            cloudwatch = cloudwatch_client()
        cloudwatch.put_metric_data(
            Namespace=METRIC_NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Value": value,
                    "Unit": unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                }
            ],
        )
    except (ClientError, BotoCoreError) as exc:
        return f"could not publish metric {METRIC_NAMESPACE}/{name}: {translate_aws_error(exc, 'CloudWatch')}"
    return None
