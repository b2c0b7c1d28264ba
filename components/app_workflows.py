"""The ChefChatz app repository's CI/CD, generated as text by pure functions.

The `Repository` component commits these files to the app repository (through a reviewed pull
request), so the pipeline is versioned and reviewed with the infrastructure that backs it. Nothing
here imports Pulumi: every function turns a small frozen `AppPipelineArgs` into file contents, and
the tests lint the result with zizmor, GitHub's workflow schema and `policies.workflows`.

Files (`app_workflow_files(args)` returns them as a ``{path: content}`` dict):

- ``.github/workflows/ci.yml``: pull requests and main: ``test``, ``build`` and ``policy-gate``
  (zizmor over the repository's own workflows) - the required status checks of the default branch;
- ``.github/workflows/deploy.yml``: every push to main: test, then each non-production environment
  in order (dev -> staging), each job: build (``vercel build --prod``) -> pre-migration backup
  (``chefchatz backup db``) -> (staging, production) migration rehearsal on that backup
  (``chefchatz migrate rehearse``, report kept as an artifact) -> database migrations ->
  ``vercel deploy --prebuilt --prod`` ->
  ``chefchatz rollback watch`` -> notify. An environment only starts once the previous one
  deployed *and* passed its rollback watch: that is the promotion;
- ``.github/workflows/deploy-production.yml``: a published release: test at the release tag, the
  approval gate jobs (``production-tech-lead``), then the same deploy job in ``production``; with
  ``production_rollout`` the deploy starts a Vercel rolling release (a canary) that
  ``chefchatz rollout watch`` promotes stage by stage or aborts on real traffic, and the rollback
  watch then judges 100 % on real traffic (``--source metrics``);
- ``.github/workflows/release-train.yml``: the release train: a weekly schedule that only departs
  on the configured cadence (bi-weekly: even ISO weeks) and opens or updates the release pull
  request with release-please (semantic version and changelog from conventional commits);
- ``.github/workflows/release.yml``: every push to main: when the merged commit is a release pull
  request, release-please tags it and publishes the GitHub release, which starts the production
  deployment;
- ``release-please-config.json``: release-please's configuration;
- ``.github/CODEOWNERS`` (``codeowners(...)``): tech-lead owns infrastructure and migrations, both
  teams own the release files.

The deploy jobs read from their GitHub environment (managed by the same stack): the variables in
`required_variables(args)` and the secrets in `required_secrets(args)`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from urllib.parse import urlsplit

ReleaseSchedule = Literal["weekly", "bi-weekly", "monthly"]


@dataclass(frozen=True)
class PinnedAction:
    """A third-party action at a full commit SHA; `version` is the release tag that SHA carries."""

    repository: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.sha} # {self.version}"


# Every action the generated files use, pinned once. The SHAs are the commits the release tags
# point at (cross-checked in public workflows pinned by SHA, see docs/pipelines.md); this
# repository's own workflows use the same pins, and a test keeps both in step.
CHECKOUT = PinnedAction("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_NODE = PinnedAction("actions/setup-node", "820762786026740c76f36085b0efc47a31fe5020", "v7.0.0")
SETUP_PYTHON = PinnedAction("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
CONFIGURE_AWS = PinnedAction(
    "aws-actions/configure-aws-credentials", "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"
)
APP_TOKEN = PinnedAction("actions/create-github-app-token", "bcd2ba49218906704ab6c1aa796996da409d3eb1", "v3.2.0")
RELEASE_PLEASE = PinnedAction("googleapis/release-please-action", "45996ed1f6d02564a971a2fa1b5860e934307cf7", "v5.0.0")
GITHUB_SCRIPT = PinnedAction("actions/github-script", "3a2844b7e9c422d3c10d287c895573f7108da1b3", "v9.0.0")
PULUMI = PinnedAction("pulumi/actions", "8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0")
PULUMI_AUTH = PinnedAction("pulumi/auth-actions", "141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0")
UPLOAD_ARTIFACT = PinnedAction("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2")
# Used by this repository's drift workflow only; reviewed here with the other pins.
DOWNLOAD_ARTIFACT = PinnedAction("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0")

PINNED_ACTIONS: tuple[PinnedAction, ...] = (
    CHECKOUT,
    SETUP_NODE,
    SETUP_PYTHON,
    CONFIGURE_AWS,
    APP_TOKEN,
    RELEASE_PLEASE,
    GITHUB_SCRIPT,
    PULUMI,
    PULUMI_AUTH,
    UPLOAD_ARTIFACT,
    DOWNLOAD_ARTIFACT,
)

RUNNER = "ubuntu-24.04"


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


# --- release train ------------------------------------------------------------------------------


def release_cron(args: AppPipelineArgs) -> str:
    """The train's schedule: weekly at the configured hour and weekday (GitHub cron is UTC).

    GitHub's cron has no "every other week" (and day-of-month with day-of-week means *or*), so the
    workflow runs weekly and `train_departs` decides in a step whether this week's train leaves.

    >>> release_cron(AppPipelineArgs(chefchatz_requirement="x @ git+https://h/r@" + "0" * 40))
    '0 8 * * 1'
    """
    return f"0 {args.release_hour_utc} * * {args.release_weekday}"


def train_departs(schedule: ReleaseSchedule, day: date, anchor: date) -> bool:
    """Whether the scheduled run on `day` opens the release pull request.

    bi-weekly: an even number of weeks after `anchor` (a departure day). Not "even ISO weeks":
    ISO years with 53 weeks (2026 is one) put two odd weeks back to back, so that rule would skip
    week 53 *and* week 1 and leave a four-week gap at New Year. Counting weeks from a fixed day
    alternates forever. monthly: the first such weekday of the month (day 1-7).

    >>> anchor = date(2026, 1, 5)  # ISO week 2: departures fall on even ISO weeks in 2026
    >>> [train_departs("bi-weekly", day, anchor) for day in (date(2026, 12, 21), date(2026, 12, 28))]
    [True, False]
    >>> [train_departs("bi-weekly", day, anchor) for day in (date(2027, 1, 4), date(2027, 1, 11))]
    [True, False]
    """
    if schedule == "weekly":
        return True
    if schedule == "bi-weekly":
        return ((day - anchor).days // 7) % 2 == 0
    return day.day <= 7


_DEPARTURE_TEST = {
    "weekly": "true",
    "bi-weekly": '[ $(( ($(date -u -d "$TRAIN_DAY" +%s) - $(date -u -d "$TRAIN_ANCHOR" +%s)) / 604800 % 2 )) -eq 0 ]',
    "monthly": '[ "$(date -u -d "$TRAIN_DAY" +%-d)" -le 7 ]',
}


def departure_script(schedule: ReleaseSchedule) -> str:
    """The shell step that mirrors `train_departs` (TRAIN_DAY defaults to today, UTC)."""
    return "\n".join(
        [
            f"# Cadence: {schedule}. GitHub's cron has no 'every other week': the workflow runs weekly",
            "# and this decides whether today's train departs (bi-weekly: an even number of weeks after",
            "# TRAIN_ANCHOR; ISO week parity would skip two weeks in a row after a 53-week year).",
            'TRAIN_DAY="${TRAIN_DAY:-$(date -u +%F)}"',
            f'if [ "$EVENT_NAME" = workflow_dispatch ] || {_DEPARTURE_TEST[schedule]}; then',
            "  departs=true",
            "else",
            "  departs=false",
            "fi",
            'echo "departs=$departs" >> "$GITHUB_OUTPUT"',
            'echo "Release train on $TRAIN_DAY: departs=$departs" >> "$GITHUB_STEP_SUMMARY"',
        ]
    )


# --- text helpers -------------------------------------------------------------------------------


def _expr(expression: str) -> str:
    return "${{ " + expression + " }}"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _run(script: str) -> str:
    """A `run:` value: one line inline when it is safe to, otherwise a literal block."""
    if "\n" not in script and not re.search(r"[:#'\"{}\[\],&*!|>%@`]|^[-?]", script):
        return f"run: {script}"
    return "run: |\n" + _indent(script, 2)


def _host(url: str) -> str:
    """The host name of an environment's origin (`https://chefchatz.com` -> `chefchatz.com`)."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"environment url {url!r} has no host name")
    return host


