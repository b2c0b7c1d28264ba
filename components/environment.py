"""Environment: one stack's whole component tree, built from its settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi

from components.app_workflows import AppPipelineArgs, app_workflow_files, codeowners
from components.backups import BackupKind, Backups, BackupsArgs, RestoreHost
from components.monitoring import Monitoring, MonitoringArgs
from components.naming import NamingContext
from components.repository import Repository, RepositoryArgs
from components.settings import Secrets, Settings, SettingsError, format_duration
from components.slo import Slo, SloArgs, SloObjectives
from components.web_app import EnvVar, WebApp, WebAppArgs, domain_plan, variable_targets

# The six variables the spec requires for every deployment, and whether each is a secret.
# The Supabase anon key is public by design (shipped in the browser bundle, protected by row level
# security), so it is not `sensitive` on Vercel even though its value is kept as a Pulumi secret.
REQUIRED_VARIABLES = (
    "NEXT_PUBLIC_SUPABASE_URL",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DATABASE_URL",
    "REDIS_URL",
)


def deployment_variables(settings: Settings, secrets: Secrets) -> tuple[EnvVar, ...]:
    """Every Vercel variable of the stack: the spec's six plus the feature flags."""
    prod = settings.environment.is_production
    features = settings.environment.features

    def public(key: str, value: pulumi.Input[str], comment: str) -> EnvVar:
        return EnvVar(key, value, sensitive=False, targets=variable_targets(prod, False), comment=comment)

    def secret(key: str, value: pulumi.Input[str], comment: str) -> EnvVar:
        return EnvVar(key, value, sensitive=True, targets=variable_targets(prod, True), comment=comment)

    return (
        public("NEXT_PUBLIC_SUPABASE_URL", settings.platform.supabase_url, "Supabase API origin"),
        public("NEXT_PUBLIC_SUPABASE_ANON_KEY", secrets.supabase_anon_key, "Supabase anon key (public, RLS)"),
        secret("OPENAI_API_KEY", secrets.openai_api_key, "OpenAI API key"),
        secret("ANTHROPIC_API_KEY", secrets.anthropic_api_key, "Anthropic API key"),
        secret("DATABASE_URL", secrets.database_url, "Postgres connection string"),
        secret("REDIS_URL", secrets.redis_url, "Redis connection string"),
        public("NEXT_PUBLIC_APP_ENV", settings.environment.kind, "environment kind"),
        public("NEXT_PUBLIC_FEATURE_DEBUG", _flag(features.debug), "features.debug"),
        public("NEXT_PUBLIC_FEATURE_ANALYTICS", _flag(features.analytics), "features.analytics"),
        public("NEXT_PUBLIC_AI_LIMITS", features.ai_limits, "features.aiLimits"),
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def pipeline_variables(settings: Settings) -> dict[str, str]:
    """Non-secret values the app's deploy pipeline reads from its GitHub environment."""
    rollback, health = settings.rollback, settings.health
    return {
        "STACK": settings.stack,
        "APP_URL": f"https://{settings.environment.domain}",
        "VERCEL_ORG_ID": settings.platform.vercel_team_id,
        "HEALTH_CHECK_PATH": health.path,
        "HEALTH_CHECK_INTERVAL": format_duration(health.interval_s),
        "HEALTH_CHECK_TIMEOUT": format_duration(health.timeout_s),
        "ROLLBACK_CONSECUTIVE": str(health.unhealthy_threshold),
        "ROLLBACK_ERROR_RATE": f"{rollback.error_rate_percent:g}%",
        "ROLLBACK_RESPONSE_TIME": f"{rollback.response_time_ms:g}ms",
        "ROLLBACK_FAILED_TRANSACTIONS": f"{rollback.failed_transactions_percent:g}%",
        "ROLLBACK_AUTOMATIC": _flag(rollback.automatic),
        "ROLLBACK_NOTIFICATIONS": ",".join(rollback.notifications),
        "RELEASE_APPROVERS": ",".join(settings.release.approvals),
        # What `chefchatz tls-check` holds the live endpoint to (provider, renewal, protocol, ciphers).
        "TLS_PROVIDER": settings.tls.provider,
        "TLS_AUTO_RENEW": _flag(settings.tls.auto_renew),
        "TLS_MINIMUM_VERSION": settings.tls.minimum_version,
        "TLS_CIPHERS": ",".join(settings.tls.preferred_ciphers),
        "ROLLOUT_STEP_DURATION": format_duration(settings.rollout.step_s),
    }


def slo_tags(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The SLOs without an alarm threshold of their own, as tags (AWS tag values allow no '%')."""
    performance = settings.performance
    return (
        ("slo-apdex", f"{performance.apdex:g}"),
        ("slo-apdex-threshold", f"{settings.apdex_threshold_ms:g}ms"),
        ("slo-error-budget-percent", f"{performance.error_budget_percent:g}"),
        ("slo-error-budget-window", format_duration(performance.error_budget_window_s)),
    )


def recovery_tags(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The disaster-recovery objectives, as tags of the database backups that serve them."""
    dr = settings.disaster_recovery
    return (
        ("dr-rpo", format_duration(dr.rpo_s)),
        ("dr-rto", format_duration(dr.rto_s)),
        ("dr-database-failover", dr.database_failover),
        ("dr-region-failover", dr.region_failover),
        ("dr-data-reconciliation", dr.data_reconciliation),
    )


def ops_tool_commit(settings: Settings) -> str:
    """The commit of this repository the app's pipeline installs the chefchatz tool from.

    Unless pinned in config, the commit being deployed: the app then runs exactly the reviewed
    tool that this infrastructure was planned with.
    """
    if settings.platform.ops_tool_commit:
        return settings.platform.ops_tool_commit
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    if len(commit) != 40:
        raise SettingsError(
            settings.stack,
            [
                f"chefchatz:opsToolCommit: empty and {Path(__file__).resolve().parent.parent} is not a git "
                "checkout; set it in Pulumi."
                f"{settings.stack}.yaml to the 40-character commit of chefchatz-infra the app's pipeline installs"
            ],
        )
    return commit


def app_pipeline_files(settings: Settings) -> dict[str, str]:
    """The app repository's workflow and release files, pinned to this repository's tool."""
    requirement = f"chefchatz-infra @ git+{settings.platform.ops_tool_repository}@{ops_tool_commit(settings)}"
    args = AppPipelineArgs(
        chefchatz_requirement=requirement,
        node_major=int(settings.platform.node_version.split(".")[0]),
        health_path=settings.health.path,
        release_schedule=settings.release.schedule,
        production_rollout=bool(settings.rollout.stages),
    )
    return app_workflow_files(args)


def deploy_refs(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(branches, tags) allowed to deploy: production only from main and release tags."""
    kind = settings.environment.kind
    if kind == "production":
        return ("main",), ("v*",)
    if kind == "staging":
        return ("main",), ()
    return (), ()


def approval_teams(settings: Settings) -> tuple[str, ...]:
    """Who approves a deployment: every release approver for production, the first for staging."""
    kind = settings.environment.kind
    if kind == "production":
        return settings.release.approvals
    if kind == "staging":
        return settings.release.approvals[:1]
    return ()


class Environment(pulumi.ComponentResource):
    """Vercel project, variables and domains, monitors, backups and GitHub environments of one stack."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        secrets: Secrets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("chefchatz:stack:Environment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        naming = NamingContext(
            settings.project,
            settings.stack,
            settings.environment.kind,
            production=settings.environment.is_production,
        )

        self.web_app = WebApp(
            f"{name}-web",
            WebAppArgs(
                naming=naming,
                team_id=settings.platform.vercel_team_id,
                domain=settings.environment.domain,
                is_production=settings.environment.is_production,
                node_version=settings.platform.node_version,
                variables=deployment_variables(settings, secrets),
                rollout_stages=settings.rollout.stages,
            ),
            opts=child,
        )

        self.monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                naming=naming,
                domains=tuple(
                    d.name for d in domain_plan(settings.environment.domain, settings.environment.is_production)
                ),
                health_path=settings.health.path,
                interval_s=settings.health.interval_s,
                unhealthy_threshold=settings.health.unhealthy_threshold,
                p95_ms=settings.performance.p95_ms,
                p99_ms=settings.performance.p99_ms,
                emails=settings.rollback.emails,
                slo_tags=slo_tags(settings),
                team_id=settings.platform.vercel_team_id,
                vercel_project_id=self.web_app.project.id,
            ),
            opts=child,
        )

        self.backups: Backups | None = None
        if settings.backups.enabled:
            plans = settings.backups
            self.backups = Backups(
                f"{name}-backups",
                BackupsArgs(
                    naming=naming,
                    database=BackupKind(
                        "database", plans.database.frequency_s, plans.database.retention_days, plans.database.type
                    ),
                    assets=BackupKind(
                        "assets", plans.assets.frequency_s, plans.assets.retention_days, plans.assets.type
                    ),
                    is_production=settings.environment.is_production,
                    point_in_time_recovery=plans.point_in_time_recovery,
                    replica_region=plans.replica_region,
                    image=plans.image,
                    primary_region=settings.aws_region,
                    recovery_tags=recovery_tags(settings),
                    database_url=secrets.database_url,
                    database_name=settings.environment.database_name,
                    storage_endpoint=f"{settings.platform.supabase_url}/storage/v1/s3",
                    storage_region=settings.platform.supabase_region,
                    storage_bucket=plans.storage_bucket,
                    storage_access_key_id=secrets.storage_access_key_id,
                    storage_secret_access_key=secrets.storage_secret_access_key,
                    alarm_topic_arn=self.monitoring.topic.arn,
                    alarm_topic_key_arn=self.monitoring.topic_key.arn,
                    github_subjects=(
                        f"repo:{settings.platform.github_owner}/{settings.platform.app_repository}"
                        f":environment:{settings.environment.github_environment}",
                    ),
                    create_oidc_provider=settings.platform.create_oidc_provider,
                    restore_task=RestoreHost(
                        plans.restore_task.cpu, plans.restore_task.memory, plans.restore_task.storage_gib
                    ),
                    capacity_alarm_percent=plans.capacity_alarm_percent,
                ),
                opts=child,
            )

        self.slo: Slo | None = None
        if settings.slo.drain_enabled:
            performance = settings.performance
            self.slo = Slo(
                f"{name}-slo",
                SloArgs(
                    naming=naming,
                    team_id=settings.platform.vercel_team_id,
                    vercel_project_id=self.web_app.project.id,
                    drain_secret=secrets.slo_drain_secret,
                    alarm_topic_arn=self.monitoring.topic.arn,
                    objectives=SloObjectives(
                        apdex=performance.apdex,
                        apdex_threshold_ms=settings.apdex_threshold_ms,
                        p95_ms=performance.p95_ms,
                        p99_ms=performance.p99_ms,
                        budget_percent=performance.error_budget_percent,
                        window_s=performance.error_budget_window_s,
                        rollback_response_ms=settings.rollback.response_time_ms,
                    ),
                    health_alarm_names=tuple(alarm.name for alarm in self.monitoring.alarms),
                    backup_kinds=("database", "assets") if self.backups is not None else (),
                    backup_region=settings.aws_region,
                    reserved_concurrency=settings.slo.drain_concurrency,
                ),
                opts=child,
            )

        branches, tags = deploy_refs(settings)
        variables: dict[str, pulumi.Input[str]] = dict(pipeline_variables(settings))
        variables["VERCEL_PROJECT_ID"] = self.web_app.project.id
        variables["AWS_REGION"] = settings.aws_region
        # The guards' notifications reach the stack's email targets through the alerts topic.
        variables["ALERTS_TOPIC_ARN"] = self.monitoring.topic.arn
        if self.backups is not None:
            variables["BACKUP_BUCKET"] = self.backups.buckets["database"].bucket
            if self.backups.pipeline_role is not None:
                variables["BACKUP_ROLE_ARN"] = self.backups.pipeline_role.arn
        owner = settings.platform.owns_repository_rules
        files = app_pipeline_files(settings) if owner else {}
        self.repository = Repository(
            f"{name}-github",
            RepositoryArgs(
                naming=naming,
                repository=settings.platform.app_repository,
                environment=settings.environment.github_environment,
                approval_teams=approval_teams(settings),
                deploy_branches=branches,
                deploy_tags=tags,
                variables=variables,
                secrets={
                    "VERCEL_TOKEN": secrets.vercel_deploy_token,
                    "DATABASE_URL": secrets.database_url,
                    "NOTIFY_WEBHOOK_URL": secrets.notify_webhook_url,
                },
                owns_repository_rules=settings.platform.owns_repository_rules,
                required_status_checks=settings.platform.required_status_checks,
                required_approvals=max(2, len(settings.release.approvals)),
                pull_request_teams=settings.release.approvals,
                codeowners=codeowners(
                    settings.platform.github_owner,
                    tech_lead_team=settings.release.approvals[0],
                    product_owner_team=settings.release.approvals[-1],
                )
                if owner
                else "",
                extra_files=files,
                release_environment="release" if owner else "",
                release_variables={"RELEASE_APP_CLIENT_ID": settings.release.app_client_id} if owner else {},
            ),
            opts=child,
        )

        self.url = self.web_app.url
        self.register_outputs(
            {
                "url": self.url,
                "vercelProjectId": self.web_app.project.id,
                "githubEnvironments": [e.environment for e in self.repository.environments],
            }
        )
