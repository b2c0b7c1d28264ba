"""Driving a Vercel rolling release from the SLO metrics: watch each stage, then promote, hold or abort.

The project's rolling release is configured with ``advancementType: manual-approval`` (``components/
web_app.py``), so Vercel never advances a stage by itself: this loop does, once the stage's real traffic
says so (``ops.rollout.compare``). Every ``interval`` it reads the canary's and the stable deployment's
counts over the last interval (``ops.slo.deployment_counts``) and aborts at the first failing judgement
(errors and ceilings; latency against stable is judged over the whole step, ``compare.judge``);
once the stage's step has elapsed it judges the whole step and promotes (approve the next stage, or
complete at 100 %), or holds when there was not enough traffic (another step, at most ``max_holds``
times, then it stops and says the rollout is still at that stage).

Vercel endpoints (see ``ops.vercel_api``): ``GET /v1/projects/{id}/rolling-release``, ``POST
.../rolling-release/start`` (only when the canary's rollout is not there), ``POST
.../rolling-release/approve-stage``, ``POST .../rolling-release/complete``. Aborting is what Vercel's
own CLI does for ``vercel rolling-release abort`` (packages/cli/src/commands/rolling-release/
abort-rolling-release.ts): an instant rollback to the rolling release's current (stable) deployment,
``POST /v1/projects/{id}/rollback/{currentDeploymentId}``, after which the rolling release reads ABORTED.

Stages are Vercel's documented ones: the stage a rollout is at is the response's ``activeStage``, the
one to approve ``nextStage`` (its ``index`` is the ``nextStageIndex`` sent, its ``isFinalStage`` says
to complete instead). Every action is verified by reading the rolling release back; an API failure
(after the client's retries) is reported with the stage Vercel shows the rollout at, never silently.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops import ExitStatus
from ops import rollback as rb
from ops.rollback import ReleaseStage, RollingRelease, VercelClient, VercelError
from ops.rollout.compare import Action, Judgement, Rules, judge, next_action
from ops.slo import Counts

# (deployment id, window seconds) -> that deployment's real-request counts over the window ending now.
Traffic = Callable[[str, float], Counts]


class ExitCode(enum.IntEnum):
    """Exit codes of ``chefchatz rollout watch``; 3 is the CLI's internal error, so outcomes start at 4."""

    PROMOTED = ExitStatus.OK  # the canary serves 100 % (this run, or it already did)
    FAILED = ExitStatus.FAILED  # API error or an action not confirmed: the output says at which stage it is
    USAGE = ExitStatus.BAD_INPUT
    ABORTED = ExitStatus.BACK_ON_EARLIER  # the canary was worse than stable or over a ceiling: back on stable
    HELD = ExitStatus.HELD  # too little traffic to judge a stage after every hold: left there, not promoted


@dataclass(frozen=True)
class RolloutSettings:
    project_id: str
    step_s: float  # rolloutStepDuration: how long each stage is watched before it may be promoted
    interval_s: float = 60.0  # between judgements; CloudWatch sums whole minutes, so >= 60 s in practice
    max_holds: int = 3  # extra steps a quiet stage may take before the run stops without promoting
    rules: Rules = field(default_factory=Rules)
    canary_id: str | None = None  # the deployment the pipeline just made; None: whatever is rolling out
    team_id: str | None = None
    verify_timeout_s: float = 120.0
    verify_poll_s: float = 1.0
    notify_urls: tuple[str, ...] = ()
    audit_file: Path | None = None
    actor: str = ""

    def problems(self) -> list[str]:
        found = self.rules.problems()
        if self.interval_s <= 0 or self.step_s < self.interval_s:
            found.append(
                f"--step {self.step_s:g}s must be at least --interval {self.interval_s:g}s (and both positive)"
            )
        if self.max_holds < 0:
            found.append(f"--max-holds {self.max_holds} must be 0 or more")
        return found


@dataclass(frozen=True)
class IntervalRecord:
    stage: int
    percentage: int
    elapsed_s: float
    canary: Counts
    stable: Counts
    judgement: Judgement
    step: Judgement | None
    action: Action

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "percentage": self.percentage,
            "elapsed_s": round(self.elapsed_s, 3),
            "canary": self.canary.to_dict(),
            "stable": self.stable.to_dict(),
            "judgement": self.judgement.as_dict(),
            "step": None if self.step is None else self.step.as_dict(),
            "action": str(self.action),
        }