def _quote(value: str) -> str:
    return json.dumps(value)


# Where the guards (rollback watch, rollout watch) send what they did: the chat webhook, and the stack's
# alerts topic, whose subscribers are its email targets (space-separated, as `--notify`'s env var takes).
GUARD_NOTIFY = _quote(f"{_expr('secrets.NOTIFY_WEBHOOK_URL')} sns:{_expr('vars.ALERTS_TOPIC_ARN')}")


def _step(
    name: str,
    *,
    uses: PinnedAction | None = None,
    run: str | None = None,
    with_: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    step_id: str | None = None,
    condition: str | None = None,
) -> str:
    lines = [f"- name: {_quote(name) if re.search(r': | #|^[^A-Za-z0-9(]', name) else name}"]
    if step_id:
        lines.append(f"  id: {step_id}")
    if condition:
        lines.append(f"  if: {condition}")
    if uses:
        lines.append(f"  uses: {uses.uses}")
    if with_:
        lines.append("  with:")
        lines.extend(f"    {k}: {v}" for k, v in with_.items())
    if env:
        lines.append("  env:")
        lines.extend(f"    {k}: {v}" for k, v in env.items())
    if run is not None:
        lines.append(_indent(_run(run), 2))
    return "\n".join(lines)


def _steps(*steps: str) -> str:
    return "    steps:\n" + "\n".join(_indent(s, 6) for s in steps)


