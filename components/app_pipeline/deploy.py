"""The deploy workflows: `deploy.yml` (main, through the pre-production environments in promotion order)
and `deploy-production.yml` (a published release, after its approvals); both run the same deploy job."""

from __future__ import annotations

from urllib.parse import urlsplit

from components.app_pipeline.actions import CONFIGURE_AWS, SETUP_PYTHON, UPLOAD_ARTIFACT
from components.app_pipeline.args import AppEnvironment, AppPipelineArgs
from components.app_pipeline.steps import (
    RUNNER,
    approval_gate_job,
    checkout,
    expr,
    header,
    job_steps,
    node_toolchain,
    quote,
    run_tests_job,
    step,
)


def _host(url: str) -> str:
    """The host name of an environment's origin (`https://chefchatz.com` -> `chefchatz.com`)."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"environment url {url!r} has no host name")
    return host


# Where the guards (rollback watch, rollout watch) send what they did: the chat webhook, and the stack's
# alerts topic, whose subscribers are its email targets (space-separated, as `--notify`'s env var takes).
GUARD_NOTIFY = quote(f"{expr('secrets.NOTIFY_WEBHOOK_URL')} sns:{expr('vars.ALERTS_TOPIC_ARN')}")


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
            f"  --migrations {quote(args.migrations_dir)}",
            f"  --stack {env.stack}",
            f'  --scratch-url "{scratch_url}"',
            '  --bucket "$BACKUP_BUCKET"',
            "  --backup-id latest",
            f"  --report {REHEARSAL_REPORT}",
        ]
    )
    return [
        step(
            "Scratch PostgreSQL for the migration rehearsal",
            env={"POSTGRES_MAJOR": quote(str(args.postgres_client_major))},
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
        step(
            "Migration rehearsal on the pre-migration backup",
            env={"BACKUP_BUCKET": expr("vars.BACKUP_BUCKET")},
            run=rehearse,
        ),
        step(
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
        step(
            "AWS credentials for the SLO metrics (OIDC, a fresh session for the rollout)",
            uses=CONFIGURE_AWS,
            with_={
                "role-to-assume": expr("vars.BACKUP_ROLE_ARN"),
                "aws-region": expr("vars.AWS_REGION"),
                "role-session-name": f"chefchatz-rollout-{env.name}",
            },
        ),
        step(
            "Rollout (canary stages judged on real traffic; aborts and fails the job on a regression)",
            env={
                "VERCEL_TOKEN": expr("secrets.VERCEL_TOKEN"),
                "CHEFCHATZ_ROLLBACK_NOTIFY": GUARD_NOTIFY,
                "DEPLOYMENT_URL": expr("steps.deploy.outputs.url"),
                **{
                    name: expr(f"vars.{name}")
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
    vercel_env = {"VERCEL_TOKEN": expr("secrets.VERCEL_TOKEN")}
    database_env = {"DATABASE_URL": expr("secrets.DATABASE_URL")}
    watch = " \\\n".join(
        [
            "chefchatz rollback watch",
            f"  --deployment-url {quote(env.url)}",
            f'  --project-id "${args.vercel_project_id_var}"',
            f'  --team-id "${args.vercel_org_id_var}"',
            f"  --health-path {quote(args.health_path)}",
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
        checkout(),
        *node_toolchain(args, vercel=True),
        step(
            "Build (vercel build --prod)",
            env=vercel_env,
            run='vercel pull --yes --environment=production --token "$VERCEL_TOKEN"\n'
            + SENSITIVE_PLACEHOLDERS_DROPPED
            + 'vercel build --prod --token "$VERCEL_TOKEN"',
        ),
        step(
            "Set up Python for the chefchatz tool",
            uses=SETUP_PYTHON,
            with_={"python-version": quote(args.python_version)},
        ),
        step(
            f"Install the chefchatz tool and the PostgreSQL {args.postgres_client_major} "
            + ("server (client and scratch database)" if env.rehearse_migrations else "client"),
            env={
                "CHEFCHATZ_REQUIREMENT": quote(args.chefchatz_requirement),
                "POSTGRES_MAJOR": quote(str(args.postgres_client_major)),
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
        step(
            "AWS credentials for the backup bucket (OIDC)",
            uses=CONFIGURE_AWS,
            with_={
                "role-to-assume": expr("vars.BACKUP_ROLE_ARN"),
                "aws-region": expr("vars.AWS_REGION"),
                "role-session-name": f"chefchatz-deploy-{env.name}",
            },
        ),
        step(
            "Pre-migration backup",
            env={**database_env, "BACKUP_BUCKET": expr("vars.BACKUP_BUCKET")},
            run=f'chefchatz backup db --database-url "$DATABASE_URL" --bucket "$BACKUP_BUCKET" --stack {env.stack}',
        ),
        *(_rehearsal_steps(args, env) if env.rehearse_migrations else []),
        step("Database migrations", env=database_env, run=args.migration_command),
        step(
            "Deploy to Vercel (prebuilt)",
            step_id="deploy",
            env=vercel_env,
            run='url="$(vercel deploy --prebuilt --prod --token "$VERCEL_TOKEN")"\n'
            'echo "url=$url" >> "$GITHUB_OUTPUT"\n'
            'echo "Deployed $url" >> "$GITHUB_STEP_SUMMARY"',
        ),
        *(_rollout_steps(args, env) if rollout else []),
        step(
            "Rollback watch (the spec's triggers; rolls back and fails the job on a breach)",
            env={
                **vercel_env,
                "CHEFCHATZ_ROLLBACK_NOTIFY": GUARD_NOTIFY,
                **{
                    name: expr(f"vars.{name}")
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
        step(
            "TLS check (the live domain against the spec: TLS >= 1.2, allowed ciphers, trusted certificate)",
            run=f"chefchatz tls-check {quote(_host(env.url))} --platform-exception vercel",
        ),
        step(
            "Notify",
            condition="always()",
            env={
                "NOTIFY_WEBHOOK_URL": expr("secrets.NOTIFY_WEBHOOK_URL"),
                "JOB_STATUS": expr("job.status"),
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
            f"      {args.vercel_org_id_var}: {expr('vars.' + args.vercel_org_id_var)}",
            f"      {args.vercel_project_id_var}: {expr('vars.' + args.vercel_project_id_var)}",
            job_steps(*steps),
        ]
    )
    return job_id, text


def deploy_workflow(args: AppPipelineArgs) -> str:
    """Push to main: test, then every non-production environment in promotion order."""
    jobs = [run_tests_job(args)]
    previous = "test"
    for env in args.pre_production:
        for gate in env.approval_environments:
            previous, text = approval_gate_job(gate, previous)
            jobs.append(text)
        previous, text = _deploy_job(args, env, previous)
        jobs.append(text)
    order = " -> ".join(e.name for e in args.pre_production)
    return "\n".join(
        [
            header(
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
    jobs = [run_tests_job(args)]
    previous = "test"
    for gate in production.approval_environments:
        previous, text = approval_gate_job(gate, previous)
        jobs.append(text)
    _, text = _deploy_job(args, production, previous)
    jobs.append(text)
    gates = " -> ".join((*production.approval_environments, production.github_environment))
    return "\n".join(
        [
            header(
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