@dataclass
class Outcome:
    """``action``: promoted, already-complete, aborted, already-aborted, held or failed."""

    action: str
    project_id: str
    canary: str | None = None
    stable: str | None = None
    stage: int | None = None
    percentage: int | None = None
    message: str = ""
    reason: str | None = None
    error: str | None = None
    verified: bool = False
    started: bool = False  # this run started the canary's rolling release (Vercel had not)
    intervals: list[dict[str, Any]] = field(default_factory=list)
    stages_promoted: list[int] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    audit_file: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        return {
            "promoted": ExitCode.PROMOTED,
            "already-complete": ExitCode.PROMOTED,
            "aborted": ExitCode.ABORTED,
            "already-aborted": ExitCode.ABORTED,
            "held": ExitCode.HELD,
        }.get(self.action, ExitCode.FAILED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "project_id": self.project_id,
            "canary": self.canary,
            "stable": self.stable,
            "stage": self.stage,
            "percentage": self.percentage,
            "stages_promoted": self.stages_promoted,
            "verified": self.verified,
            "started": self.started,
            "reason": self.reason,
            "error": self.error,
            "notifications": self.notifications,
            "audit_file": self.audit_file,
            "intervals": self.intervals,
        }


class RolloutError(Exception):
    """An action on the rolling release failed or was not confirmed; the message says where it stands."""


class MetricsUnavailable(RolloutError):
    """The real-traffic metrics could not be read: without them no stage can be judged, so the run stops."""


def _audit(settings: RolloutSettings, event: str, outcome: Outcome, **extra: Any) -> None:
    if settings.audit_file is None:
        return
    record = {
        "time": datetime.now(UTC).isoformat(),
        "actor": settings.actor,
        "event": event,
        "action": outcome.action,
        "project_id": settings.project_id,
        "team_id": settings.team_id,
        "canary": outcome.canary,
        "stable": outcome.stable,
        "stage": outcome.stage,
        "percentage": outcome.percentage,
        "reason": outcome.reason,
        "error": outcome.error,
        **extra,
    }
    rb.append_audit(settings.audit_file, record)
    outcome.audit_file = str(settings.audit_file)


def notification_text(outcome: Outcome) -> str:
    where = f"`{outcome.project_id}` (canary `{outcome.canary}`, stable `{outcome.stable}`)"
    if outcome.action == "promoted":
        return f":white_check_mark: chefchatz rollout of {where} promoted through every stage: the canary serves 100 %."
    if outcome.action == "aborted":
        return (
            f":rotating_light: chefchatz aborted the rollout of {where} at {outcome.percentage} %: production is "
            f"back on the stable deployment (verified).\nWhy: {outcome.reason}"
        )
    if outcome.action == "held":
        return (
            f":pause_button: chefchatz held the rollout of {where} at {outcome.percentage} %: {outcome.reason}. "
            "It was not promoted; promote or abort it by hand (`vercel rolling-release approve|abort`)."
        )
    return f":x: chefchatz rollout of {where}: {outcome.message}"


def failure_reason(judgement: Judgement) -> str:
    """The failing part of a judgement: the breached ceilings' notes and the comparisons the canary lost."""
    ceilings = tuple(f"ceiling {b.removeprefix('ceiling:')}:" for b in judgement.breached if b.startswith("ceiling:"))
    parts = [note for note in judgement.notes if note.startswith(ceilings)] if ceilings else []
    parts += [c.note() for c in judgement.comparisons if c.worse]
    return "; ".join(parts) or ", ".join(judgement.breached)


def _finish(settings: RolloutSettings, outcome: Outcome, notify: bool = True) -> Outcome:
    _audit(settings, "finished", outcome)
    if notify and settings.notify_urls:
        outcome.notifications = rb.send_notifications(settings.notify_urls, {"text": notification_text(outcome)})
    return outcome


