"""Rolling production back on Vercel: the target, idempotence, notifications and the audit record.

``guard`` (``rollback watch``) acts here once it fires; ``rollback now`` acts here directly.

* **Rollback.** Production is pointed back at the newest deployment created before the current one that
  Vercel can roll back to -- a rollback candidate: READY, production, and once aliased to production (an
  aborted canary is READY and production but never was) -- through Vercel's instant rollback; the guard
  then polls the project's ``lastAliasRequest`` until Vercel reports the job ``succeeded``. Instant
  rollback only re-points domains at an existing build: no database change is made, which is how "data
  integrity preserved" holds. Each decision is appended to a JSON-lines audit file and sent to the notification targets.
* **Idempotence.** Nothing is rolled back twice: not when Vercel's last alias request is already a
  rollback away from the deployment (or production sits on a rollback target), not when production no
  longer serves the deployment, and not when the audit file records a rollback away from it.
"""

from __future__ import annotations

import enum
import getpass
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ops import ExitStatus
from ops.rollback.vercel_api import (
    Deployment,
    Project,
    VercelClient,
    VercelConflictError,
    VercelError,
)

# Pages of rollback candidates to walk back through before concluding there is no earlier one.
MAX_DEPLOYMENT_PAGES = 5
# Vercel's rollback description is free text; keep it short enough for their UI and our audit.
MAX_DESCRIPTION_CHARS = 200


class ExitCode(enum.IntEnum):
    """Exit codes of ``chefchatz rollback`` (also documented in the command help)."""

    HEALTHY = ExitStatus.OK  # watch window passed without a trigger
    FAILED = ExitStatus.FAILED  # rollback failed, API error, no earlier deployment, rollback not verified
    USAGE = ExitStatus.BAD_INPUT  # bad options or missing configuration (for example VERCEL_TOKEN)
    ROLLED_BACK = ExitStatus.BACK_ON_EARLIER  # production now serves the earlier deployment (now, or already)
    NOTIFIED = ExitStatus.NOTIFIED  # a trigger fired with automatic rollback off: targets notified


# ---------------------------------------------------------------------------------------------------
# Choosing the target and idempotence (pure)
# ---------------------------------------------------------------------------------------------------


def choose_rollback_target(deployments: Iterable[Deployment], current: Deployment) -> Deployment | None:
    """The newest READY production deployment created before ``current`` that Vercel can roll back to.

    ``deployments`` are listed with Vercel's ``rollbackCandidate`` filter; one that still says
    ``isRollbackCandidate: false`` (never aliased to production, as an aborted canary) is skipped all the
    same, so a listing that ignored the filter cannot make it the target. Never ``current`` itself.
    """
    earlier = [
        d
        for d in deployments
        if d.uid != current.uid
        and d.state == "READY"
        and d.target == "production"
        and d.rollback_candidate is not False
        and d.created_ms < current.created_ms
    ]
    return max(earlier, key=lambda d: d.created_ms, default=None)


_ACTIVE_OR_DONE = {"pending", "in-progress", "succeeded"}


def already_rolled_back(
    current_id: str, project: Project, audit: Sequence[dict[str, Any]], current_is_explicit: bool
) -> str | None:
    """Why rolling back ``current_id`` now would be a second rollback (or pointless), else None."""
    last = project.last_alias_request
    if (
        last
        and last.type == "rollback"
        and last.from_deployment_id == current_id
        and last.job_status in _ACTIVE_OR_DONE
    ):
        return (
            f"Vercel already rolled {project.id} back from {current_id} to {last.to_deployment_id} "
            f"(job {last.job_status})"
        )
    for record in reversed(audit):
        if (
            record.get("action") == "rolled-back"
            and record.get("project_id") == project.id
            and record.get("from_deployment") == current_id
        ):
            return (
                f"the audit log records a rollback of {project.id} from {current_id} to "
                f"{record.get('to_deployment')} at {record.get('time')} by {record.get('actor')}"
            )
    if (
        last
        and last.type == "rollback"
        and last.to_deployment_id == current_id
        and last.job_status == "succeeded"
        and project.production_deployment_id in (None, current_id)
    ):
        return (
            f"production of {project.id} is already on rollback target {current_id} "
            f"(rolled back from {last.from_deployment_id}); promote a fixed deployment instead"
        )
    production = project.production_deployment_id
    if current_is_explicit and production is not None and production != current_id:
        return f"production of {project.id} does not serve {current_id} (it serves {production}); nothing to roll back"
    return None