def _checkout() -> str:
    return _step("Check out", uses=CHECKOUT, with_={"persist-credentials": "false"})


def _node_toolchain(args: AppPipelineArgs, *, vercel: bool = False) -> list[str]:
    """Node.js, pnpm (and for deploy jobs the Vercel CLI) at exact versions, then the locked deps."""
    tools = {"PNPM_VERSION": _quote(args.pnpm_version)}
    packages = '"pnpm@${PNPM_VERSION}"'
    if vercel:
        tools["VERCEL_CLI_VERSION"] = _quote(args.vercel_cli_version)
        packages += ' "vercel@${VERCEL_CLI_VERSION}"'
    return [
        # No dependency cache: a cache written by one run can poison a later release build.
        _step(
            "Set up Node.js",
            uses=SETUP_NODE,
            with_={"node-version": _quote(str(args.node_major)), "package-manager-cache": "false"},
        ),
        _step(
            "Install pnpm and the Vercel CLI (exact versions)" if vercel else "Install pnpm (exact version)",
            env=tools,
            run=f"npm install --global {packages}",
        ),
        _step("Install dependencies", run="pnpm install --frozen-lockfile"),
    ]


def _header(title: str, comment: str) -> str:
    return "\n".join(
        [
            "# Managed by chefchatz-infra (components/app_workflows.py): change it there, not here.",
            *(f"# {line}" if line else "#" for line in comment.splitlines()),
            f"name: {title}",
        ]
    )


# --- jobs ---------------------------------------------------------------------------------------


def _test_job(args: AppPipelineArgs, needs: str | None = None) -> str:
    head = ["  test:", "    name: test"]
    if needs:
        head.append(f"    needs: {needs}")
    head += [f"    runs-on: {RUNNER}", "    timeout-minutes: 20", "    permissions:", "      contents: read"]
    steps = [_checkout(), *_node_toolchain(args)]
    steps += [_step(f"Run `{c}`", run=c) for c in args.test_commands]
    return "\n".join([*head, _steps(*steps)])


def _gate_job(gate: str, needs: str) -> tuple[str, str]:
    job_id = f"approve-{gate}"
    text = "\n".join(
        [
            f"  {job_id}:",
            f"    name: approval ({gate})",
            f"    needs: {needs}",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 5",
            f"    # Waits for the required reviewers of the `{gate}` environment.",
            f"    environment: {gate}",
            "    permissions: {}",
            _steps(
                _step(
                    "Record the approval",
                    env={"GATE": gate},
                    run='echo "Approved through ${GATE} for ${GITHUB_REF_NAME} (${GITHUB_SHA})."',
                )
            ),
        ]
    )
    return job_id, text


REHEARSAL_REPORT = "migration-rehearsal.json"


def _rehearsal_steps(args: AppPipelineArgs, env: AppEnvironment) -> list[str]:
    """Start a scratch PostgreSQL, rehearse the migrations on the backup just taken, keep the report.

    The scratch server listens on a Unix socket in RUNNER_TEMP only (no TCP, trust auth for the
    runner's own user), so no password exists to leak. The report is uploaded even when the
    rehearsal fails: it is the evidence of why.
    """
    socket_dir = "${RUNNER_TEMP}"
    scratch_url = f"postgresql://postgres@/chefchatz_scratch?host={socket_dir}"
    rehearse = " \\\n".join(
        [
            "chefchatz migrate rehearse",
            f"  --migrations {_quote(args.migrations_dir)}",
            f"  --stack {env.stack}",
            f'  --scratch-url "{scratch_url}"',
            '  --bucket "$BACKUP_BUCKET"',
            "  --backup-id latest",
            f"  --report {REHEARSAL_REPORT}",
        ]
    )
    return [
        _step(
            "Scratch PostgreSQL for the migration rehearsal",
            env={"POSTGRES_MAJOR": _quote(str(args.postgres_client_major))},
            run='bindir="/usr/lib/postgresql/${POSTGRES_MAJOR}/bin"\n'
            'data="${RUNNER_TEMP}/scratch-pg"\n'
            '"$bindir/initdb" -D "$data" -U postgres --auth=trust --no-sync > /dev/null\n'
            '"$bindir/pg_ctl" -D "$data" -l "${RUNNER_TEMP}/scratch-pg.log" -w \\\n'
            "  -o \"-c listen_addresses='' -k ${RUNNER_TEMP}\" start\n"
            "# Supabase's API roles: the restored row-level-security policies name them.\n"
            "for role in anon authenticated service_role; do\n"
            '  psql -h "$RUNNER_TEMP" -U postgres -d postgres -qc "CREATE ROLE $role NOLOGIN"\n'
            "done",
        ),
        _step(
            "Migration rehearsal on the pre-migration backup",
            env={"BACKUP_BUCKET": _expr("vars.BACKUP_BUCKET")},
            run=rehearse,
        ),
        _step(
            "Keep the migration rehearsal report",
            uses=UPLOAD_ARTIFACT,
            condition="${{ !cancelled() }}",
            with_={
                "name": f"migration-rehearsal-{env.name}",
                "path": REHEARSAL_REPORT,
                "if-no-files-found": "warn",
                "retention-days": "30",
            },
        ),
    ]