def _poll(
    client: VercelClient,
    settings: RolloutSettings,
    done: Callable[[RollingRelease], bool],
    what: str,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> RollingRelease:
    """Read the rolling release back until there is one and ``done`` holds; return that reading.

    RolloutError, naming ``what`` and what Vercel showed last, when the time is up.
    """
    deadline = clock() + settings.verify_timeout_s
    while True:
        release = client.get_rolling_release(settings.project_id)
        if release is not None and done(release):
            return release
        if clock() >= deadline:
            seen = "no rolling release" if release is None else release.where()
            raise RolloutError(f"{what} was not confirmed within {settings.verify_timeout_s:g}s (last seen: {seen})")
        sleep(settings.verify_poll_s)


def _active(release: RollingRelease) -> ReleaseStage:
    """The stage Vercel shows the rollout at; a rollout without one cannot be judged or promoted."""
    if release.active_stage is None:
        raise RolloutError(f"Vercel shows the rolling release of {release.canary_deployment_id} {release.where()}")
    return release.active_stage


def _promote(
    client: VercelClient,
    settings: RolloutSettings,
    release: RollingRelease,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> RollingRelease:
    """Approve Vercel's next stage, or complete at 100 %; return the reading that confirms it.

    A failed call is re-read, as it may have taken effect with its answer lost.
    """
    canary, nxt = release.canary_deployment_id, release.next_stage
    if nxt is None:
        raise RolloutError(f"Vercel shows no next stage for the rolling release of {canary} ({release.where()})")
    what = f"promotion of {canary} to stage {nxt.index} ({nxt.target_percentage} %)"

    def reached(now: RollingRelease) -> bool:
        if now.canary_deployment_id != canary:
            return False
        if now.state == "COMPLETE":
            return True
        return not nxt.is_final and now.active_stage_index is not None and now.active_stage_index >= nxt.index

    try:
        if nxt.is_final:
            client.complete_rolling_release(settings.project_id, canary)
        else:
            client.approve_rolling_release_stage(settings.project_id, canary, nxt.index)
    except VercelError as exc:
        try:
            confirmed = _poll(client, settings, reached, what, sleep, clock)
        except RolloutError:
            raise RolloutError(
                f"promoting to {nxt.target_percentage} % failed and Vercel does not show it applied: {exc}"
            ) from exc
    else:
        confirmed = _poll(client, settings, reached, what, sleep, clock)
    return confirmed


def _abort(
    client: VercelClient,
    settings: RolloutSettings,
    release: RollingRelease,
    reason: str,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """Instant rollback to the stable deployment (Vercel's own abort), then confirm the release is ABORTED."""
    stable = release.current_deployment_id or ""
    canary = release.canary_deployment_id

    def aborted(now: RollingRelease) -> bool:
        return now.canary_deployment_id == canary and now.state == "ABORTED"

    what = f"abort of the rollout of {canary} (instant rollback to {stable})"
    try:
        client.request_rollback(settings.project_id, stable, description=reason[: rb.MAX_DESCRIPTION_CHARS])
    except VercelError as exc:
        # A 409 or a lost answer may hide our own accepted request: only the read-back says it failed.
        try:
            _poll(client, settings, aborted, what, sleep, clock)
        except RolloutError:
            raise RolloutError(
                f"{what} failed and Vercel does not show it applied: {exc}; the canary still serves traffic"
            ) from exc
        return
    _poll(client, settings, aborted, what, sleep, clock)


def _start(
    client: VercelClient,
    settings: RolloutSettings,
    outcome: Outcome,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> RollingRelease | None:
    """The rolling release to drive, or None with ``outcome`` already telling why there is nothing to do.

    Vercel starts a rolling release with the production deploy; should the canary's not be there (yet),
    it is started here -- ``start`` is idempotent for a canary already rolling out. Another canary's
    *active* rollout is never touched.
    """
    release = client.get_rolling_release(settings.project_id)
    canary = settings.canary_id
    if canary and (release is None or (release.canary_deployment_id != canary and release.state != "ACTIVE")):
        client.start_rolling_release(settings.project_id, canary)
        _poll(
            client,
            settings,
            lambda now: now.canary_deployment_id == canary,
            f"start of the rolling release of {canary}",
            sleep,
            clock,
        )
        outcome.started = True
        release = client.get_rolling_release(settings.project_id)
    if release is None:
        outcome.message = (
            f"project {settings.project_id} has no rolling release: is rolloutStages configured for this stack and "
            "was the deployment made to production? (pass --deployment-url to start one for it)"
        )
        return None
    outcome.canary, outcome.stable = release.canary_deployment_id, release.current_deployment_id
    outcome.stage, outcome.percentage = release.active_stage_index, release.percentage
    if canary and release.canary_deployment_id != canary:
        outcome.message = (
            f"the latest rolling release of {settings.project_id} is of {release.canary_deployment_id} "
            f"({release.state}), not of {canary}: another rollout is in progress"
        )
        return None
    if release.state == "COMPLETE":
        outcome.action, outcome.verified = "already-complete", True
        outcome.message = f"nothing to do: the rollout of {release.canary_deployment_id} is already complete"
        return None
    if release.state == "ABORTED":
        outcome.action, outcome.verified = "already-aborted", True
        outcome.message = f"nothing to do: the rollout of {release.canary_deployment_id} was already aborted"
        return None
    if (
        release.state != "ACTIVE"
        or release.current_deployment_id is None
        or release.active_stage is None
        or release.next_stage is None
        or len(release.stages) < 2
    ):
        outcome.message = (
            f"cannot drive the rolling release of {release.canary_deployment_id}: {release.where()}, "
            f"next stage {release.next_stage}, stable {release.current_deployment_id!r}, "
            f"stages {[stage.target_percentage for stage in release.stages]}"
        )
        return None
    return release


def watch(
    client: VercelClient,
    settings: RolloutSettings,
    traffic: Traffic,
    *,
    on_interval: Callable[[IntervalRecord], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """``rollout watch``: take the active rolling release through its stages, or abort or hold it."""
    outcome = Outcome(action="failed", project_id=settings.project_id)
    try:
        release = _start(client, settings, outcome, sleep, clock)
        if release is None:
            return _finish(settings, outcome, notify=outcome.action == "failed")
        return _drive(client, settings, traffic, release, outcome, on_interval, sleep, clock)
    except (VercelError, RolloutError) as exc:
        outcome.action = "failed"
        outcome.error = str(exc)
        outcome.message = (
            f"rollout failed: {exc}.{_left_at(client, settings, outcome)} Check it with `vercel rolling-release fetch`."
        )
        return _finish(settings, outcome)


def _left_at(client: VercelClient, settings: RolloutSettings, outcome: Outcome) -> str:
    """Where Vercel shows the rollout after a failure, read back: a failed call may still have taken effect."""
    if outcome.canary is None:
        return ""
    try:
        now = client.get_rolling_release(settings.project_id)
    except VercelError as exc:
        return (
            f" Vercel could not be read back ({exc}); it was last seen at stage {outcome.stage} "
            f"({outcome.percentage} %)."
        )
    if now is None or now.canary_deployment_id != outcome.canary:
        return f" Vercel no longer shows the rolling release of {outcome.canary}."
    outcome.stage, outcome.percentage = now.active_stage_index, now.percentage
    if now.active_stage is None:
        return f" Vercel shows it {now.state} with no active stage."
    return f" Vercel shows it {now.state}, left at stage {now.active_stage_index} ({now.percentage} %)."


def _drive(
    client: VercelClient,
    settings: RolloutSettings,
    traffic: Traffic,
    release: RollingRelease,
    outcome: Outcome,
    on_interval: Callable[[IntervalRecord], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Outcome:
    canary, stable = release.canary_deployment_id, release.current_deployment_id or ""
    while True:
        active = _active(release)
        stage, percentage = active.index, active.target_percentage
        outcome.stage, outcome.percentage = stage, percentage
        started, tick, holds = clock(), 0, 0
        while True:
            tick += 1
            delay = started + tick * settings.interval_s - clock()
            if delay > 0:
                sleep(delay)
            elapsed = clock() - started
            canary_counts = traffic(canary, settings.interval_s)
            stable_counts = traffic(stable, settings.interval_s)
            now = judge(canary_counts, stable_counts, settings.rules, latency=False)
            step = None
            if elapsed + 1e-9 >= settings.step_s * (1 + holds):
                step = judge(traffic(canary, elapsed), traffic(stable, elapsed), settings.rules)
            action = next_action(now, step)
            record = IntervalRecord(stage, percentage, elapsed, canary_counts, stable_counts, now, step, action)
            outcome.intervals.append(record.as_dict())
            if on_interval is not None:
                on_interval(record)
            if action is Action.ABORT:
                outcome.reason = f"at {percentage} %: {failure_reason(now if now.breached else step or now)}"
                _abort(client, settings, release, outcome.reason, sleep, clock)
                outcome.action, outcome.verified = "aborted", True
                outcome.message = f"aborted the rollout of {canary} at {percentage} %: production is back on {stable}"
                return _finish(settings, outcome)
            if action is Action.HOLD:
                holds += 1
                if holds > settings.max_holds:
                    outcome.action = "held"
                    outcome.reason = (
                        f"not enough traffic to judge {percentage} % after {holds} steps of {settings.step_s:g}s"
                    )
                    outcome.message = f"held the rollout of {canary} at {percentage} %, not promoted: {outcome.reason}"
                    return _finish(settings, outcome)
            if action is Action.PROMOTE:
                break
        latest = client.get_rolling_release(settings.project_id)
        if (
            latest is None
            or latest.canary_deployment_id != canary
            or latest.state != "ACTIVE"
            or latest.active_stage_index != stage
        ):
            seen = "gone" if latest is None else latest.where()
            raise RolloutError(f"the rolling release of {canary} changed outside this run (now {seen})")
        confirmed = _promote(client, settings, latest, sleep, clock)
        outcome.stages_promoted.append(stage)
        outcome.stage, outcome.percentage = confirmed.active_stage_index, confirmed.percentage
        _audit(settings, "promoted-stage", outcome, to_stage=confirmed.active_stage_index)
        if confirmed.state == "COMPLETE":
            outcome.action, outcome.verified, outcome.percentage = "promoted", True, 100
            outcome.message = f"promoted {canary} through every stage: it serves 100 % of production"
            return _finish(settings, outcome)
        release = confirmed