# ---------------------------------------------------------------------------------------------------
# Notifications, the command to run by hand, and the audit record
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackContext:
    """Everything about where and how to roll back, shared by ``watch`` and ``now``."""

    project_id: str
    team_id: str | None = None
    deployment_url: str | None = None
    deployment_id: str | None = None
    notify_urls: tuple[str, ...] = ()
    audit_file: Path | None = None
    actor: str = ""
    verify_timeout_s: float = 180.0  # Vercel's own CLI waits up to 3 minutes for a rollback to finish
    verify_poll_s: float = 1.0


def default_actor() -> str:
    """Who acts: the CI actor when running in CI, else the local user."""
    for name in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def rollback_command(ctx: RollbackContext, reason: str) -> str:
    """The exact ``chefchatz rollback now`` command that does what the guard would have done."""
    argv = ["chefchatz", "rollback", "now", "--project-id", ctx.project_id]
    if ctx.team_id:
        argv += ["--team-id", ctx.team_id]
    if ctx.deployment_id:
        argv += ["--deployment-id", ctx.deployment_id]
    elif ctx.deployment_url:
        argv += ["--deployment-url", ctx.deployment_url]
    if ctx.audit_file is not None:
        argv += ["--audit-file", str(ctx.audit_file)]
    argv += ["--reason", reason[:MAX_DESCRIPTION_CHARS]]
    return shlex.join(argv)


def notification_text(outcome: Outcome) -> str:
    """Slack-compatible text (mrkdwn) for an outcome."""
    where = outcome.project_id
    if outcome.action == "rolled-back":
        return (
            f":rotating_light: chefchatz rolled production of `{where}` back from "
            f"`{outcome.from_deployment}` to `{outcome.to_deployment}`"
            f"{' automatically' if outcome.automatic else ''}.\n"
            f"Why: {outcome.reason}\n"
            f"Verified: Vercel reports the rollback job succeeded. Data integrity preserved: instant "
            f"rollback only re-points domains; no database change was made."
        )
    if outcome.action == "notified":
        return (
            f":warning: chefchatz rollback trigger fired for `{where}` "
            f"(deployment `{outcome.from_deployment or outcome.deployment_url}`); "
            "automatic rollback is off.\n"
            f"Why: {outcome.reason}\n"
            f"To roll back, run:\n```{outcome.command}```"
        )
    return (
        f":x: chefchatz could not roll back production of `{where}`: {outcome.error}\n"
        f"Why it tried: {outcome.reason}\n"
        f"Roll back by hand (or fix the error and re-run):\n```{outcome.command}```"
    )


def slack_payload(outcome: Outcome) -> dict[str, str]:
    """The webhook body: Slack incoming webhooks (and most chat webhooks) accept ``{"text": ...}``."""
    return {"text": notification_text(outcome)}


def target_label(url: str) -> str:
    """A webhook URL's host only: the path of a Slack webhook is its secret and is never printed."""
    return urlsplit(url).netloc or "<invalid url>"


# An SNS topic as a notification target: `sns:` and the topic's ARN (its email subscribers get the text).
SNS_TARGET = re.compile(r"sns:(arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256})")


def check_notify_target(value: str) -> str:
    """A `--notify` value: a webhook URL, or `sns:<topic ARN>`; a malformed `sns:` target is refused."""
    if value.startswith("sns:") and not SNS_TARGET.fullmatch(value):
        raise ValueError(f"{value!r} is not sns:arn:aws:sns:REGION:ACCOUNT:TOPIC")
    return value


def publish_to_topic(target: str, payload: dict[str, str]) -> dict[str, Any]:
    """Publish the notification text to an `sns:<topic ARN>` target; a failure is reported, not raised."""
    import boto3

    match = SNS_TARGET.fullmatch(target)
    label = target if match is None else f"sns:{match.group(1).rsplit(':', 1)[1]}"
    if match is None:
        return {"target": label, "ok": False, "error": "not sns:<topic ARN>"}
    arn, region = match.group(1), match.group(2)
    try:
        boto3.client("sns", region_name=region).publish(
            TopicArn=arn, Subject="chefchatz: deploy guard", Message=payload["text"]
        )
    except (BotoCoreError, ClientError) as exc:
        return {"target": label, "ok": False, "error": type(exc).__name__}
    return {"target": label, "ok": True, "error": None}