def _rollout_steps(args: AppPipelineArgs, env: AppEnvironment) -> list[str]:
    """Production as a canary: fresh AWS credentials for the SLO metrics, then `chefchatz rollout watch`."""
    watch = " \\\n".join(
        [
            "chefchatz rollout watch",
            f"  --stack {env.stack}",
            f'  --project-id "${args.vercel_project_id_var}"',
            f'  --team-id "${args.vercel_org_id_var}"',
            '  --deployment-url "$DEPLOYMENT_URL"',
            '  --step "$ROLLOUT_STEP_DURATION"',
            f"  --max-holds {args.rollout_max_holds}",
            '  --error-rate "$ROLLBACK_ERROR_RATE"',
            '  --failed-transactions "$ROLLBACK_FAILED_TRANSACTIONS"',
        ]
    )
    return [
        _step(
            "AWS credentials for the SLO metrics (OIDC, a fresh session for the rollout)",
            uses=CONFIGURE_AWS,
            with_={
                "role-to-assume": _expr("vars.BACKUP_ROLE_ARN"),
                "aws-region": _expr("vars.AWS_REGION"),
                "role-session-name": f"chefchatz-rollout-{env.name}",
            },
        ),
        _step(
            "Rollout (canary stages judged on real traffic; aborts and fails the job on a regression)",
            env={
                "VERCEL_TOKEN": _expr("secrets.VERCEL_TOKEN"),
                "CHEFCHATZ_ROLLBACK_NOTIFY": GUARD_NOTIFY,
                "DEPLOYMENT_URL": _expr("steps.deploy.outputs.url"),
                **{
                    name: _expr(f"vars.{name}")
                    for name in ("ROLLOUT_STEP_DURATION", "ROLLBACK_ERROR_RATE", "ROLLBACK_FAILED_TRANSACTIONS")
                },
            },
            run=watch,
        ),
    ]


# `vercel pull` writes KEY="[SENSITIVE]" for every sensitive variable (a sensitive value cannot be
# read back) and `vercel build` then loads that literal as the value (vercel/vercel issue 17514, CLI
# `env/pull.ts` SENSITIVE_PLACEHOLDER). The lines are dropped so the build sees such a variable unset
# and fails loudly if it needs one, instead of baking "[SENSITIVE]" in; the deployment itself gets
# the real values from the project at run time. A value the build truly needs goes into this
# step's env from a GitHub environment secret (it wins over the file).
SENSITIVE_PLACEHOLDERS_DROPPED = (
    "env_file=.vercel/.env.production.local\n"
    'if grep -q \'="\\[SENSITIVE\\]"$\' "$env_file"; then\n'
    '  echo "Sensitive variables are left to run time (unset during the build):"\n'
    '  grep \'="\\[SENSITIVE\\]"$\' "$env_file" | cut -d= -f1\n'
    '  sed -i \'/="\\[SENSITIVE\\]"$/d\' "$env_file"\n'
    "fi\n"
)


