"""Backups: off-site storage, schedules and freshness alarms for one stack's database and assets.

How the spec's promises are met (README "Backups and disaster recovery"):
- "database every 6h, kept 30d, incremental": Supabase point-in-time recovery (continuous WAL
  archiving, the incremental part) plus a full logical dump every 6h to S3, off-site and kept 30d;
- "assets every 24h, kept 90d, full": a full copy of the Supabase Storage bucket every 24h (Supabase
  itself does not back up Storage objects);
- RPO 1h: only point-in-time recovery gets there; a 6-hourly dump alone could lose 6h. The `pitr`
  tag states which mechanism the stack relies on and the `rpo-achievable` policy checks it;
  `chefchatz backup verify --supabase-project-ref` confirms PITR is really on.
- RTO 15m: measured by `chefchatz drill` (restore into a scratch database, timed, published).

The schedules run the `chefchatz` tool as a Fargate task; the task role may write and read backups
but never delete them (and production buckets are Object Locked, so not even an admin can).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.backup_alarms import capacity_alarm, freshness_alarm
from components.backup_documents import (
    assume_role,
    backup_container,
    github_trust_policy,
    pipeline_policy,
    replication_key_document,
    replication_policy,
    restore_policy,
    restore_task_policy,
    task_policy,
    tls_only_policy,
)
from components.naming import NamingContext

KINDS = ("database", "assets")


def schedule_expression(frequency_s: float) -> str:
    """EventBridge Scheduler expression for a backup frequency, aligned to the clock.

    Sub-hour frequencies use rate(); hourly steps that divide a day use cron at fixed UTC hours
    (so "every 6h" means 00:00, 06:00, 12:00, 18:00 and the RPO is predictable); a day runs at
    03:00 UTC; whole multiples of a day use rate(N days).
    """
    seconds = int(frequency_s)
    if seconds <= 0 or seconds != frequency_s:
        raise ValueError(f"backup frequency must be a positive whole number of seconds, got {frequency_s!r}")
    if seconds < 3600:
        if seconds % 60:
            raise ValueError(f"backup frequency {seconds}s is not a whole number of minutes")
        return f"rate({seconds // 60} minutes)"
    if seconds % 3600:
        raise ValueError(f"backup frequency {seconds}s is not a whole number of hours")
    hours = seconds // 3600
    if hours < 24:
        if 24 % hours:
            raise ValueError(f"backup frequency {hours}h does not divide a day; use 1, 2, 3, 4, 6, 8 or 12h")
        return "cron(0 * * * ? *)" if hours == 1 else f"cron(0 */{hours} * * ? *)"
    if hours % 24:
        raise ValueError(f"backup frequency {hours}h is more than a day but not whole days")
    days = hours // 24
    return "cron(0 3 * * ? *)" if days == 1 else f"rate({days} days)"


@dataclass(frozen=True)
class BackupKind:
    kind: str
    frequency_s: float
    retention_days: int
    # incremental | full: what a restore can rely on (tagged on the bucket for the policy pack).
    type: str = "full"


@dataclass(frozen=True)
class RestoreHost:
    """Size of the restore/drill task (Fargate): `pg_restore --jobs` uses every vCPU; the ephemeral
    storage holds the decompressed dump (about the database's size). README, "Restore host sizes"."""

    cpu: int
    memory_mib: int
    storage_gib: int


@dataclass(frozen=True)
class BackupsArgs:
    naming: NamingContext
    database: BackupKind
    assets: BackupKind
    is_production: bool
    point_in_time_recovery: bool
    replica_region: str
    image: str
    # The region of the primary buckets (the provider's); stated on them so a policy can compare
    # it with the replica's.
    primary_region: str
    database_url: pulumi.Input[str]
    # The name of the database these backups hold (the spec's environment interface), on the task's tags.
    database_name: str
    storage_endpoint: str
    # The region Storage's S3 endpoint expects signatures for: the Supabase project's.
    storage_region: str
    storage_bucket: str
    storage_access_key_id: pulumi.Input[str]
    storage_secret_access_key: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str] | None = None
    # The topic's own key: publishing to an encrypted topic needs it (the deploy job notifies there).
    alarm_topic_key_arn: pulumi.Input[str] | None = None
    # GitHub Actions jobs (OIDC subjects, e.g. repo:chefchatz/chefchatz:environment:production) that
    # take a pre-migration backup with the pipeline role; empty: no pipeline role.
    github_subjects: tuple[str, ...] = ()
    create_oidc_provider: bool = False
    # The disaster-recovery objectives these backups serve (dr-rpo, dr-rto, failover modes), as
    # tags of the database bucket: the policy pack holds them to the spec's floors there.
    recovery_tags: tuple[tuple[str, str], ...] = ()
    # The restore/drill task's size, and the restore-capacity alarm's threshold (% of the largest
    # database the last drill restored within its budget); both from stack config.
    restore_task: RestoreHost | None = None
    capacity_alarm_percent: int | None = None


