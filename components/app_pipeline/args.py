"""What the generated pipeline needs: `AppPipelineArgs`, its environments and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

ReleaseSchedule = Literal["weekly", "bi-weekly", "monthly"]


@dataclass(frozen=True)
class AppEnvironment:
    """One deployment target of the app, in promotion order.

    `approval_environments` are GitHub environments whose gate jobs must succeed (be approved)
    before the deploy job starts; each environment's reviewers are one team, because GitHub
    accepts any *one* reviewer of an environment (production: ``("production-tech-lead",)`` and
    the product-owner team on ``production`` itself).
    """

    name: str  # dev | staging | production: names jobs and notifications
    stack: str  # the Pulumi stack, e.g. dev | staging | prod (the backup's --stack)
    github_environment: str  # holds the variables and secrets; its protection rules gate the job
    url: str  # the environment's public origin, probed by `chefchatz rollback watch`
    production: bool = False
    approval_environments: tuple[str, ...] = ()
    # Rehearse the migrations on the pre-migration backup before `db push` (needs the stack's backups;
    # dev may run without them).
    rehearse_migrations: bool = False


def default_environments() -> tuple[AppEnvironment, ...]:
    """The spec's three environments with the GitHub environments the `Repository` component creates."""
    return (
        AppEnvironment("dev", "dev", "dev", "https://dev.chefchatz.com"),
        AppEnvironment("staging", "staging", "staging", "https://staging.chefchatz.com", rehearse_migrations=True),
        AppEnvironment(
            "production",
            "prod",
            "production",
            "https://chefchatz.com",
            production=True,
            approval_environments=("production-tech-lead",),
            rehearse_migrations=True,
        ),
    )


@dataclass(frozen=True)
class AppPipelineArgs:
    """Everything the generated pipeline needs; defaults are the spec's values and current tools.

    `chefchatz_requirement` is the pip requirement that installs this repository's `chefchatz`
    tool on the runner; pin it to a commit (``... @ git+https://...@<40-hex sha>``) so the tool that
    backs up and rolls back production is the reviewed one.
    """

    chefchatz_requirement: str
    environments: tuple[AppEnvironment, ...] = field(default_factory=default_environments)
    node_major: int = 22  # matches the Vercel project's Node major (config nodeVersion)
    pnpm_version: str = "12.21.0"
    vercel_cli_version: str = "64.0.2"
    python_version: str = "3.11"
    postgres_client_major: int = 17  # pg_dump must be at least the server's major (Supabase: 17)
    # The pipeline's GitHub environment variables holding Vercel's ids (read by the Vercel CLI).
    vercel_project_id_var: str = "VERCEL_PROJECT_ID"
    vercel_org_id_var: str = "VERCEL_ORG_ID"
    migration_command: str = 'pnpm supabase db push --db-url "$DATABASE_URL"'
    migrations_dir: str = "supabase/migrations"
    health_path: str = "/api/health"
    rollback_window: str = "10m"
    # Probes per interval for the rollback guard. It breaches only on 99 %-confident evidence, so it
    # needs enough of them: with 30, 3 errors (10 %) are evidence above the spec's 1 %, a deploy failing
    # 30 % of requests is caught in 2 intervals, and healthy noise (a 5xx in 300) is not (docs/rollback.md).
    rollback_samples: int = 30
    # Production deploys as a canary (a Vercel rolling release, config rolloutStages) that
    # `chefchatz rollout watch` takes through its stages on real traffic before the guard watches 100 %.
    production_rollout: bool = False
    # Extra steps a quiet stage may take before the run stops without promoting: one, so that at the
    # default 10-minute steps even a rollout holding every stage once (3 x 20 min) fits the one-hour
    # AWS session it reads the metrics with.
    rollout_max_holds: int = 1
    test_commands: tuple[str, ...] = ("pnpm lint", "pnpm test")
    zizmor_version: str = "1.32.0"
    # Release process (spec: semantic versions, changelog, tech-lead + product-owner, bi-weekly).
    release_schedule: ReleaseSchedule = "bi-weekly"
    release_weekday: int = 1  # cron day of week (1 = Monday)
    release_hour_utc: int = 8
    # A past departure day of the bi-weekly train; later trains leave every second week after it.
    release_train_anchor: date = date(2026, 1, 5)
    release_type: str = "node"
    default_branch: str = "main"
    # A GitHub App token opens the release pull request and publishes the release: events caused by
    # GITHUB_TOKEN start no workflows, and the release pull request needs its checks and the
    # release its production deployment.
    release_app_client_id_var: str = "RELEASE_APP_CLIENT_ID"
    release_app_private_key_secret: str = "RELEASE_APP_PRIVATE_KEY"  # noqa: S105 - a secret's name
    # The GitHub environment holding the App's key: only the release jobs (main) can read it.
    release_environment: str = "release"

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ValueError("invalid AppPipelineArgs:\n  - " + "\n  - ".join(problems))

    @property
    def pre_production(self) -> tuple[AppEnvironment, ...]:
        return tuple(e for e in self.environments if not e.production)

    @property
    def production(self) -> AppEnvironment:
        return next(e for e in self.environments if e.production)