def _deploy_job(args: AppPipelineArgs, env: AppEnvironment, needs: str) -> tuple[str, str]:
    job_id = f"deploy-{env.name}"
    rollout = env.production and args.production_rollout
    vercel_env = {"VERCEL_TOKEN": _expr("secrets.VERCEL_TOKEN")}
    database_env = {"DATABASE_URL": _expr("secrets.DATABASE_URL")}
    watch = " \\\n".join(
        [
            "chefchatz rollback watch",
            f"  --deployment-url {_quote(env.url)}",
            f'  --project-id "${args.vercel_project_id_var}"',
            f'  --team-id "${args.vercel_org_id_var}"',
            f"  --health-path {_quote(args.health_path)}",
            f"  --window {args.rollback_window}",
            f"  --samples {args.rollback_samples}",
            '  --interval "$HEALTH_CHECK_INTERVAL"',
            '  --timeout "$HEALTH_CHECK_TIMEOUT"',
            '  --consecutive "$ROLLBACK_CONSECUTIVE"',
            '  --error-rate "$ROLLBACK_ERROR_RATE"',
            '  --response-time "$ROLLBACK_RESPONSE_TIME"',
            '  --failed-transactions "$ROLLBACK_FAILED_TRANSACTIONS"',
            # After a rollout the canary is at 100 %: real traffic judges it, the probes are the fallback.
            *([f"  --source metrics --stack {env.stack}"] if rollout else []),
            '  "$automatic"',
        ]
    )
    steps = [
        _checkout(),
        *_node_toolchain(args, vercel=True),
        _step(
            "Build (vercel build --prod)",
            env=vercel_env,
            run='vercel pull --yes --environment=production --token "$VERCEL_TOKEN"\n'
            + SENSITIVE_PLACEHOLDERS_DROPPED
            + 'vercel build --prod --token "$VERCEL_TOKEN"',
        ),
        _step(
            "Set up Python for the chefchatz tool",
            uses=SETUP_PYTHON,
            with_={"python-version": _quote(args.python_version)},
        ),
        _step(
            f"Install the chefchatz tool and the PostgreSQL {args.postgres_client_major} "
            + ("server (client and scratch database)" if env.rehearse_migrations else "client"),
            env={
                "CHEFCHATZ_REQUIREMENT": _quote(args.chefchatz_requirement),
                "POSTGRES_MAJOR": _quote(str(args.postgres_client_major)),
            },
            run="sudo /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y\n"
            "sudo apt-get install --yes --no-install-recommends "
            + (
                '"postgresql-${POSTGRES_MAJOR}"\n'
                if env.rehearse_migrations
                else '"postgresql-client-${POSTGRES_MAJOR}"\n'
            )
            + 'python -m pip install "$CHEFCHATZ_REQUIREMENT"',
        ),
        _step(
            "AWS credentials for the backup bucket (OIDC)",
            uses=CONFIGURE_AWS,
            with_={
                "role-to-assume": _expr("vars.BACKUP_ROLE_ARN"),
                "aws-region": _expr("vars.AWS_REGION"),
                "role-session-name": f"chefchatz-deploy-{env.name}",
            },
        ),
        _step(
            "Pre-migration backup",
            env={**database_env, "BACKUP_BUCKET": _expr("vars.BACKUP_BUCKET")},
            run=f'chefchatz backup db --database-url "$DATABASE_URL" --bucket "$BACKUP_BUCKET" --stack {env.stack}',
        ),
        *(_rehearsal_steps(args, env) if env.rehearse_migrations else []),
        _step("Database migrations", env=database_env, run=args.migration_command),
        _step(
            "Deploy to Vercel (prebuilt)",
            step_id="deploy",
            env=vercel_env,
            run='url="$(vercel deploy --prebuilt --prod --token "$VERCEL_TOKEN")"\n'
            'echo "url=$url" >> "$GITHUB_OUTPUT"\n'
            'echo "Deployed $url" >> "$GITHUB_STEP_SUMMARY"',
        ),
        *(_rollout_steps(args, env) if rollout else []),
        _step(
            "Rollback watch (the spec's triggers; rolls back and fails the job on a breach)",
            env={
                **vercel_env,
                "CHEFCHATZ_ROLLBACK_NOTIFY": GUARD_NOTIFY,
                **{
                    name: _expr(f"vars.{name}")
                    for name in (
                        "HEALTH_CHECK_INTERVAL",
                        "HEALTH_CHECK_TIMEOUT",
                        "ROLLBACK_CONSECUTIVE",
                        "ROLLBACK_ERROR_RATE",
                        "ROLLBACK_RESPONSE_TIME",
                        "ROLLBACK_FAILED_TRANSACTIONS",
                        "ROLLBACK_AUTOMATIC",
                    )
                },
            },
            run="automatic=--no-automatic\n"
            'if [ "$ROLLBACK_AUTOMATIC" = "true" ]; then automatic=--automatic; fi\n' + watch,
        ),
        _step(
            "TLS check (the live domain against the spec: TLS >= 1.2, allowed ciphers, trusted certificate)",
            run=f"chefchatz tls-check {_quote(_host(env.url))} --platform-exception vercel",
        ),
        _step(
            "Notify",
            condition="always()",
            env={
                "NOTIFY_WEBHOOK_URL": _expr("secrets.NOTIFY_WEBHOOK_URL"),
                "JOB_STATUS": _expr("job.status"),
                "ENVIRONMENT": env.name,
            },
            run='[ -n "$NOTIFY_WEBHOOK_URL" ] || exit 0\n'
            'run_url="${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}"\n'
            'text="ChefChatz ${ENVIRONMENT}: deploy of ${GITHUB_REF_NAME} (${GITHUB_SHA:0:12})'
            ' ${JOB_STATUS} - ${run_url}"\n'
            "jq -n --arg text \"$text\" '{text: $text}' \\\n"
            "  | curl --fail --silent --show-error --max-time 10 \\\n"
            "      -H 'Content-Type: application/json' --data @- \"$NOTIFY_WEBHOOK_URL\"",
        ),
    ]
    text = "\n".join(
        [
            f"  {job_id}:",
            f"    name: deploy ({env.name})",
            f"    needs: {needs}",
            f"    runs-on: {RUNNER}",
            f"    timeout-minutes: {180 if rollout else 60}",
            "    environment:",
            f"      name: {env.github_environment}",
            f"      url: {env.url}",
            "    # One deployment per environment at a time, never cancelled halfway, and every waiting",
            "    # one deploys in turn (queue: max, first in first out; GitHub's default keeps one pending",
            "    # and cancels it when a newer one arrives). The group differs from the workflow's own:",
            "    # sharing it would deadlock the run.",
            "    concurrency:",
            f"      group: environment-{env.github_environment}",
            "      cancel-in-progress: false",
            "      queue: max",
            "    permissions:",
            "      contents: read",
            "      id-token: write # OIDC for the backup role: no stored AWS keys",
            "    env:",
            f"      {args.vercel_org_id_var}: {_expr('vars.' + args.vercel_org_id_var)}",
            f"      {args.vercel_project_id_var}: {_expr('vars.' + args.vercel_project_id_var)}",
            _steps(*steps),
        ]
    )
    return job_id, text