class Backups(pulumi.ComponentResource):
    """Buckets, KMS, the backup task, its schedules and the freshness alarms."""

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chefchatz:backups:Backups", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        naming = args.naming
        tags = naming.tags

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Backups of {naming.project} {naming.stack}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=args.naming.stateful(child),
        )
        self.buckets: dict[str, aws.s3.Bucket] = {}
        self.versionings: dict[str, aws.s3.BucketVersioning] = {}
        for spec in (args.database, args.assets):
            self.buckets[spec.kind] = self._bucket(spec, child)

        if args.is_production:
            self._replicas(child)

        self._task(child)
        self._restore_role(child)
        self.pipeline_role: aws.iam.Role | None = None
        if args.github_subjects:
            self._pipeline_role(child)
        self.alarms = [freshness_alarm(name, args, spec, child) for spec in (args.database, args.assets)]
        if args.capacity_alarm_percent is not None:
            self.alarms.append(capacity_alarm(name, args, args.capacity_alarm_percent, child))

        self.register_outputs(
            {
                "databaseBucket": self.buckets["database"].bucket,
                "assetsBucket": self.buckets["assets"].bucket,
                "taskRoleArn": self.task_role.arn,
                "restoreRoleArn": self.restore_role.arn,
                "pipelineRoleArn": self.pipeline_role.arn if self.pipeline_role else None,
            }
        )

    # --- storage -------------------------------------------------------------------------------

    def _bucket(self, spec: BackupKind, child: pulumi.ResourceOptions) -> aws.s3.Bucket:
        name, args = self._name, self._args
        bucket_name = args.naming.name(f"{spec.kind}-backups")
        plan_tags = {
            "backup-kind": spec.kind,
            "backup-frequency": f"{int(spec.frequency_s // 3600)}h",
            "backup-retention": f"{spec.retention_days}d",
            "backup-type": spec.type,
        }
        if spec.kind == "database":
            plan_tags["pitr"] = "enabled" if args.point_in_time_recovery else "disabled"
            plan_tags.update(dict(args.recovery_tags))
        bucket = aws.s3.Bucket(
            f"{name}-{spec.kind}-bucket",
            bucket=bucket_name,
            region=args.primary_region,
            object_lock_enabled=args.is_production,
            force_destroy=False,
            tags={**args.naming.tags, **plan_tags},
            opts=args.naming.stateful(child),
        )
        self.versionings[spec.kind] = self._harden(f"{name}-{spec.kind}", bucket_name, bucket, self.key.arn)
        self._lifecycle(f"{name}-{spec.kind}", bucket_name, bucket, spec.retention_days)
        if args.is_production:
            self._object_lock(f"{name}-{spec.kind}", bucket_name, bucket, spec.retention_days)
        return bucket

    def _object_lock(
        self, prefix: str, bucket_name: str, bucket: aws.s3.Bucket, days: int, region: str | None = None
    ) -> None:
        aws.s3.BucketObjectLockConfiguration(
            f"{prefix}-object-lock",
            bucket=bucket_name,
            region=region,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    # COMPLIANCE: nobody, root included, can delete a backup before it expires.
                    mode="COMPLIANCE",
                    days=days,
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket]),
        )

    def _lifecycle(
        self, prefix: str, bucket_name: str, bucket: aws.s3.Bucket, days: int, region: str | None = None
    ) -> None:
        """Expire backups after the retention; an overwritten or deleted backup stays recoverable for
        a whole retention period too; abandoned multipart uploads go after a day."""
        rule = aws.s3.BucketLifecycleConfigurationRuleArgs
        aws.s3.BucketLifecycleConfiguration(
            f"{prefix}-lifecycle",
            bucket=bucket_name,
            region=region,
            rules=[
                rule(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket]),
        )

    def _harden(
        self,
        prefix: str,
        bucket_name: str,
        bucket: aws.s3.Bucket,
        key_arn: pulumi.Input[str],
        region: str | None = None,
    ) -> aws.s3.BucketVersioning:
        after = pulumi.ResourceOptions(parent=self, depends_on=[bucket])
        versioning = aws.s3.BucketVersioning(
            f"{prefix}-versioning",
            bucket=bucket_name,
            region=region,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=after,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-encryption",
            bucket=bucket_name,
            region=region,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=after,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access-block",
            bucket=bucket_name,
            region=region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=after,
        )
        aws.s3.BucketOwnershipControls(
            f"{prefix}-ownership",
            bucket=bucket_name,
            region=region,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=after,
        )
        aws.s3.BucketPolicy(
            f"{prefix}-tls-only",
            bucket=bucket_name,
            region=region,
            policy=json.dumps(tls_only_policy(bucket_name)),
            opts=after,
        )
        return versioning

    def _replicas(self, child: pulumi.ResourceOptions) -> None:
        name, args = self._name, self._args
        region = args.replica_region
        self.replica_key = aws.kms.Key(
            f"{name}-replica-key",
            description=f"Backup replicas of {args.naming.project} {args.naming.stack}",
            region=region,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=args.naming.tags,
            opts=args.naming.stateful(child),
        )
        role = aws.iam.Role(
            f"{name}-replication-role",
            assume_role_policy=json.dumps(assume_role("s3.amazonaws.com")),
            tags=args.naming.tags,
            opts=child,
        )
        self.replicas: dict[str, aws.s3.Bucket] = {}
        for kind, source in self.buckets.items():
            spec = args.database if kind == "database" else args.assets
            replica_name = args.naming.name(f"{kind}-backups-replica")
            # S3 replicates Object-Locked objects only into a bucket with Object Lock enabled (S3 user
            # guide, "Using Object Lock with S3 Replication"; otherwise every copy fails with
            # DstBucketObjectLockConfigMissing). The replica keeps the primary's retention too.
            replica = aws.s3.Bucket(
                f"{name}-{kind}-replica-bucket",
                bucket=replica_name,
                region=region,
                object_lock_enabled=True,
                force_destroy=False,
                tags={**args.naming.tags, "backup-replica-of": kind},
                opts=args.naming.stateful(child),
            )
            replica_versioning = self._harden(
                f"{name}-{kind}-replica", replica_name, replica, self.replica_key.arn, region
            )
            self._lifecycle(f"{name}-{kind}-replica", replica_name, replica, spec.retention_days, region)
            self._object_lock(f"{name}-{kind}-replica", replica_name, replica, spec.retention_days, region)
            source_name = args.naming.name(f"{kind}-backups")
            # Two documents: the S3 rights are known before the first deployment (a policy checks them
            # then); the key rights name keys that do not exist yet.
            s3_rights = aws.iam.RolePolicy(
                f"{name}-{kind}-replication-policy",
                role=role.id,
                policy=json.dumps(replication_policy(source_name, replica_name)),
                opts=child,
            )
            key_rights = aws.iam.RolePolicy(
                f"{name}-{kind}-replication-keys",
                role=role.id,
                policy=pulumi.Output.all(self.key.arn, self.replica_key.arn).apply(replication_key_document),
                opts=child,
            )
            aws.s3.BucketReplicationConfig(
                f"{name}-{kind}-replication",
                bucket=source_name,
                role=role.arn,
                rules=[
                    aws.s3.BucketReplicationConfigRuleArgs(
                        id="region-failover",
                        status="Enabled",
                        filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                        delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                            status="Disabled"
                        ),
                        source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                            sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                                status="Enabled"
                            )
                        ),
                        destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                            bucket=f"arn:aws:s3:::{replica_name}",
                            storage_class="STANDARD_IA",
                            encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                                replica_kms_key_id=self.replica_key.arn
                            ),
                        ),
                    )
                ],
                # S3 refuses a replication rule while either bucket's versioning is not yet enabled
                # ("Destination bucket must have versioning enabled"), and copies fail without the rights.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[source, replica, self.versionings[kind], replica_versioning, s3_rights, key_rights],
                ),
            )
            self.replicas[kind] = replica

    # --- the backup task and its schedules --------------------------------------------------------

    def _task(self, child: pulumi.ResourceOptions) -> None:
        name, args = self._name, self._args
        naming = args.naming
        tags = naming.tags

        # A small network of its own: public subnets (no NAT to pay for), egress only.
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block="10.42.0.0/24", enable_dns_hostnames=True, tags=tags, opts=child
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags, opts=child)
        routes = aws.ec2.RouteTable(
            f"{name}-routes",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags=tags,
            opts=child,
        )
        self.subnets = []
        for index, zone_suffix in enumerate(("a", "b")):
            subnet = aws.ec2.Subnet(
                f"{name}-subnet-{zone_suffix}",
                vpc_id=self.vpc.id,
                cidr_block=f"10.42.0.{index * 128}/25",
                availability_zone=f"{aws.config.region or 'us-east-1'}{zone_suffix}",
                tags=tags,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-subnet-{zone_suffix}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            self.subnets.append(subnet)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            vpc_id=self.vpc.id,
            description="Backup task: outbound HTTPS (S3, Supabase Storage) and Postgres only",
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"]),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=["0.0.0.0/0"]
                ),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=6543, to_port=6543, cidr_blocks=["0.0.0.0/0"]
                ),
            ],
            tags=tags,
            opts=child,
        )

        self.secret = aws.secretsmanager.Secret(
            f"{name}-task-secrets",
            name=naming.name("backup-task-secrets"),
            kms_key_id=self.key.arn,
            recovery_window_in_days=7,
            tags=tags,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-task-secrets-value",
            secret_id=self.secret.id,
            secret_string=pulumi.Output.json_dumps(
                {
                    "DATABASE_URL": args.database_url,
                    "SOURCE_AWS_ACCESS_KEY_ID": args.storage_access_key_id,
                    "SOURCE_AWS_SECRET_ACCESS_KEY": args.storage_secret_access_key,
                }
            ),
            opts=child,
        )

        self.task_role = aws.iam.Role(
            f"{name}-task-role",
            assume_role_policy=json.dumps(assume_role("ecs-tasks.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        bucket_names = [naming.name(f"{kind}-backups") for kind in KINDS]
        aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=self.task_role.id,
            policy=self.key.arn.apply(lambda key: json.dumps(task_policy(bucket_names, key))),
            opts=child,
        )
        execution_role = aws.iam.Role(
            f"{name}-execution-role",
            assume_role_policy=json.dumps(assume_role("ecs-tasks.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-role-ecs",
            role=execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-secrets",
            role=execution_role.id,
            policy=pulumi.Output.all(self.secret.arn, self.key.arn).apply(
                lambda arns: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arns[0]},
                            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": arns[1]},
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-task-logs", name=f"/chefchatz/{naming.stack}/backups", retention_in_days=90, tags=tags, opts=child
        )
        self.cluster = aws.ecs.Cluster(f"{name}-cluster", name=naming.name("backups"), tags=tags, opts=child)
        # One task definition per kind, its command in it. EventBridge Scheduler's ECS target has no
        # overrides (Scheduler API `EcsParameters`) and documents no reading of `Input` as RunTask
        # overrides: a shared definition run with "overrides" in `Input` could run its default command
        # and exit 0 without a backup. With no command of its own the tool prints help and exits 2.
        commands = {
            "database": ["backup", "db", "--bucket", bucket_names[0], "--json"],
            "assets": [
                "backup",
                "assets",
                "--bucket",
                bucket_names[1],
                "--source-bucket",
                args.storage_bucket,
                "--json",
            ],
        }
        # Each kind reads only the secrets its command uses (least privilege): the database backup the
        # database URL, the assets backup Storage's S3 keys.
        secret_keys = {
            "database": ("DATABASE_URL",),
            "assets": ("SOURCE_AWS_ACCESS_KEY_ID", "SOURCE_AWS_SECRET_ACCESS_KEY"),
        }
        self.tasks: dict[str, aws.ecs.TaskDefinition] = {}
        for kind in KINDS:
            container = pulumi.Output.all(self.secret.arn, self.log_group.name).apply(
                functools.partial(
                    backup_container,
                    args.image,
                    naming.stack,
                    (("SOURCE_S3_ENDPOINT", args.storage_endpoint), ("SOURCE_S3_REGION", args.storage_region)),
                    commands[kind],
                    secret_keys=secret_keys[kind],
                )
            )
            self.tasks[kind] = aws.ecs.TaskDefinition(
                f"{name}-{kind}-task",
                family=naming.name(f"backup-{kind}"),
                requires_compatibilities=["FARGATE"],
                network_mode="awsvpc",
                cpu="1024",
                memory="2048",
                # Dumps stream through memory; the disk only holds the image.
                ephemeral_storage=aws.ecs.TaskDefinitionEphemeralStorageArgs(size_in_gib=21),
                task_role_arn=self.task_role.arn,
                execution_role_arn=execution_role.arn,
                container_definitions=container,
                # The container definitions are unknown until the secret exists; the image is known
                # now, and a tag lets the policy pack check it is pinned by digest before deploying.
                # The source is also named where a preview can see it: the command is inside the container
                # definitions, unknown until the secret exists.
                tags={
                    **tags,
                    "backup-image": args.image,
                    "backup-kind": kind,
                    "backup-source": (
                        f"database:{args.database_name}"
                        if kind == "database"
                        else f"storage:{args.storage_bucket}@{args.storage_region}"
                    ),
                },
                opts=child,
            )

        if args.restore_task is not None:
            self._restore_task(args.restore_task, bucket_names[0], execution_role, child)

        scheduler_role = aws.iam.Role(
            f"{name}-scheduler-role",
            assume_role_policy=json.dumps(assume_role("scheduler.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=scheduler_role.id,
            policy=pulumi.Output.all(
                self.tasks["database"].arn_without_revision,
                self.tasks["assets"].arn_without_revision,
                self.task_role.arn,
                execution_role.arn,
            ).apply(
                lambda values: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "ecs:RunTask",
                                "Resource": [f"{values[0]}:*", f"{values[1]}:*"],
                            },
                            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": [values[2], values[3]]},
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.schedules = []
        for spec in (args.database, args.assets):
            self.schedules.append(
                aws.scheduler.Schedule(
                    f"{name}-{spec.kind}-schedule",
                    name=naming.name(f"backup-{spec.kind}"),
                    description=f"chefchatz backup {spec.kind} every {int(spec.frequency_s // 3600)}h",
                    schedule_expression=schedule_expression(spec.frequency_s),
                    schedule_expression_timezone="UTC",
                    state="ENABLED",
                    flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                    target=aws.scheduler.ScheduleTargetArgs(
                        arn=self.cluster.arn,
                        role_arn=scheduler_role.arn,
                        ecs_parameters=aws.scheduler.ScheduleTargetEcsParametersArgs(
                            task_definition_arn=self.tasks[spec.kind].arn,
                            launch_type="FARGATE",
                            task_count=1,
                            network_configuration=aws.scheduler.ScheduleTargetEcsParametersNetworkConfigurationArgs(
                                subnets=[s.id for s in self.subnets],
                                security_groups=[self.security_group.id],
                                assign_public_ip=True,
                            ),
                        ),
                        retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                            maximum_retry_attempts=2, maximum_event_age_in_seconds=3600
                        ),
                    ),
                    opts=child,
                )
            )

    def _restore_task(
        self, host: RestoreHost, bucket_name: str, execution_role: aws.iam.Role, child: pulumi.ResourceOptions
    ) -> None:
        """The restore host: run on demand (`aws ecs run-task` with a command override, docs/restore.md) for
        `chefchatz restore db` or `chefchatz drill`; never scheduled. Its size is stack config.

        No secrets: its target (`--target-url`, `--scratch-url`, PGPASSWORD) is given with the run, so
        it never holds the production database's URL nor Storage's keys (least privilege). Its role
        reads and decrypts backups (the replicas too, for a failover) and publishes the drill's
        metrics; unlike the backup task's, it cannot write to the buckets."""
        name, args = self._name, self._args
        task_role = aws.iam.Role(
            f"{name}-restore-task-role",
            assume_role_policy=json.dumps(assume_role("ecs-tasks.amazonaws.com")),
            tags=args.naming.tags,
            opts=child,
        )
        buckets, keys = self._readable_backups()
        aws.iam.RolePolicy(
            f"{name}-restore-task-policy",
            role=task_role.id,
            policy=pulumi.Output.all(*keys).apply(lambda arns: json.dumps(restore_task_policy(buckets, arns))),
            opts=child,
        )
        container = pulumi.Output.all(self.secret.arn, self.log_group.name).apply(
            lambda values: backup_container(
                args.image,
                args.naming.stack,
                (),
                # Without an override it only lists the backups it could restore.
                ["backup", "list", "--bucket", bucket_name, "--kind", "db", "--json"],
                values,
                secret_keys=(),
            )
        )
        self.restore_task = aws.ecs.TaskDefinition(
            f"{name}-restore-task",
            family=args.naming.name("backup-restore"),
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(host.cpu),
            memory=str(host.memory_mib),
            # The restore's scratch directory holds the decompressed dump.
            ephemeral_storage=aws.ecs.TaskDefinitionEphemeralStorageArgs(size_in_gib=host.storage_gib),
            task_role_arn=task_role.arn,
            execution_role_arn=execution_role.arn,
            container_definitions=container,
            tags={
                **args.naming.tags,
                "backup-image": args.image,
                "restore-host": f"{host.cpu}cpu-{host.memory_mib}mib-{host.storage_gib}gib",
            },
            opts=child,
        )

    def _readable_backups(self) -> tuple[list[str], list[pulumi.Input[str]]]:
        """The buckets a restore reads (the replicas too in production) and the keys it decrypts with."""
        args = self._args
        buckets = [args.naming.name(f"{kind}-backups") for kind in KINDS]
        if args.is_production:
            buckets += [args.naming.name(f"{kind}-backups-replica") for kind in KINDS]
        keys: list[pulumi.Input[str]] = [self.key.arn]
        if args.is_production:
            keys.append(self.replica_key.arn)
        return buckets, keys

    def _restore_role(self, child: pulumi.ResourceOptions) -> None:
        """The role an operator assumes to verify and restore backups, the replicas too.

        It must exist before an incident: during a region failover the replicas are the only copy,
        the task's and the deploy job's roles cannot read them, and the replica key's default policy
        leaves access to IAM (KMS developer guide, "Default key policy"). Trusted by the account, so
        whoever its administrators allow to assume it (an on-call SSO role) can; read-only.
        """
        name, args = self._name, self._args
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.restore_role = aws.iam.Role(
            f"{name}-restore-role",
            description="Assumed by on-call to verify and restore backups, the cross-region replicas included",
            max_session_duration=3600,
            assume_role_policy=account.apply(
                lambda a: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{a}:root"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                )
            ),
            tags=args.naming.tags,
            opts=child,
        )
        buckets, keys = self._readable_backups()
        aws.iam.RolePolicy(
            f"{name}-restore-policy",
            role=self.restore_role.id,
            policy=pulumi.Output.all(*keys).apply(lambda arns: json.dumps(restore_policy(buckets, arns))),
            opts=child,
        )

    def _pipeline_role(self, child: pulumi.ResourceOptions) -> None:
        """The role the app's deploy job assumes (OIDC, no stored keys) for its pre-migration backup."""
        name, args = self._name, self._args
        issuer = "token.actions.githubusercontent.com"
        if args.create_oidc_provider:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=f"https://{issuer}",
                client_id_lists=["sts.amazonaws.com"],
                tags=args.naming.tags,
                opts=child,
            )
            provider_arn: pulumi.Input[str] = provider.arn
        else:
            account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
            provider_arn = account.apply(lambda a: f"arn:aws:iam::{a}:oidc-provider/{issuer}")
        subjects = list(args.github_subjects)
        self.pipeline_role = aws.iam.Role(
            f"{name}-pipeline-role",
            description="Assumed by the app's deploy jobs (GitHub OIDC) to take pre-migration backups",
            max_session_duration=3600,
            assume_role_policy=pulumi.Output.from_input(provider_arn).apply(
                lambda arn: json.dumps(github_trust_policy(arn, subjects))
            ),
            tags=args.naming.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-pipeline-policy",
            role=self.pipeline_role.id,
            policy=pulumi.Output.all(self.key.arn, args.alarm_topic_arn or "", args.alarm_topic_key_arn or "").apply(
                lambda values: json.dumps(
                    pipeline_policy(
                        [args.naming.name("database-backups")], values[0], values[1] or None, values[2] or None
                    )
                )
            ),
            opts=child,
        )
