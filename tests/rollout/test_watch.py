"""`rollout watch` end to end against the loopback rolling-release API and metric stand-ins.

Time is virtual (the controller sleeps on a clock the test owns): the spec-sized rollout of four stages
with 10-minute steps and 1-minute judgements runs in well under a second, over real HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ops.rollback import VercelClient
from ops.rollout import ExitCode, MetricsUnavailable, Outcome, RolloutSettings, Traffic, watch
from ops.slo import Counts
from tests.rollout.standins import CANARY, PROJECT, STABLE, FakeMetrics, FakeRollingRelease, Profile, VirtualClock

BAD = Profile(error_rate=0.05)


def run(clock: VirtualClock, metrics: Traffic, **overrides: Any) -> Outcome:
    options: dict[str, Any] = {
        "project_id": PROJECT,
        "step_s": 600.0,
        "interval_s": 60.0,
        # Virtual seconds: a read-back polls at most 30 times.
        "verify_timeout_s": 30.0,
        "verify_poll_s": 1.0,
        **overrides,
    }
    with VercelClient.from_env(attempts=3) as client:
        return watch(client, RolloutSettings(**options), metrics, sleep=clock.sleep, clock=clock)


def stage_posts(release: FakeRollingRelease) -> list[int]:
    return [c.body["nextStageIndex"] for c in release.posts("/approve-stage") if c.status == 200]


def test_a_healthy_canary_is_promoted_through_every_stage(release: FakeRollingRelease, clock: VirtualClock) -> None:
    outcome = run(clock, FakeMetrics(release))
    assert (outcome.action, outcome.exit_code, outcome.verified) == ("promoted", ExitCode.PROMOTED, True), (
        outcome.message
    )
    assert stage_posts(release) == [1, 2], "5 % -> 25 % -> 50 % by approving the next stage each time"
    assert [c.body for c in release.posts("/complete")] == [{"canaryDeploymentId": CANARY}], "50 % -> 100 %"
    assert (release.state, release.percentage) == ("COMPLETE", 100)
    assert release.posts("/rollback/" + STABLE) == [], "a healthy canary must never be aborted"
    # Each stage was watched for its whole step (10 one-minute judgements) before it was promoted.
    assert [c.at for c in release.posts("/approve-stage")] == [600.0, 1200.0], "promotions at the end of each step"
    assert outcome.stages_promoted == [0, 1, 2]
    assert (outcome.stage, outcome.percentage) == (3, 100), "the final stage, as Vercel's activeStage shows it"


def test_a_canary_worse_than_stable_is_aborted_at_the_first_stage(
    release: FakeRollingRelease, clock: VirtualClock, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    outcome = run(clock, FakeMetrics(release, canary=BAD), audit_file=audit)
    assert (outcome.action, outcome.exit_code, outcome.percentage) == ("aborted", ExitCode.ABORTED, 5), outcome.message
    assert [c.path for c in release.posts("/rollback/" + STABLE)] == [f"/v1/projects/{PROJECT}/rollback/{STABLE}"]
    assert release.state == "ABORTED" and stage_posts(release) == [], "never promoted"
    assert len(outcome.intervals) == 1, "aborted on the first one-minute judgement, not at the end of the step"
    assert "error-rate: canary" in (outcome.reason or "") and "WORSE" in (outcome.reason or ""), outcome.reason
    record = json.loads(audit.read_text().splitlines()[-1])
    assert (record["action"], record["canary"], record["stable"], record["percentage"]) == (
        "aborted",
        CANARY,
        STABLE,
        5,
    )


def test_the_rollback_triggers_stay_ceilings_when_stable_is_as_bad(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    both_bad = Profile(error_rate=0.03)
    outcome = run(clock, FakeMetrics(release, stable=both_bad, canary=both_bad))
    assert outcome.action == "aborted", outcome.message
    assert "ceiling error-rate" in (outcome.reason or ""), outcome.reason


def test_a_canary_turning_bad_at_a_later_stage_is_aborted_there(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    outcome = run(clock, FakeMetrics(release, bad=BAD, canary_from=1_500.0))
    assert (outcome.action, outcome.percentage) == ("aborted", 50), outcome.message
    assert stage_posts(release) == [1, 2] and release.posts("/complete") == []
    abort = release.posts("/rollback/" + STABLE)[0]
    assert abort.at - 1_500.0 <= 2 * 60.0, f"abort {abort.at - 1500:g}s after the canary turned bad"


def test_too_little_traffic_is_held_and_never_promoted(release: FakeRollingRelease, clock: VirtualClock) -> None:
    outcome = run(clock, FakeMetrics(release, rps=0.5), max_holds=2)
    assert (outcome.action, outcome.exit_code) == ("held", ExitCode.HELD), outcome.message
    assert stage_posts(release) == [] and release.posts("/complete") == [] and release.posts("/rollback/") == []
    assert (release.state, release.active_stage_index) == ("ACTIVE", 0), "left where it was, and said so"
    assert "not enough traffic to judge 5 % after 3 steps" in (outcome.reason or ""), outcome.reason
    assert clock.now == pytest.approx(3 * 600.0), "the step plus two holds"


def test_transient_api_failures_are_retried(release: FakeRollingRelease, clock: VirtualClock) -> None:
    release.inject("POST", r"/approve-stage$", 503, times=2, headers={"Retry-After": "0"})
    release.inject("POST", r"/complete$", 429, times=1, headers={"Retry-After": "0"})
    outcome = run(clock, FakeMetrics(release))
    assert outcome.action == "promoted", outcome.message
    assert [c.status for c in release.posts("/approve-stage")] == [503, 503, 200, 200]
    assert [c.status for c in release.posts("/complete")] == [429, 200]


def test_a_lost_response_is_read_back_and_not_repeated(release: FakeRollingRelease, clock: VirtualClock) -> None:
    # Vercel applies the approval, but every answer is lost: the read-back shows it took effect.
    release.inject("POST", r"/approve-stage$", 502, times=3, passthrough=True, headers={"Retry-After": "0"})
    release.stale_reads = 2
    outcome = run(clock, FakeMetrics(release))
    assert outcome.action == "promoted", outcome.message
    assert release.state == "COMPLETE" and outcome.stages_promoted == [0, 1, 2]


def test_a_promotion_that_keeps_failing_says_where_the_rollout_was_left(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    release.inject("POST", r"/approve-stage$", 500, times=99, headers={"Retry-After": "0"})
    outcome = run(clock, FakeMetrics(release))
    assert (outcome.action, outcome.exit_code) == ("failed", ExitCode.FAILED), outcome.message
    assert "left at stage 0 (5 %)" in outcome.message, outcome.message
    assert (release.state, release.active_stage_index) == ("ACTIVE", 0)


def test_a_stage_moved_outside_the_run_is_reported_where_vercel_shows_it(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    metrics = FakeMetrics(release)

    def someone_approves_by_hand(deployment_id: str, window_s: float) -> Counts:
        if clock.now >= 300.0 and release.active_stage_index == 0:
            release.active_stage_index = 1  # e.g. `vercel rolling-release approve` while stage 0 is watched
        return metrics(deployment_id, window_s)

    outcome = run(clock, someone_approves_by_hand)
    assert (outcome.action, outcome.exit_code) == ("failed", ExitCode.FAILED), outcome.message
    assert "changed outside this run (now ACTIVE at stage 1 (25 %))" in outcome.message, outcome.message
    assert "Vercel shows it ACTIVE, left at stage 1 (25 %)" in outcome.message, outcome.message
    assert (outcome.stage, outcome.percentage) == (1, 25), "the stage Vercel is at, not the one last judged"
    assert stage_posts(release) == [], "a stage this run did not judge is never promoted"


def test_an_abort_that_keeps_failing_is_reported_not_assumed(release: FakeRollingRelease, clock: VirtualClock) -> None:
    release.inject("POST", r"/rollback/", 500, times=99, headers={"Retry-After": "0"})
    outcome = run(clock, FakeMetrics(release, canary=BAD))
    assert (outcome.action, outcome.verified) == ("failed", False), outcome.message
    assert "left at stage 0 (5 %)" in outcome.message and "the canary still serves traffic" in outcome.message, (
        outcome.message
    )
    assert release.state == "ACTIVE"


@pytest.mark.parametrize(
    ("state", "action", "code"),
    [("COMPLETE", "already-complete", ExitCode.PROMOTED), ("ABORTED", "already-aborted", ExitCode.ABORTED)],
)
def test_a_rollout_already_finished_or_aborted_is_left_alone(
    release: FakeRollingRelease, clock: VirtualClock, state: str, action: str, code: ExitCode
) -> None:
    release.state = state
    metrics = FakeMetrics(release)
    outcome = run(clock, metrics, canary_id=CANARY)
    assert (outcome.action, outcome.exit_code) == (action, code), outcome.message
    assert [c for c in release.requests if c.method == "POST"] == [] and metrics.reads == []


def test_another_canarys_active_rollout_is_never_touched(release: FakeRollingRelease, clock: VirtualClock) -> None:
    outcome = run(clock, FakeMetrics(release), canary_id="dpl_other")
    assert outcome.action == "failed" and f"is of {CANARY} (ACTIVE), not of dpl_other" in outcome.message, outcome
    assert [c for c in release.requests if c.method == "POST"] == []


def test_without_a_canary_no_rolling_release_is_a_failure_that_says_so(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    release.state = None
    outcome = run(clock, FakeMetrics(release))
    assert outcome.action == "failed" and "has no rolling release" in outcome.message, outcome.message


@pytest.mark.parametrize(
    "before", [None, "COMPLETE", "ABORTED"], ids=["none-yet", "after-a-finished-one", "after-an-abort"]
)
def test_the_canarys_rollout_is_started_when_vercel_has_not(
    release: FakeRollingRelease, clock: VirtualClock, before: str | None
) -> None:
    release.state, release.canary, release.stale_reads = before, "dpl_previous", 1
    outcome = run(clock, FakeMetrics(release), canary_id=CANARY)
    assert (outcome.action, outcome.started, outcome.canary) == ("promoted", True, CANARY), outcome.message
    assert [c.body for c in release.posts("/rolling-release/start")] == [{"canaryDeploymentId": CANARY}]


@pytest.fixture
def webhook() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.append({"url": f"http://127.0.0.1:{server.server_address[1]}/hook"})
    yield received
    server.shutdown()
    server.server_close()


def test_an_abort_is_notified_with_the_reason(
    release: FakeRollingRelease, clock: VirtualClock, webhook: list[dict[str, Any]]
) -> None:
    url = webhook.pop(0)["url"]
    outcome = run(clock, FakeMetrics(release, canary=BAD), notify_urls=(url,))
    assert outcome.notifications == [{"target": url.split("/")[2], "ok": True, "error": None}], outcome.notifications
    assert "aborted the rollout" in webhook[0]["text"] and "error-rate" in webhook[0]["text"], webhook


def test_unreadable_metrics_stop_the_run_and_say_where_the_rollout_was_left(
    release: FakeRollingRelease, clock: VirtualClock
) -> None:
    def unreadable(deployment_id: str, window_s: float) -> Counts:
        raise MetricsUnavailable(f"cannot read the SLO metrics of {deployment_id}: ExpiredToken")

    outcome = run(clock, unreadable)
    assert (outcome.action, outcome.exit_code) == ("failed", ExitCode.FAILED), outcome.message
    assert "ExpiredToken" in outcome.message and "left at stage 0 (5 %)" in outcome.message, outcome.message
    assert [c for c in release.requests if c.method == "POST"] == [], "no action without evidence"