# --- files --------------------------------------------------------------------------------------


def ci_workflow(args: AppPipelineArgs) -> str:
    """Pull requests and main: the three required checks (test, build, policy-gate)."""
    build_steps = [
        _checkout(),
        *_node_toolchain(args),
        _step("Build", run="pnpm build"),
    ]
    gate_steps = [
        _checkout(),
        _step("Set up Python", uses=SETUP_PYTHON, with_={"python-version": _quote(args.python_version)}),
        _step(
            "Audit the workflows with zizmor (medium severity and above fail)",
            env={"ZIZMOR_VERSION": _quote(args.zizmor_version)},
            run='python -m pip install "zizmor==${ZIZMOR_VERSION}"\n'
            "zizmor --offline --min-severity medium .github/workflows",
        ),
    ]
    return "\n".join(
        [
            _header(
                "CI",
                "Runs on `pull_request` (never `pull_request_target`): code from forks gets a read-only\n"
                "token and no secrets. The job names are the default branch's required status checks.",
            ),
            "",
            "on:",
            "  pull_request:",
            f"    branches: [{args.default_branch}]",
            "  push:",
            f"    branches: [{args.default_branch}]",
            "",
            "permissions: {}",
            "",
            "concurrency:",
            f"  group: ci-{_expr('github.event.pull_request.number || github.ref')}",
            "  cancel-in-progress: true",
            "",
            "jobs:",
            _test_job(args),
            "",
            "  build:",
            "    name: build",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 20",
            "    permissions:",
            "      contents: read",
            _steps(*build_steps),
            "",
            "  policy-gate:",
            "    name: policy-gate",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 10",
            "    permissions:",
            "      contents: read",
            _steps(*gate_steps),
            "",
        ]
    )


def deploy_workflow(args: AppPipelineArgs) -> str:
    """Push to main: test, then every non-production environment in promotion order."""
    jobs = [_test_job(args)]
    previous = "test"
    for env in args.pre_production:
        for gate in env.approval_environments:
            previous, text = _gate_job(gate, previous)
            jobs.append(text)
        previous, text = _deploy_job(args, env, previous)
        jobs.append(text)
    order = " -> ".join(e.name for e in args.pre_production)
    return "\n".join(
        [
            _header(
                "Deploy",
                f"Every push to {args.default_branch}: test -> {order}. Each environment: build ->\n"
                "pre-migration backup -> migrations -> deploy (prebuilt) -> rollback watch -> TLS check ->\n"
                "notify; the next one starts only after the previous passed its watch (promotion). Production\n"
                "deploys from releases (deploy-production.yml).",
            ),
            "",
            "on:",
            "  push:",
            f"    branches: [{args.default_branch}]",
            "",
            "permissions: {}",
            "",
            "# No workflow-wide concurrency group: a run waiting for a staging approval must not hold",
            "# back a later push's dev deploy. Each deploy job queues in its environment's own group",
            "# instead (queue: max, first in first out), so every push reaches each environment in order.",
            "",
            "jobs:",
            "\n\n".join(jobs),
            "",
        ]
    )


