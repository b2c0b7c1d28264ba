"""The JSON documents of the Backups component: IAM policies, trust policies and the backup task's
container definition. Plain functions of their inputs, tested without an engine (tests/test_components.py)."""

from __future__ import annotations

import json

import pulumi_aws as aws

# CloudWatch namespace of the backup tool's metrics (`ops.backup.metrics`): a contract, do not rename.
METRIC_NAMESPACE = "ChefChatz/Backups"


# The task secret's keys a backup container reads (the restore host reads none: its target is given at run time).
BACKUP_SECRET_KEYS = ("DATABASE_URL", "SOURCE_AWS_ACCESS_KEY_ID", "SOURCE_AWS_SECRET_ACCESS_KEY")


def backup_container(
    image: str,
    stack: str,
    source: tuple[tuple[str, str], ...],
    command: list[str],
    values: list[str],
    secret_keys: tuple[str, ...] = BACKUP_SECRET_KEYS,
) -> str:
    """A backup container: its command, environment, the task secret's `secret_keys` and logs."""
    secret_arn, log_group = values
    secrets = [{"name": key, "valueFrom": f"{secret_arn}:{key}::"} for key in secret_keys]
    return json.dumps(
        [
            {
                "name": "chefchatz",
                "image": image,
                "essential": True,
                "command": command,
                "environment": [
                    # No key prefix: every stack has its own buckets, and the documented
                    # commands (verify, restore, drill) read them without one.
                    {"name": "CHEFCHATZ_STACK", "value": stack},
                    *({"name": key, "value": value} for key, value in source),
                ],
                # Omitted when empty: ECS drops an empty list, which would show as a change on every plan.
                **({"secrets": secrets} if secrets else {}),
                "readonlyRootFilesystem": False,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-region": aws.config.region or "us-east-1",
                        "awslogs-stream-prefix": "backup",
                    },
                },
            }
        ]
    )


def assume_role(service: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def github_trust_policy(provider_arn: str, subjects: list[str]) -> dict[str, object]:
    """Trust GitHub's OIDC tokens for exactly these subjects (repository + environment), nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": subjects,
                    }
                },
            }
        ],
    }


def tls_only_policy(bucket_name: str) -> dict[str, object]:
    """Deny any request without TLS, and TLS older than 1.2."""
    resources = [f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyTlsBelow12",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
            },
        ],
    }


def pipeline_policy(
    bucket_names: list[str], key_arn: str, alerts_topic_arn: str | None = None, alerts_key_arn: str | None = None
) -> dict[str, object]:
    """The deploy job's role: the backup task's rights, reading the SLO metrics for ``rollout watch`` and
    ``rollback watch --source metrics`` (GetMetricData has no resource-level permissions, hence "*"), and
    publishing the guards' notifications to the alerts topic (whose subscribers are the stack's email
    targets). A publisher to an encrypted topic needs its key too (AWS SNS developer guide, "Key
    management": kms:GenerateDataKey* and kms:Decrypt)."""
    policy = task_policy(bucket_names, key_arn)
    statements = policy["Statement"]
    assert isinstance(statements, list)
    read = {"Sid": "ReadSloMetrics", "Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"}
    publish = (
        [
            {
                "Sid": "PublishRollbackNotifications",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": alerts_topic_arn,
            },
            *(
                [
                    {
                        "Sid": "EncryptRollbackNotifications",
                        "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                        "Resource": alerts_key_arn,
                    }
                ]
                if alerts_key_arn
                else []
            ),
        ]
        if alerts_topic_arn
        else []
    )
    return {**policy, "Statement": [*statements, read, *publish]}


# The backup and drill metrics, in their namespace only.
PUBLISH_METRICS: dict[str, object] = {
    "Sid": "PublishBackupMetrics",
    "Effect": "Allow",
    "Action": "cloudwatch:PutMetricData",
    "Resource": "*",
    "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
}


def restore_policy(bucket_names: list[str], key_arns: list[str]) -> dict[str, object]:
    """Read backups (every version, with their locks) and decrypt them: nothing else."""
    return {"Version": "2012-10-17", "Statement": _read_backups(bucket_names, key_arns)}


def restore_task_policy(bucket_names: list[str], key_arns: list[str]) -> dict[str, object]:
    """The restore/drill task: read and decrypt backups as the restore role may, and publish the
    drill's metrics; it writes no backup."""
    return {"Version": "2012-10-17", "Statement": [*_read_backups(bucket_names, key_arns), PUBLISH_METRICS]}


def _read_backups(bucket_names: list[str], key_arns: list[str]) -> list[dict[str, object]]:
    return [
        {
            "Sid": "ReadBackups",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectLegalHold"],
            "Resource": [f"arn:aws:s3:::{b}/*" for b in bucket_names],
        },
        {
            "Sid": "ListBackups",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": [f"arn:aws:s3:::{b}" for b in bucket_names],
        },
        {"Sid": "DecryptBackups", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arns},
    ]


def task_policy(bucket_names: list[str], key_arn: str) -> dict[str, object]:
    """Least privilege for the backup task: write and read backups, never delete them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteAndVerifyBackups",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                "Resource": [f"arn:aws:s3:::{b}/*" for b in bucket_names],
            },
            {
                "Sid": "ListBackups",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{b}" for b in bucket_names],
            },
            {
                "Sid": "EncryptBackups",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"],
                "Resource": key_arn,
            },
            PUBLISH_METRICS,
        ],
    }


# What S3 replication needs to read on the source objects; the last two are needed only because the
# source uses Object Lock, whose retention and legal hold travel with each copy (S3 user guide, "Using
# Object Lock with S3 Replication").
REPLICATION_SOURCE_ACTIONS = [
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
]


def replication_key_document(key_arns: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arns[0]},
                {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key_arns[1]},
            ],
        }
    )


def replication_policy(source: str, replica: str) -> dict[str, object]:
    """The replication role's S3 rights: read the source's object versions (with their locks), write
    the replica."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{source}",
            },
            {
                "Effect": "Allow",
                "Action": REPLICATION_SOURCE_ACTIONS,
                "Resource": f"arn:aws:s3:::{source}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
                "Resource": f"arn:aws:s3:::{replica}/*",
            },
        ],
    }
