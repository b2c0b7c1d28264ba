"""Components under Pulumi's mocks, and the pure functions that decide what they create."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from components import backup_documents
from components.backup_alarms import freshness_window
from components.backups import BackupKind, Backups, BackupsArgs, RestoreHost, schedule_expression
from components.environment import (
    REQUIRED_VARIABLES,
    Environment,
    approval_teams,
    deploy_refs,
    deployment_variables,
    pipeline_variables,
    recovery_tags,
    slo_tags,
)
from components.monitoring import Monitoring, MonitoringArgs, route53_interval
from components.naming import NamingContext
from components.repository import ApprovalGate, Repository, RepositoryArgs, approval_gates
from components.settings import Secrets
from components.web_app import DomainSpec, EnvVar, WebApp, WebAppArgs, domain_plan, variable_targets
from tests.test_settings import settings_for


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        if args.typ == "aws:kms/key:Key":  # an ARN to follow where a key is used
            return f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:kms:us-east-1:123456789012:key/{args.name}"}
        if args.typ == "aws:iam/role:Role":  # an ARN to follow where a role is used
            return f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:iam::123456789012:role/{args.name}"}
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
        if args.token == "github:index/getTeam:getTeam":
            slug = args.args["slug"]
            return {"id": str(TEAM_IDS[slug]), "nodeId": slug, "slug": slug, "name": slug, "members": []}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/test", "id": "t", "userId": "t"}
        if args.token == "vercel:index/getEndpointVerification:getEndpointVerification":
            return {"id": "team", "teamId": args.args.get("teamId", ""), "verificationCode": VERIFICATION_CODE}
        raise NotImplementedError(args.token)

    def of_type(self, suffix: str) -> list[Registered]:
        return [r for r in self.resources if r.type.endswith(suffix)]


TEAM_IDS = {"tech-lead": 11, "product-owner": 22}
VERIFICATION_CODE = "vercel-verification-code"
RECORDER = Recorder()
pulumi.runtime.set_mocks(RECORDER, project="chefchatz", stack="prod", preview=False)


def build(make: Callable[[], object]) -> Recorder:
    """Run a component constructor under the mocks and wait until every registration is done."""
    RECORDER.resources.clear()

    @pulumi.runtime.test
    def program() -> None:
        make()

    program()
    return RECORDER


NAMING = NamingContext("chefchatz", "prod", "production")


def secrets() -> Secrets:
    def value(name: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(f"test-{name}")

    return Secrets(
        supabase_anon_key=value("anon"),
        openai_api_key=value("openai"),
        anthropic_api_key=value("anthropic"),
        database_url=value("db"),
        redis_url=value("redis"),
        vercel_deploy_token=value("vercel"),
        notify_webhook_url=value("webhook"),
        storage_access_key_id=value("storage-id"),
        storage_secret_access_key=value("storage-secret"),
        slo_drain_secret=value("slo-drain"),
    )


# --- pure decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "production", "expected"),
    [
        ("chefchatz.com", True, [DomainSpec("chefchatz.com"), DomainSpec("www.chefchatz.com", "chefchatz.com", 308)]),
        ("dev.chefchatz.com", False, [DomainSpec("dev.chefchatz.com")]),
        ("staging.chefchatz.com", False, [DomainSpec("staging.chefchatz.com")]),
    ],
)
def test_production_serves_the_apex_and_redirects_www_permanently(domain, production, expected):
    assert domain_plan(domain, production) == expected


def test_a_production_domain_must_be_an_apex():
    with pytest.raises(ValueError, match=r"'app\.chefchatz\.com' must be an apex"):
        domain_plan("app.chefchatz.com", True)


@pytest.mark.parametrize(
    ("production", "sensitive", "targets"),
    [
        (True, True, ("production",)),
        (True, False, ("production", "preview")),
        (False, True, ("production", "preview")),
        (False, False, ("production", "preview", "development")),
    ],
)
def test_production_secrets_reach_only_the_production_target(production, sensitive, targets):
    assert variable_targets(production, sensitive) == targets


@pytest.mark.parametrize(
    ("teams", "gates"),
    [
        (("tech-lead", "product-owner"), [("production-tech-lead", "tech-lead"), ("production", "product-owner")]),
        (("tech-lead",), [("production", "tech-lead")]),
        ((), []),
    ],
)
def test_each_approving_team_gets_its_own_environment(teams, gates):
    assert approval_gates("production", teams) == [ApprovalGate(e, t) for e, t in gates]


@pytest.mark.parametrize(
    ("frequency", "expression"),
    [
        (6 * 3600, "cron(0 */6 * * ? *)"),
        (24 * 3600, "cron(0 3 * * ? *)"),
        (3600, "cron(0 * * * ? *)"),
        (12 * 3600, "cron(0 */12 * * ? *)"),
        (30 * 60, "rate(30 minutes)"),
        (2 * 86400, "rate(2 days)"),
    ],
)
def test_backup_schedules_follow_the_frequency(frequency, expression):
    assert schedule_expression(frequency) == expression


@pytest.mark.parametrize(
    ("frequency", "why"),
    [
        (5 * 3600, "does not divide a day"),
        (90, "whole number of minutes"),
        (30 * 3600, "not whole days"),
        (0, "positive"),
    ],
)
def test_backup_frequencies_that_cannot_be_scheduled_evenly_are_refused(frequency, why):
    with pytest.raises(ValueError, match=why):
        schedule_expression(frequency)


@pytest.mark.parametrize(("frequency", "window"), [(6 * 3600, (3600, 7)), (24 * 3600, (3600, 25)), (3600, (3600, 2))])
def test_freshness_alarm_fires_after_frequency_plus_an_hour(frequency, window):
    assert freshness_window(frequency) == window


def test_route53_probes_every_30s_or_refuses_what_it_cannot_do():
    assert route53_interval(30) == 30
    with pytest.raises(ValueError, match="10s or 30s, not 45s"):
        route53_interval(45)


@pytest.mark.parametrize(
    ("stack", "refs", "teams"),
    [
        ("prod", (("main",), ("v*",)), ("tech-lead", "product-owner")),
        ("staging", (("main",), ()), ("tech-lead",)),
        ("dev", ((), ()), ()),
    ],
)
def test_who_approves_and_which_refs_deploy_per_stack(stack, refs, teams):
    settings = settings_for(stack)
    assert deploy_refs(settings) == refs
    assert approval_teams(settings) == teams


def test_pipeline_variables_carry_the_rollback_triggers_and_probe_settings():
    variables = pipeline_variables(settings_for("prod"))
    assert variables["ROLLBACK_ERROR_RATE"] == "1%"
    assert variables["ROLLBACK_RESPONSE_TIME"] == "1000ms"
    assert variables["ROLLBACK_FAILED_TRANSACTIONS"] == "0.1%"
    assert variables["HEALTH_CHECK_INTERVAL"] == "30s" and variables["HEALTH_CHECK_TIMEOUT"] == "5s"
    assert variables["ROLLBACK_CONSECUTIVE"] == "2" and variables["APP_URL"] == "https://chefchatz.com"


def test_pipeline_variables_carry_approvers_notification_targets_and_tls_for_the_floors():
    variables = pipeline_variables(settings_for("staging"))
    assert variables["RELEASE_APPROVERS"] == "tech-lead,product-owner"
    assert variables["ROLLBACK_NOTIFICATIONS"] == "email:oncall@chefchatz.com,slack:#chefchatz-releases"
    assert (variables["TLS_PROVIDER"], variables["TLS_AUTO_RENEW"], variables["TLS_MINIMUM_VERSION"]) == (
        "letsencrypt",
        "true",
        "TLS1.2",
    )
    assert variables["TLS_CIPHERS"] == "ECDHE-ECDSA-AES128-GCM-SHA256,ECDHE-RSA-AES128-GCM-SHA256"


def test_slos_and_recovery_objectives_become_tags_aws_accepts():
    settings = settings_for("prod", sloErrorBudget="0.05%", drRto="10m")
    assert dict(slo_tags(settings)) == {
        "slo-apdex": "0.99",
        "slo-apdex-threshold": "200ms",
        "slo-error-budget-percent": "0.05",
        "slo-error-budget-window": "30d",
    }
    assert dict(recovery_tags(settings)) == {
        "dr-rpo": "1h",
        "dr-rto": "10m",
        "dr-database-failover": "automatic",
        "dr-region-failover": "manual",
        "dr-data-reconciliation": "automated",
    }
    # AWS tag values: letters, digits, spaces and _ . : / = + - @ only (no '%').
    for value in (*dict(slo_tags(settings)).values(), *dict(recovery_tags(settings)).values()):
        assert re.fullmatch(r"[\w .:/=+\-@]*", value), value


def test_the_six_required_variables_are_present_and_only_true_secrets_are_sensitive():
    variables = {v.key: v for v in deployment_variables(settings_for("prod"), secrets())}
    assert set(REQUIRED_VARIABLES) <= set(variables)
    sensitive = {k for k, v in variables.items() if v.sensitive}
    assert sensitive == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DATABASE_URL", "REDIS_URL"}
    assert variables["NEXT_PUBLIC_FEATURE_DEBUG"].value == "false"


# --- components under mocks ---------------------------------------------------------------------


def test_web_app_creates_one_nextjs_project_with_both_production_domains():
    variables = (EnvVar("OPENAI_API_KEY", pulumi.Output.secret("x"), True, ("production",)),)
    recorded = build(lambda: WebApp("web", WebAppArgs(NAMING, "team_x", "chefchatz.com", True, "22.x", variables)))
    (project,) = recorded.of_type("index/project:Project")
    assert project.inputs["framework"] == "nextjs" and project.inputs["nodeVersion"] == "22.x"
    assert project.inputs["installCommand"].startswith("pnpm install")
    assert project.inputs["gitForkProtection"] is True
    assert project.inputs["vercelAuthentication"]["deploymentType"] == "standard_protection_new"
    domains = {d.inputs["domain"]: d.inputs for d in recorded.of_type("projectDomain:ProjectDomain")}
    assert set(domains) == {"chefchatz.com", "www.chefchatz.com"}
    assert domains["www.chefchatz.com"]["redirect"] == "chefchatz.com"
    assert domains["www.chefchatz.com"]["redirectStatusCode"] == 308
    (variable,) = recorded.of_type("projectEnvironmentVariable:ProjectEnvironmentVariable")
    assert variable.inputs["sensitive"] is True and variable.inputs["targets"] == ["production"]
    (retention,) = recorded.of_type("ProjectDeploymentRetention")
    assert retention.inputs["expirationProduction"] == "1y"


def test_a_web_app_with_rollout_stages_gets_a_manually_approved_rolling_release():
    args = WebAppArgs(NAMING, "team_x", "chefchatz.com", True, "22.x", (), rollout_stages=(5, 25, 50, 100))
    (release,) = build(lambda: WebApp("web", args)).of_type("projectRollingRelease:ProjectRollingRelease")
    assert release.inputs["advancementType"] == "manual-approval", release.inputs
    assert [s["targetPercentage"] for s in release.inputs["stages"]] == [5, 25, 50, 100], release.inputs
    assert all("duration" not in s for s in release.inputs["stages"]), "no timer: rollout watch approves"


def test_a_web_app_without_rollout_stages_has_no_rolling_release():
    recorded = build(lambda: WebApp("web", WebAppArgs(NAMING, "team_x", "dev.chefchatz.com", False, "22.x", ())))
    assert recorded.of_type("projectRollingRelease:ProjectRollingRelease") == []


def _repository_args(**overrides: Any) -> RepositoryArgs:
    base: dict[str, Any] = dict(
        naming=NAMING,
        repository="chefchatz",
        environment="production",
        approval_teams=("tech-lead", "product-owner"),
        deploy_branches=("main",),
        deploy_tags=("v*",),
        variables={"STACK": "prod"},
        secrets={"VERCEL_TOKEN": pulumi.Output.secret("t")},
        owns_repository_rules=True,
        required_status_checks=("test",),
        pull_request_teams=("tech-lead", "product-owner"),
        codeowners="* @chefchatz/tech-lead\n",
    )
    base.update(overrides)
    return RepositoryArgs(**base)


def test_production_needs_tech_lead_and_product_owner_each_through_its_own_environment():
    recorded = build(lambda: Repository("gh", _repository_args()))
    envs = {e.inputs["environment"]: e.inputs for e in recorded.of_type("RepositoryEnvironment")}
    assert set(envs) == {"production-tech-lead", "production"}
    assert envs["production-tech-lead"]["reviewers"] == [{"teams": [TEAM_IDS["tech-lead"]]}]
    assert envs["production"]["reviewers"] == [{"teams": [TEAM_IDS["product-owner"]]}]
    for name, env in envs.items():
        assert env["preventSelfReview"] is True, name
        assert env["canAdminsBypass"] is False, name
        assert env["deploymentBranchPolicy"] == {"protectedBranches": False, "customBranchPolicies": True}, name
    policies = recorded.of_type("RepositoryEnvironmentDeploymentPolicy")
    assert {(p.inputs["environment"], p.inputs.get("branchPattern"), p.inputs.get("tagPattern")) for p in policies} == {
        ("production-tech-lead", "main", None),
        ("production-tech-lead", None, "v*"),
        ("production", "main", None),
        ("production", None, "v*"),
    }
    (secret,) = recorded.of_type("ActionsEnvironmentSecret")
    assert secret.inputs["environment"] == "production" and secret.inputs["secretName"] == "VERCEL_TOKEN"


def test_the_owning_stack_sets_the_default_branch_rules_and_codeowners_through_a_pull_request():
    recorded = build(lambda: Repository("gh", _repository_args()))
    rulesets = {r.inputs["name"]: r.inputs for r in recorded.of_type("RepositoryRuleset")}
    main = rulesets["default-branch"]
    assert main["conditions"]["refName"]["includes"] == ["~DEFAULT_BRANCH"]
    pr = main["rules"]["pullRequest"]
    assert pr["requiredApprovingReviewCount"] == 2
    assert pr["requireCodeOwnerReview"] and pr["dismissStaleReviewsOnPush"] and pr["requireLastPushApproval"]
    assert [r["reviewer"]["id"] for r in pr["requiredReviewers"]] == [11, 22]
    assert main["rules"]["nonFastForward"] is True and main["rules"]["deletion"] is True
    assert main["bypassActors"] == []
    assert rulesets["release-tags"]["rules"]["update"] is True
    (codeowners,) = recorded.of_type("RepositoryFile")
    assert codeowners.inputs["file"] == ".github/CODEOWNERS"
    assert codeowners.inputs["branch"] != "main", "managed files must arrive by pull request, not a push to main"
    assert recorded.of_type("RepositoryPullRequest")


def test_off_a_stack_that_does_not_own_the_rules_creates_none():
    recorded = build(lambda: Repository("gh", _repository_args(owns_repository_rules=False)))
    assert not recorded.of_type("RepositoryRuleset")
    assert not recorded.of_type("RepositoryFile")


def _backups_args(production: bool, pitr: bool = True) -> BackupsArgs:
    return BackupsArgs(
        naming=NAMING if production else NamingContext("chefchatz", "staging", "staging"),
        database=BackupKind("database", 6 * 3600, 30),
        assets=BackupKind("assets", 24 * 3600, 90),
        is_production=production,
        point_in_time_recovery=pitr,
        replica_region="us-west-2",
        image="ghcr.io/chefchatz/chefchatz-infra:0.1.0",
        primary_region="us-east-1",
        database_url=pulumi.Output.secret("postgresql://u:p@h/db"),
        database_name="chefchatz-prod",
        storage_endpoint="https://x.supabase.co/storage/v1/s3",
        storage_region="eu-central-1",
        storage_bucket="assets",
        storage_access_key_id=pulumi.Output.secret("id"),
        storage_secret_access_key=pulumi.Output.secret("secret"),
        alarm_topic_arn="arn:aws:sns:us-east-1:1:alerts",
    )


def test_the_restore_host_is_sized_by_stack_config_and_a_capacity_alarm_watches_the_drills_statement():
    args = dataclasses.replace(
        _backups_args(production=True), restore_task=RestoreHost(4096, 16384, 150), capacity_alarm_percent=75
    )
    recorded = build(lambda: Backups("bk", args))
    (restore,) = [t for t in recorded.of_type("TaskDefinition") if "restore-host" in t.inputs["tags"]]
    assert restore.name == "bk-restore-task", restore.name
    assert (restore.inputs["cpu"], restore.inputs["memory"]) == ("4096", "16384"), restore.inputs
    assert restore.inputs["ephemeralStorage"]["sizeInGib"] == 150, "the scratch directory holds the decompressed dump"
    assert restore.inputs["family"] == "chefchatz-prod-backup-restore"
    assert not [s for s in recorded.of_type("Schedule") if "restore" in s.inputs["name"]], "run on demand only"
    (alarm,) = [a for a in recorded.of_type("MetricAlarm") if a.inputs.get("metricQueries")]
    queries = {q["id"]: q for q in alarm.inputs["metricQueries"]}
    assert {q["metric"]["metricName"] for q in queries.values() if "metric" in q} == {
        "DatabaseSizeBytes",
        "RestoreDrillMaxDatabaseBytes",
    }, alarm.name
    assert all(q["metric"]["dimensions"] == {"Stack": "prod"} for q in queries.values() if "metric" in q)
    assert queries["used"]["expression"] == "100 * m_size / m_capacity" and queries["used"]["returnData"] is True
    assert (alarm.inputs["threshold"], alarm.inputs["comparisonOperator"]) == (75, "GreaterThanThreshold")
    assert alarm.inputs["alarmActions"] == ["arn:aws:sns:us-east-1:1:alerts"], alarm.name


def test_the_restore_host_holds_no_secret_its_target_is_given_at_run_time():
    args = dataclasses.replace(_backups_args(production=True), restore_task=RestoreHost(2048, 8192, 100))
    recorded = build(lambda: Backups("bk", args))
    (restore,) = [t for t in recorded.of_type("TaskDefinition") if "restore-host" in t.inputs["tags"]]
    (container,) = json.loads(restore.inputs["containerDefinitions"])
    assert "secrets" not in container, f"{restore.name} must not get the production DATABASE_URL: {container}"
    assert "DATABASE_URL" not in {e["name"] for e in container["environment"]}, restore.name
    backup_tasks = [t for t in recorded.of_type("TaskDefinition") if "backup-kind" in t.inputs["tags"]]
    assert all(json.loads(t.inputs["containerDefinitions"])[0]["secrets"] for t in backup_tasks), "backups keep theirs"


def test_the_restore_host_has_a_role_of_its_own_that_reads_backups_and_cannot_write_them():
    args = dataclasses.replace(_backups_args(production=True), restore_task=RestoreHost(2048, 8192, 100))
    recorded = build(lambda: Backups("bk", args))
    (restore,) = [t for t in recorded.of_type("TaskDefinition") if "restore-host" in t.inputs["tags"]]
    tasks = recorded.of_type("TaskDefinition")
    backup_roles = {t.inputs["taskRoleArn"] for t in tasks if "backup-kind" in t.inputs["tags"]}
    assert restore.inputs["taskRoleArn"] not in backup_roles, "the backup task's role may write to the buckets"
    (policy,) = [p for p in recorded.of_type("RolePolicy") if p.name == "bk-restore-task-policy"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    actions = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert not {a for a in actions if a.startswith("s3:") and not (a.startswith("s3:Get") or a.startswith("s3:List"))}
    assert "cloudwatch:PutMetricData" in actions, "the drill publishes its metrics"
    read = next(st for st in statements if st["Sid"] == "ReadBackups")
    assert "arn:aws:s3:::chefchatz-prod-database-backups-replica/*" in read["Resource"], "a failover reads the replica"


def test_off_without_a_restore_host_or_capacity_percent_there_is_no_restore_task_or_capacity_alarm():
    recorded = build(lambda: Backups("bk", _backups_args(production=False)))
    assert not [t for t in recorded.of_type("TaskDefinition") if "restore-host" in t.inputs["tags"]]
    assert not [a for a in recorded.of_type("MetricAlarm") if a.inputs.get("metricQueries")]


def test_prod_backups_keep_database_dumps_30_days_and_assets_90_days_with_object_lock_and_replica():
    recorded = build(lambda: Backups("bk", _backups_args(production=True)))
    buckets = {b.inputs["bucket"]: b.inputs for b in recorded.of_type("s3/bucket:Bucket")}
    assert {"chefchatz-prod-database-backups", "chefchatz-prod-assets-backups"} <= set(buckets)
    assert buckets["chefchatz-prod-database-backups"]["objectLockEnabled"] is True
    assert buckets["chefchatz-prod-database-backups"]["tags"]["pitr"] == "enabled"
    lifecycle = {
        lc.inputs["bucket"]: lc.inputs["rules"][0]
        for lc in recorded.of_type("BucketLifecycleConfiguration")
        if "replica" not in lc.inputs["bucket"]
    }
    assert lifecycle["chefchatz-prod-database-backups"]["expiration"]["days"] == 30
    assert lifecycle["chefchatz-prod-assets-backups"]["expiration"]["days"] == 90
    assert lifecycle["chefchatz-prod-assets-backups"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1
    locks = recorded.of_type("BucketObjectLockConfiguration")
    assert {lk.inputs["rule"]["defaultRetention"]["mode"] for lk in locks} == {"COMPLIANCE"}
    assert len(recorded.of_type("BucketReplicationConfig")) == 2
    schedules = {s.inputs["name"]: s.inputs["scheduleExpression"] for s in recorded.of_type("Schedule")}
    assert schedules == {
        "chefchatz-prod-backup-database": "cron(0 */6 * * ? *)",
        "chefchatz-prod-backup-assets": "cron(0 3 * * ? *)",
    }
    blocks = recorded.of_type("BucketPublicAccessBlock")
    assert blocks and all(
        b.inputs[k] is True
        for b in blocks
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    tasks = {t.inputs["tags"]["backup-kind"]: t.inputs for t in recorded.of_type("TaskDefinition")}
    assert set(tasks) == {"database", "assets"}
    for kind, task in tasks.items():
        (container,) = json.loads(task["containerDefinitions"])
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["SOURCE_S3_REGION"] == "eu-central-1", "Storage checks signatures for the project's region"
        assert env["CHEFCHATZ_STACK"] == "prod" and "CHEFCHATZ_BACKUP_PREFIX" not in env, (
            "scheduled backups must land where `chefchatz backup verify --bucket B` looks (no prefix)"
        )
        # Each kind reads only what its command uses: no database URL in the assets task, no Storage
        # keys in the database task.
        assert {s["name"] for s in container["secrets"]} == (
            {"DATABASE_URL"} if kind == "database" else {"SOURCE_AWS_ACCESS_KEY_ID", "SOURCE_AWS_SECRET_ACCESS_KEY"}
        ), kind
    # The command is the task's own: EventBridge Scheduler's ECS target has no container overrides.
    assert json.loads(tasks["database"]["containerDefinitions"])[0]["command"] == [
        "backup",
        "db",
        "--bucket",
        "chefchatz-prod-database-backups",
        "--json",
    ]
    assert json.loads(tasks["assets"]["containerDefinitions"])[0]["command"][:2] == ["backup", "assets"]
    for schedule in recorded.of_type("Schedule"):
        assert "input" not in schedule.inputs["target"], "Scheduler's ECS target would not apply it"
    alarms = {a.inputs["dimensions"]["Kind"]: a.inputs for a in recorded.of_type("MetricAlarm")}
    assert alarms["database"]["evaluationPeriods"] == 7 and alarms["database"]["treatMissingData"] == "breaching"


def test_the_backup_task_can_write_backups_but_never_delete_them():
    document: Any = backup_documents.task_policy(["b1", "b2"], "arn:aws:kms:us-east-1:1:key/k")
    actions = [
        a for s in document["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert "s3:PutObject" in actions
    assert not [a for a in actions if "Delete" in a or a in ("s3:*", "*")]


def test_the_deploy_job_can_also_read_the_slo_metrics_and_notify_but_delete_nothing():
    topic = "arn:aws:sns:us-east-1:111111111111:chefchatz-prod-alerts"
    document: Any = backup_documents.pipeline_policy(["b1"], "arn:aws:kms:us-east-1:1:key/k", topic)
    actions = [
        a for s in document["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert "cloudwatch:GetMetricData" in actions and "s3:PutObject" in actions, actions
    assert not [a for a in actions if "Delete" in a or a in ("s3:*", "*")]
    (publish,) = [s for s in document["Statement"] if s["Action"] == "sns:Publish"]
    assert publish["Resource"] == topic, "publishing only to the stack's own alerts topic"
    without: Any = backup_documents.pipeline_policy(["b1"], "arn:aws:kms:us-east-1:1:key/k")
    assert not [s for s in without["Statement"] if s["Action"] == "sns:Publish"]


def test_backup_buckets_refuse_requests_without_tls_1_2():
    document: Any = backup_documents.tls_only_policy("b")
    conditions = [s["Condition"] for s in document["Statement"]]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in conditions


def test_non_production_backups_have_no_object_lock_and_no_replica():
    recorded = build(lambda: Backups("bk", _backups_args(production=False)))
    assert not recorded.of_type("BucketObjectLockConfiguration")
    assert not recorded.of_type("BucketReplicationConfig")


def test_monitoring_probes_each_domain_over_https_every_30s_and_alarms_on_the_slos():
    args = MonitoringArgs(
        NAMING,
        ("chefchatz.com", "www.chefchatz.com"),
        "/api/health",
        30,
        2,
        200,
        500,
        ("oncall@chefchatz.com",),
        "team",
        "prj",
    )
    recorded = build(lambda: Monitoring("mon", args))
    checks = {c.inputs["fqdn"]: c.inputs for c in recorded.of_type("HealthCheck")}
    assert set(checks) == {"chefchatz.com", "www.chefchatz.com"}
    for domain, check in checks.items():
        assert (check["type"], check["resourcePath"], check["requestInterval"], check["failureThreshold"]) == (
            "HTTPS",
            "/api/health",
            30,
            2,
        ), domain
        assert check["enableSni"] is True and check["measureLatency"] is True
    thresholds = sorted(
        a.inputs["threshold"] for a in recorded.of_type("MetricAlarm") if a.inputs["metricName"] == "TimeToFirstByte"
    )
    assert thresholds == [200, 200, 500, 500]
    (subscription,) = recorded.of_type("TopicSubscription")
    assert subscription.inputs["protocol"] == "email"
    assert recorded.of_type("AlertRule")


def test_off_a_stack_with_backups_disabled_creates_no_backup_resources():
    settings = settings_for("dev", backupsEnabled="false")
    recorded = build(lambda: Environment("env", settings, secrets()))
    assert not [r for r in recorded.resources if r.type.startswith("aws:s3") or r.type.startswith("aws:scheduler")]
    assert not recorded.of_type("chefchatz:backups:Backups")
    assert recorded.of_type("index/project:Project"), "the rest of the environment is still there"


def test_environment_tree_for_prod_has_every_component():
    recorded = build(lambda: Environment("env", settings_for("prod"), secrets()))
    for component in (
        "chefchatz:web:WebApp",
        "chefchatz:github:Repository",
        "chefchatz:backups:Backups",
        "chefchatz:monitoring:Monitoring",
    ):
        assert recorded.of_type(component), component
    keys = {v.inputs["key"] for v in recorded.of_type("ProjectEnvironmentVariable")}
    assert set(REQUIRED_VARIABLES) <= keys


def test_the_pipeline_role_trusts_only_github_tokens_of_this_repository_environment():
    policy: Any = backup_documents.github_trust_policy(
        "arn:aws:iam::1:oidc-provider/x", ["repo:o/r:environment:production"]
    )
    (statement,) = policy["Statement"]
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == ["repo:o/r:environment:production"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"


def test_prod_commits_the_app_pipeline_and_a_release_environment_that_only_main_can_use():
    recorded = build(lambda: Environment("env", settings_for("prod"), secrets()))
    files = {f.inputs["file"]: f.inputs["content"] for f in recorded.of_type("RepositoryFile")}
    assert ".github/workflows/deploy-production.yml" in files and ".github/CODEOWNERS" in files
    assert (
        "chefchatz-infra @ git+https://github.com/chefchatz/chefchatz-infra@" in files[".github/workflows/deploy.yml"]
    )
    envs = {e.inputs["environment"]: e.inputs for e in recorded.of_type("RepositoryEnvironment")}
    assert envs["release"]["canAdminsBypass"] is False
    roles = [r for r in recorded.of_type("iam/role:Role") if r.name.endswith("pipeline-role")]
    assert len(roles) == 1 and recorded.of_type("OpenIdConnectProvider")


# --- what the platforms do with these inputs (issue 23) ---------------------------------------------


def _monitoring() -> Recorder:
    args = MonitoringArgs(
        NAMING, ("chefchatz.com",), "/api/health", 30, 2, 200, 500, ("oncall@chefchatz.com",), "team_x", "prj"
    )
    return build(lambda: Monitoring("mon", args))


def test_the_vercel_alert_rule_filters_on_server_errors_and_notifies_the_team_owners():
    # Vercel refuses an error_anomaly trigger without a statusGroup filter (pulumiverse-vercel AlertRule).
    (rule,) = _monitoring().of_type("AlertRule")
    (trigger,) = rule.inputs["triggers"]
    assert trigger == {"type": "error_anomaly", "filter": "statusGroup:5xx"}, trigger
    assert rule.inputs["notificationSettings"] == {"enableTeamOwnerNotifications": True}


def test_the_alerts_topic_is_encrypted_with_its_own_key_that_cloudwatch_alarms_may_use():
    recorded = _monitoring()
    (topic,) = recorded.of_type("sns/topic:Topic")
    (key,) = recorded.of_type("kms/key:Key")
    assert topic.inputs["kmsMasterKeyId"] == f"arn:aws:kms:us-east-1:123456789012:key/{key.name}", (
        "the AWS-managed alias/aws/sns key cannot allow CloudWatch"
    )
    assert key.inputs["region"] == "us-east-1" and key.inputs["enableKeyRotation"] is True
    statements = json.loads(key.inputs["policy"])["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert any(s["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"} for s in statements), "admin kept"


def test_the_deploy_job_may_encrypt_what_it_publishes_to_the_alerts_topic():
    topic, key = "arn:aws:sns:us-east-1:1:alerts", "arn:aws:kms:us-east-1:1:key/alerts"
    document: Any = backup_documents.pipeline_policy(["b1"], "arn:aws:kms:us-east-1:1:key/k", topic, key)
    (encrypt,) = [s for s in document["Statement"] if s.get("Sid") == "EncryptRollbackNotifications"]
    assert encrypt["Resource"] == key and set(encrypt["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_production_replicas_are_object_locked_like_their_sources():
    recorded = build(lambda: Backups("bk", _backups_args(production=True)))
    buckets = {b.inputs["bucket"]: b.inputs for b in recorded.of_type("s3/bucket:Bucket")}
    for kind, days in (("database", 30), ("assets", 90)):
        replica = buckets[f"chefchatz-prod-{kind}-backups-replica"]
        assert replica["objectLockEnabled"] is True, f"{kind} replica: S3 fails DstBucketObjectLockConfigMissing"
        locks = [
            lk.inputs
            for lk in recorded.of_type("BucketObjectLockConfiguration")
            if lk.inputs["bucket"] == f"chefchatz-prod-{kind}-backups-replica"
        ]
        assert [lk["rule"]["defaultRetention"] for lk in locks] == [{"mode": "COMPLIANCE", "days": days}], kind
        assert locks[0]["region"] == "us-west-2"


def test_the_replication_role_may_read_each_objects_retention_and_legal_hold():
    document: Any = backup_documents.replication_policy("src", "dst")
    (read,) = [s for s in document["Statement"] if s["Resource"] == "arn:aws:s3:::src/*"]
    assert {"s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:GetObjectVersionForReplication"} <= set(
        read["Action"]
    )
    assert not [a for s in document["Statement"] for a in s["Action"] if "Delete" in a]


def test_each_version_of_the_managed_files_gets_a_fresh_branch_and_pull_request():
    from components.repository import MANAGED_FILES_BRANCH, managed_files_branch

    first = managed_files_branch({".github/CODEOWNERS": "* @a"})
    assert first.startswith(f"{MANAGED_FILES_BRANCH}-")
    assert first == managed_files_branch({".github/CODEOWNERS": "* @a"}), "same files, same branch"
    assert first != managed_files_branch({".github/CODEOWNERS": "* @b"}), "a change is a new branch"
    assert managed_files_branch({"a": "bc"}) != managed_files_branch({"ab": "c"})
    recorded = build(lambda: Repository("gh", _repository_args()))
    (branch,) = recorded.of_type("github:index/branch:Branch")
    (pr,) = recorded.of_type("RepositoryPullRequest")
    expected = managed_files_branch({".github/CODEOWNERS": "* @chefchatz/tech-lead\n"})
    assert branch.inputs["branch"] == pr.inputs["headRef"] == expected
    assert branch.inputs["sourceBranch"] == "main"


def test_the_owning_stack_gives_every_approving_team_write_access_so_code_ownership_counts():
    # GitHub: a code-owner team needs write access; an environment reviewer at least read access.
    recorded = build(lambda: Repository("gh", _repository_args()))
    grants = {g.inputs["teamId"]: g.inputs for g in recorded.of_type("TeamRepository")}
    assert set(grants) == {str(TEAM_IDS["tech-lead"]), str(TEAM_IDS["product-owner"])}, grants
    assert {g["permission"] for g in grants.values()} == {"push"}
    assert not build(lambda: Repository("gh", _repository_args(owns_repository_rules=False))).of_type(
        "TeamRepository"
    ), "team access is repository-wide: only the rules-owning stack manages it"


def test_on_call_can_read_the_replicas_in_a_region_failover_and_delete_nothing():
    document: Any = backup_documents.restore_policy(["p", "p-replica"], ["arn:k1", "arn:k2"])
    actions = [
        a for st in document["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    ]
    assert "s3:GetObject" in actions and "kms:Decrypt" in actions
    assert not [a for a in actions if a.startswith(("s3:Put", "s3:Delete")) or a.endswith("*")], actions
    recorded = build(lambda: Backups("bk", _backups_args(production=True)))
    (policy,) = [p for p in recorded.of_type("RolePolicy") if p.name == "bk-restore-policy"]
    read = json.loads(policy.inputs["policy"])["Statement"][0]["Resource"]
    assert "arn:aws:s3:::chefchatz-prod-database-backups-replica/*" in read, read