def deploy_production_workflow(args: AppPipelineArgs) -> str:
    """A published release: test at the tag, the approval gates, then the production deploy."""
    production = args.production
    jobs = [_test_job(args)]
    previous = "test"
    for gate in production.approval_environments:
        previous, text = _gate_job(gate, previous)
        jobs.append(text)
    _, text = _deploy_job(args, production, previous)
    jobs.append(text)
    gates = " -> ".join((*production.approval_environments, production.github_environment))
    return "\n".join(
        [
            _header(
                "Deploy production",
                "A published release (tag vX.Y.Z, created by release.yml) goes to production after its\n"
                f"approvals, in order: {gates}.\n"
                "Each gate is one GitHub environment whose reviewers are one team, because GitHub accepts\n"
                "any one reviewer of an environment.",
            ),
            "",
            "on:",
            "  release:",
            "    types: [published]",
            "",
            "permissions: {}",
            "",
            "concurrency:",
            "  group: deploy-production",
            "  cancel-in-progress: false",
            "",
            "jobs:",
            "\n\n".join(jobs),
            "",
        ]
    )


def _app_token_step(args: AppPipelineArgs) -> str:
    # Only what release-please needs: write the release branch, tags and releases; open the PR.
    return _step(
        "GitHub App token (its events start workflows; GITHUB_TOKEN's do not)",
        step_id="app-token",
        uses=APP_TOKEN,
        with_={
            "client-id": _expr(f"vars.{args.release_app_client_id_var}"),
            "private-key": _expr(f"secrets.{args.release_app_private_key_secret}"),
            "permission-contents": "write",
            "permission-pull-requests": "write",
        },
    )


def release_train_workflow(args: AppPipelineArgs) -> str:
    """The scheduled train that opens or updates the release pull request."""
    schedule_text = {
        "weekly": "every week",
        "bi-weekly": f"every other week (from {args.release_train_anchor.isoformat()})",
        "monthly": "the first run of each month",
    }[args.release_schedule]
    token = _app_token_step(args)
    return "\n".join(
        [
            _header(
                "Release train",
                f"Opens or updates the release pull request {schedule_text}. GitHub's cron has no\n"
                '"every other week", so the schedule is weekly and the first job decides whether this\n'
                "week's train departs. Merging the release pull request needs the tech-lead and the\n"
                "product-owner approvals (branch ruleset); release.yml then tags and publishes it.",
            ),
            "",
            "on:",
            "  schedule:",
            f'    - cron: "{release_cron(args)}"',
            "  workflow_dispatch: {}",
            "",
            "permissions: {}",
            "",
            "concurrency:",
            "  group: release-train",
            "  cancel-in-progress: false",
            "",
            "jobs:",
            "  departure:",
            "    name: departure",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 5",
            "    permissions: {}",
            "    outputs:",
            f"      departs: {_expr('steps.decide.outputs.departs')}",
            _steps(
                _step(
                    f"Does the {args.release_schedule} train depart today?",
                    step_id="decide",
                    env={
                        "EVENT_NAME": _expr("github.event_name"),
                        "TRAIN_ANCHOR": _quote(args.release_train_anchor.isoformat()),
                    },
                    run=departure_script(args.release_schedule),
                )
            ),
            "",
            "  release-pr:",
            "    name: release pull request",
            "    needs: departure",
            "    if: needs.departure.outputs.departs == 'true'",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 10",
            "    # The App's key is an environment secret: only jobs in this environment can read it.",
            f"    environment: {args.release_environment}",
            "    # The App token writes; the workflow token needs no scope.",
            "    permissions: {}",
            _steps(
                token,
                _step(
                    "Open or update the release pull request (semantic version, changelog)",
                    uses=RELEASE_PLEASE,
                    with_={
                        "token": _expr("steps.app-token.outputs.token"),
                        "config-file": "release-please-config.json",
                        "manifest-file": ".release-please-manifest.json",
                        "target-branch": args.default_branch,
                        "skip-github-release": "true",
                    },
                ),
            ),
            "",
        ]
    )


def release_workflow(args: AppPipelineArgs) -> str:
    """After a release pull request is merged: tag and publish the release (which deploys it)."""
    token = _app_token_step(args)
    return "\n".join(
        [
            _header(
                "Release",
                f"Every push to {args.default_branch}: if it merged the release pull request, tag vX.Y.Z\n"
                "and publish the GitHub release with its changelog. Published with the App token, the\n"
                "release starts deploy-production.yml. Other pushes: nothing to release.",
            ),
            "",
            "on:",
            "  push:",
            f"    branches: [{args.default_branch}]",
            "",
            "permissions: {}",
            "",
            "concurrency:",
            "  group: release",
            "  cancel-in-progress: false",
            "",
            "jobs:",
            "  release:",
            "    name: release",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 10",
            "    # The App's key is an environment secret: only jobs in this environment can read it.",
            f"    environment: {args.release_environment}",
            "    # The App token writes; the workflow token needs no scope.",
            "    permissions: {}",
            _steps(
                token,
                _step(
                    "Tag and publish a merged release",
                    step_id="release",
                    uses=RELEASE_PLEASE,
                    with_={
                        "token": _expr("steps.app-token.outputs.token"),
                        "config-file": "release-please-config.json",
                        "manifest-file": ".release-please-manifest.json",
                        "target-branch": args.default_branch,
                        "skip-github-pull-request": "true",
                    },
                ),
                _step(
                    "Summary",
                    env={
                        "RELEASE_CREATED": _expr("steps.release.outputs.release_created"),
                        "TAG_NAME": _expr("steps.release.outputs.tag_name"),
                    },
                    run='if [ "$RELEASE_CREATED" = "true" ]; then\n'
                    '  echo "Released ${TAG_NAME}: deploy-production.yml deploys it." \\\n'
                    '    >> "$GITHUB_STEP_SUMMARY"\n'
                    "else\n"
                    '  echo "No release pull request merged: nothing to release." >> "$GITHUB_STEP_SUMMARY"\n'
                    "fi",
                ),
            ),
            "",
        ]
    )


