"""The release process: the release train (`release-train.yml`, the release pull request on the
configured cadence) and `release.yml` (tags and publishes a merged release)."""

from __future__ import annotations

from datetime import date

from components.app_pipeline.actions import APP_TOKEN, RELEASE_PLEASE
from components.app_pipeline.args import AppPipelineArgs, ReleaseSchedule
from components.app_pipeline.steps import RUNNER, expr, header, job_steps, quote, step


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


def _app_token_step(args: AppPipelineArgs) -> str:
    # Only what release-please needs: write the release branch, tags and releases; open the PR.
    return step(
        "GitHub App token (its events start workflows; GITHUB_TOKEN's do not)",
        step_id="app-token",
        uses=APP_TOKEN,
        with_={
            "client-id": expr(f"vars.{args.release_app_client_id_var}"),
            "private-key": expr(f"secrets.{args.release_app_private_key_secret}"),
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
            header(
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
            f"      departs: {expr('steps.decide.outputs.departs')}",
            job_steps(
                step(
                    f"Does the {args.release_schedule} train depart today?",
                    step_id="decide",
                    env={
                        "EVENT_NAME": expr("github.event_name"),
                        "TRAIN_ANCHOR": quote(args.release_train_anchor.isoformat()),
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
            job_steps(
                token,
                step(
                    "Open or update the release pull request (semantic version, changelog)",
                    uses=RELEASE_PLEASE,
                    with_={
                        "token": expr("steps.app-token.outputs.token"),
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
            header(
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
            job_steps(
                token,
                step(
                    "Tag and publish a merged release",
                    step_id="release",
                    uses=RELEASE_PLEASE,
                    with_={
                        "token": expr("steps.app-token.outputs.token"),
                        "config-file": "release-please-config.json",
                        "manifest-file": ".release-please-manifest.json",
                        "target-branch": args.default_branch,
                        "skip-github-pull-request": "true",
                    },
                ),
                step(
                    "Summary",
                    env={
                        "RELEASE_CREATED": expr("steps.release.outputs.release_created"),
                        "TAG_NAME": expr("steps.release.outputs.tag_name"),
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