def send_notifications(urls: Sequence[str], payload: dict[str, str], timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Send the payload to every target: POST it to a webhook URL (transient failures retried), publish
    its text to an `sns:<topic ARN>`; each failure is reported in the result, never raised."""
    results: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout_s) as http:
        for url in urls:
            if url.startswith("sns:"):
                results.append(publish_to_topic(url, payload))
                continue
            label = target_label(url)

            def post(target: str = url) -> httpx.Response:
                response = http.post(target, json=payload)
                if response.status_code == 429 or response.status_code >= 500:
                    response.raise_for_status()
                return response

            try:
                response = Retrying(
                    retry=retry_if_exception_type(httpx.HTTPError),
                    stop=stop_after_attempt(3),
                    wait=wait_exponential(multiplier=0.2, max=2.0),
                    reraise=True,
                )(post)
            except httpx.HTTPError as exc:
                results.append({"target": label, "ok": False, "error": type(exc).__name__})
                continue
            ok = 200 <= response.status_code < 300
            results.append({"target": label, "ok": ok, "error": None if ok else f"HTTP {response.status_code}"})
    return results


@dataclass
class Outcome:
    """What the guard did: ``action`` is healthy, rolled-back, already-rolled-back, notified or failed."""

    action: str
    project_id: str
    reason: str | None = None
    triggers: tuple[str, ...] = ()
    automatic: bool = True
    deployment_url: str | None = None
    from_deployment: str | None = None
    to_deployment: str | None = None
    verified: bool = False
    error: str | None = None
    command: str | None = None
    message: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    audit_file: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        return {
            "healthy": ExitCode.HEALTHY,
            "rolled-back": ExitCode.ROLLED_BACK,
            "already-rolled-back": ExitCode.ROLLED_BACK,
            "notified": ExitCode.NOTIFIED,
        }.get(self.action, ExitCode.FAILED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "project_id": self.project_id,
            "deployment_url": self.deployment_url,
            "from_deployment": self.from_deployment,
            "to_deployment": self.to_deployment,
            "verified": self.verified,
            "automatic": self.automatic,
            "reason": self.reason,
            "triggers": list(self.triggers),
            "error": self.error,
            "command": self.command,
            "notifications": self.notifications,
            "audit_file": self.audit_file,
            "evidence": self.evidence,
        }


def audit_record(outcome: Outcome, ctx: RollbackContext, now: datetime | None = None) -> dict[str, Any]:
    """One JSON-lines audit entry: who, when, why, the evidence, and from -> to."""
    return {
        "time": (now or datetime.now(UTC)).isoformat(),
        "actor": ctx.actor,
        "action": outcome.action,
        "automatic": outcome.automatic,
        "project_id": ctx.project_id,
        "team_id": ctx.team_id,
        "deployment_url": ctx.deployment_url,
        "from_deployment": outcome.from_deployment,
        "to_deployment": outcome.to_deployment,
        "verified": outcome.verified,
        "reason": outcome.reason,
        "triggers": list(outcome.triggers),
        "metrics": outcome.evidence,
        "error": outcome.error,
        "data_integrity": "preserved: instant rollback re-points domains only; no database change",
    }


def read_audit(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line from a crash must not hide the earlier records
        if isinstance(record, dict):
            records.append(record)
    return records


def append_audit(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def _finish(outcome: Outcome, ctx: RollbackContext, notify: bool) -> Outcome:
    if ctx.audit_file is not None:
        append_audit(ctx.audit_file, audit_record(outcome, ctx))
        outcome.audit_file = str(ctx.audit_file)
    if notify and ctx.notify_urls:
        outcome.notifications = send_notifications(ctx.notify_urls, slack_payload(outcome))
    return outcome


# ---------------------------------------------------------------------------------------------------
# Rolling back (impure)
# ---------------------------------------------------------------------------------------------------


class RollbackError(Exception):
    """A rollback could not be done or confirmed; the message says why and what to check."""


def resolve_current(client: VercelClient, ctx: RollbackContext, project: Project) -> tuple[Deployment, bool]:
    """The deployment to roll back from, and whether the operator named it (vs. production's current)."""
    if ctx.deployment_id or ctx.deployment_url:
        return client.get_deployment(ctx.deployment_id or ctx.deployment_url or ""), True
    if project.production_deployment_id is None:
        raise RollbackError(
            f"project {ctx.project_id} has no production deployment; pass --deployment-id or --deployment-url"
        )
    return client.get_deployment(project.production_deployment_id), False


def find_target(client: VercelClient, project_id: str, current: Deployment) -> Deployment:
    until: int | None = None
    for _ in range(MAX_DEPLOYMENT_PAGES):
        page = client.list_rollback_candidates(project_id, limit=20, until=until)
        target = choose_rollback_target(page.deployments, current)
        if target is not None:
            return target
        if page.next_until is None:
            break
        until = page.next_until
    raise RollbackError(
        f"no earlier deployment to roll back to: project {project_id} has no deployment created before "
        f"{current.uid} that Vercel lists as a rollback candidate (READY, production, and once aliased to "
        "production: a canary whose rolling release was aborted never was); fix forward and redeploy"
    )


def verify_rollback(
    client: VercelClient,
    project_id: str,
    target_id: str,
    timeout_s: float,
    poll_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll the project's lastAliasRequest until Vercel reports our rollback ``succeeded``."""
    deadline = time.monotonic() + timeout_s
    last_seen = "no rollback recorded"
    while True:
        request = client.get_project(project_id).last_alias_request
        if request and request.type == "rollback" and request.to_deployment_id == target_id:
            if request.job_status == "succeeded":
                return
            if request.job_status in ("failed", "skipped"):
                raise RollbackError(
                    f"Vercel reports the rollback of {project_id} to {target_id} {request.job_status}; "
                    "check the project's domains in the Vercel dashboard"
                )
            last_seen = f"job {request.job_status}"
        if time.monotonic() >= deadline:
            raise RollbackError(
                f"the rollback of {project_id} to {target_id} was not confirmed within {timeout_s:g}s "
                f"(last seen: {last_seen}); check `vercel rollback status`"
            )
        sleep(poll_s)


def roll_back(
    client: VercelClient,
    ctx: RollbackContext,
    reason: str,
    triggers: Sequence[str] = (),
    evidence: Sequence[dict[str, Any]] = (),
    automatic: bool = True,
) -> Outcome:
    """Roll production back once, verify it, audit and notify. Failures come back as ``action="failed"``."""
    outcome = Outcome(
        action="failed",
        project_id=ctx.project_id,
        reason=reason,
        triggers=tuple(triggers),
        automatic=automatic,
        deployment_url=ctx.deployment_url,
        command=rollback_command(ctx, reason),
        evidence=list(evidence),
    )
    try:
        project = client.get_project(ctx.project_id)
        current, explicit = resolve_current(client, ctx, project)
        outcome.from_deployment = current.uid
        why_not = already_rolled_back(current.uid, project, read_audit(ctx.audit_file), explicit)
        if why_not is not None:
            outcome.action = "already-rolled-back"
            outcome.message = f"nothing to do: {why_not}"
            last = project.last_alias_request
            outcome.to_deployment = last.to_deployment_id if last and last.type == "rollback" else None
            return _finish(outcome, ctx, notify=False)
        target = find_target(client, ctx.project_id, current)
        outcome.to_deployment = target.uid
        try:
            client.request_rollback(ctx.project_id, target.uid, description=reason[:MAX_DESCRIPTION_CHARS])
        except VercelConflictError:
            # A retried POST may have been accepted the first time: a 409 for our own target is fine.
            last = client.get_project(ctx.project_id).last_alias_request
            if not (last and last.type == "rollback" and last.to_deployment_id == target.uid):
                raise
        verify_rollback(client, ctx.project_id, target.uid, ctx.verify_timeout_s, ctx.verify_poll_s)
    except (VercelError, RollbackError) as exc:
        outcome.action = "failed"
        outcome.error = str(exc)
        outcome.message = f"rollback failed: {exc}"
        return _finish(outcome, ctx, notify=True)
    outcome.action = "rolled-back"
    outcome.verified = True
    outcome.message = f"rolled production of {ctx.project_id} back from {outcome.from_deployment} to {target.uid}"
    return _finish(outcome, ctx, notify=True)


def notify_only(
    ctx: RollbackContext, reason: str, triggers: Sequence[str], evidence: Sequence[dict[str, Any]]
) -> Outcome:
    """Automatic rollback is off: tell the targets what fired and the exact command to roll back."""
    outcome = Outcome(
        action="notified",
        project_id=ctx.project_id,
        reason=reason,
        triggers=tuple(triggers),
        automatic=False,
        deployment_url=ctx.deployment_url,
        from_deployment=ctx.deployment_id,
        command=rollback_command(ctx, reason),
        evidence=list(evidence),
    )
    outcome.message = f"trigger fired; automatic rollback is off. To roll back run: {outcome.command}"
    return _finish(outcome, ctx, notify=True)