def release_please_config(args: AppPipelineArgs) -> str:
    """release-please's configuration: one package at the root, semantic versions, CHANGELOG.md."""
    config = {
        "$schema": "https://raw.githubusercontent.com/googleapis/release-please/main/schemas/config.json",
        "release-type": args.release_type,
        "include-v-in-tag": True,
        "include-component-in-tag": False,
        "pull-request-title-pattern": "chore: release ${version}",
        "packages": {
            ".": {
                "changelog-path": "CHANGELOG.md",
                "changelog-sections": [
                    {"type": "feat", "section": "Features"},
                    {"type": "fix", "section": "Bug Fixes"},
                    {"type": "perf", "section": "Performance"},
                    {"type": "revert", "section": "Reverts"},
                    {"type": "deps", "section": "Dependencies"},
                    {"type": "docs", "section": "Documentation", "hidden": True},
                    {"type": "chore", "section": "Miscellaneous", "hidden": True},
                ],
            }
        },
    }
    return json.dumps(config, indent=2) + "\n"


RELEASE_FILES: tuple[str, ...] = (
    "/CHANGELOG.md",
    "/release-please-config.json",
    "/.release-please-manifest.json",
    "/.github/workflows/release.yml",
    "/.github/workflows/release-train.yml",
    "/.github/workflows/deploy-production.yml",
)
INFRA_PATHS: tuple[str, ...] = (
    "/.github/",
    "/supabase/",
    "/vercel.json",
)


def codeowners(
    organization: str,
    *,
    tech_lead_team: str = "tech-lead",
    product_owner_team: str = "product-owner",
    default_owners: tuple[str, ...] = (),
) -> str:
    """CODEOWNERS: tech-lead owns infrastructure and migrations; both teams own the release files.

    CODEOWNERS alone lets any *one* listed owner approve; the default branch's ruleset (per-team
    required reviewers) is what makes both teams' approvals mandatory on release files.

    >>> "/supabase/ @chefchatz/tech-lead" in codeowners("chefchatz")
    True
    """
    for label, team in (("tech_lead_team", tech_lead_team), ("product_owner_team", product_owner_team)):
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", team):
            raise ValueError(f"{label} {team!r}: not a GitHub team slug")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", organization):
        raise ValueError(f"organization {organization!r}: not a GitHub organization name")
    for owner in default_owners:
        if not re.match(r"^@[A-Za-z0-9][A-Za-z0-9-]*(/[a-z0-9][a-z0-9_-]*)?$", owner):
            raise ValueError(f"default_owners {owner!r}: expected @user or @org/team")
    tech_lead = f"@{organization}/{tech_lead_team}"
    both = f"{tech_lead} @{organization}/{product_owner_team}"
    lines = [
        "# Managed by chefchatz-infra (components/app_workflows.py): change it there, not here.",
        "# The last matching pattern wins, so specific paths come after general ones.",
    ]
    if default_owners:
        lines += ["", "# Everything else.", f"* {' '.join(default_owners)}"]
    lines += ["", "# Infrastructure, pipelines and database migrations: the tech-lead team."]
    lines += [f"{path} {tech_lead}" for path in INFRA_PATHS]
    lines += ["", "# Release files: both teams (the ruleset requires an approval from each)."]
    lines += [f"{path} {both}" for path in RELEASE_FILES]
    return "\n".join(lines) + "\n"


def app_workflow_files(args: AppPipelineArgs) -> dict[str, str]:
    """Every generated file of the app repository's pipeline, by path (CODEOWNERS: `codeowners`)."""
    return {
        ".github/workflows/ci.yml": ci_workflow(args),
        ".github/workflows/deploy.yml": deploy_workflow(args),
        ".github/workflows/deploy-production.yml": deploy_production_workflow(args),
        ".github/workflows/release-train.yml": release_train_workflow(args),
        ".github/workflows/release.yml": release_workflow(args),
        "release-please-config.json": release_please_config(args),
    }