_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}$")
_GITHUB_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_DURATION = re.compile(r"^\d+(?:s|m|h)$")
_PINNED_GIT = re.compile(r"@ git\+https://[^\s@]+@[0-9a-f]{40}$")


def validate(args: AppPipelineArgs) -> list[str]:
    """Every problem with the arguments, each naming the field and the value (empty when valid)."""
    problems: list[str] = []
    envs = args.environments
    if not envs:
        problems.append("environments: at least one environment is required")
    if sum(e.production for e in envs) != 1:
        problems.append(f"environments: exactly one must be production, got {sum(e.production for e in envs)}")
    elif not envs[-1].production:
        problems.append(f"environments: production must come last in promotion order, got {envs[-1].name!r}")
    for attr in ("name", "stack", "github_environment"):
        values = [getattr(e, attr) for e in envs]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            problems.append(f"environments: duplicate {attr} {duplicates}")
    gate_names = [g for e in envs for g in e.approval_environments]
    for e in envs:
        if not _NAME.match(e.name):
            problems.append(f"environments[{e.name!r}].name: must match {_NAME.pattern}")
        if not _NAME.match(e.stack):
            problems.append(f"environments[{e.name!r}].stack {e.stack!r}: must match {_NAME.pattern}")
        for env_name in (e.github_environment, *e.approval_environments, args.release_environment):
            if not _GITHUB_ENVIRONMENT.match(env_name):
                problems.append(f"environments[{e.name!r}]: GitHub environment {env_name!r} is not a valid name")
        if e.github_environment in gate_names:
            problems.append(f"environments[{e.name!r}]: {e.github_environment!r} is both a deploy and a gate")
        if not re.match(r"^https://[a-z0-9.-]+$", e.url):
            problems.append(f"environments[{e.name!r}].url {e.url!r}: must be an https:// origin without a path")
        if e.production and not e.approval_environments:
            problems.append(f"environments[{e.name!r}]: production needs at least one approval environment")
    if not 18 <= args.node_major <= 99:
        problems.append(f"node_major {args.node_major}: not a Node.js major version")
    for attr in ("pnpm_version", "vercel_cli_version", "zizmor_version"):
        if not _SEMVER.match(getattr(args, attr)):
            problems.append(f"{attr} {getattr(args, attr)!r}: pin an exact X.Y.Z version")
    if not re.match(r"^3\.\d+$", args.python_version):
        problems.append(f"python_version {args.python_version!r}: expected 3.N")
    if not 12 <= args.postgres_client_major <= 99:
        problems.append(f"postgres_client_major {args.postgres_client_major}: not a PostgreSQL major version")
    for attr in ("vercel_project_id_var", "vercel_org_id_var", "release_app_client_id_var"):
        if not _VARIABLE.match(getattr(args, attr)):
            problems.append(f"{attr} {getattr(args, attr)!r}: must be an UPPER_SNAKE variable name")
    if not _VARIABLE.match(args.release_app_private_key_secret):
        problems.append(f"release_app_private_key_secret {args.release_app_private_key_secret!r}: not a secret name")
    if not _PINNED_GIT.search(args.chefchatz_requirement):
        problems.append(
            f"chefchatz_requirement {args.chefchatz_requirement!r}: must be 'name @ git+https://...@<40-hex sha>'"
        )
    scripts = [
        ("migration_command", args.migration_command),
        *(("test_commands", c) for c in args.test_commands),
    ]
    for attr, script in scripts:
        if not script.strip():
            problems.append(f"{attr}: empty command")
        if "${{" in script:
            problems.append(f"{attr} {script!r}: no ${{{{ }}}} expressions in scripts; use environment variables")
    if not args.test_commands:
        problems.append("test_commands: at least one command")
    if not re.match(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$", args.migrations_dir) or ".." in args.migrations_dir:
        problems.append(f"migrations_dir {args.migrations_dir!r}: a relative path inside the app repository")
    if not re.match(r"^/[A-Za-z0-9/_.-]*$", args.health_path):
        problems.append(f"health_path {args.health_path!r}: must be an absolute URL path")
    if not _DURATION.match(args.rollback_window):
        problems.append(f"rollback_window {args.rollback_window!r}: a duration like 10m")
    if not 0 <= args.rollout_max_holds <= 5:
        problems.append(f"rollout_max_holds {args.rollout_max_holds}: 0 to 5 extra steps")
    if not 2 <= args.rollback_samples <= 200:
        problems.append(
            f"rollback_samples {args.rollback_samples}: 2 to 200 probes per interval (fewer can never be "
            "evidence at 99 % confidence; more hammer the health endpoint every 30 s)"
        )
    if args.release_schedule not in ("weekly", "bi-weekly", "monthly"):
        problems.append(f"release_schedule {args.release_schedule!r}: one of weekly, bi-weekly, monthly")
    if not 0 <= args.release_weekday <= 6:
        problems.append(f"release_weekday {args.release_weekday}: 0 (Sunday) to 6 (Saturday)")
    if args.release_train_anchor.isoweekday() % 7 != args.release_weekday:
        problems.append(
            f"release_train_anchor {args.release_train_anchor}: must fall on release_weekday {args.release_weekday}"
        )
    if not 0 <= args.release_hour_utc <= 23:
        problems.append(f"release_hour_utc {args.release_hour_utc}: 0 to 23")
    if not re.match(r"^[a-z-]+$", args.release_type):
        problems.append(f"release_type {args.release_type!r}: a release-please release type such as node")
    if not re.match(r"^[A-Za-z0-9._/-]+$", args.default_branch):
        problems.append(f"default_branch {args.default_branch!r}: not a branch name")
    return problems


def required_variables(args: AppPipelineArgs) -> tuple[str, ...]:
    """GitHub environment variables every deploy environment must hold."""
    return (
        args.vercel_org_id_var,
        args.vercel_project_id_var,
        "BACKUP_BUCKET",
        "BACKUP_ROLE_ARN",
        "AWS_REGION",
        "ALERTS_TOPIC_ARN",
        "ROLLBACK_CONSECUTIVE",
        "ROLLBACK_ERROR_RATE",
        "ROLLBACK_RESPONSE_TIME",
        "ROLLBACK_FAILED_TRANSACTIONS",
        "ROLLBACK_AUTOMATIC",
        "HEALTH_CHECK_INTERVAL",
        "HEALTH_CHECK_TIMEOUT",
        *(("ROLLOUT_STEP_DURATION",) if args.production_rollout else ()),
    )


def required_secrets(args: AppPipelineArgs) -> tuple[str, ...]:
    """GitHub environment secrets every deploy environment must hold (NOTIFY_WEBHOOK_URL may be empty)."""
    del args
    return ("VERCEL_TOKEN", "DATABASE_URL", "NOTIFY_WEBHOOK_URL")
