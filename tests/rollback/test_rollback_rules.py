"""The deciding logic of the rollback guard as pure functions, proved by tables of cases."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from ops.rollback import action as act
from ops.rollback.probes import IntervalMetrics, Transactions
from ops.rollback.settings import IntervalState, NoDataPolicy, Thresholds
from ops.rollback.vercel_api import AliasRequest, Deployment, Project, parse_retry_after
from ops.rollback.verdicts import advance_streak, evaluate, fires

SPEC = Thresholds()  # error rate > 1 %, response time > 1000 ms, failed transactions > 0.1 %


def metrics(
    requests: int = 30,
    errors: int = 0,
    answered: int | None = None,
    slow: int = 0,
    slow_ms: float = 2000.0,
    tx: tuple[int, int] | None = (10_000, 0),
    health_answered: bool = True,
    health: tuple[int, int] | None = None,
) -> IntervalMetrics:
    """An interval from counts: ``answered`` answers (default: every request), ``slow`` of them slow."""
    answered = requests if answered is None else answered
    latencies = (slow_ms,) * slow + (100.0,) * (answered - slow)
    health_requests, health_errors = health if health is not None else (requests, errors)
    return IntervalMetrics(
        index=0,
        started_at=0.0,
        requests=requests,
        errors=errors,
        latencies_ms=latencies,
        health_answered=health_answered,
        transactions=None if tx is None else Transactions(tx[0], tx[1], 60),
        health_requests=health_requests,
        health_errors=health_errors,
    )


# --- the verdict per interval: counts -> verdict ----------------------------------------------------

VERDICTS = [
    # (case, metrics, policy, expected state, expected breached triggers)
    ("healthy", metrics(), NoDataPolicy.BREACH, "healthy", ()),
    # error rate 1 %, 99 % confidence: with 20 probes 3 errors are evidence, 1 or 2 are noise.
    ("1 error in 20 probes (5%) is noise", metrics(20, 1), NoDataPolicy.BREACH, "healthy", ()),
    ("2 errors in 20 probes (10%) are noise", metrics(20, 2), NoDataPolicy.BREACH, "healthy", ()),
    ("3 errors in 20 probes breach", metrics(20, 3), NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("2 errors in 30 probes are noise", metrics(30, 2), NoDataPolicy.BREACH, "healthy", ()),
    ("3 errors in 30 probes breach", metrics(30, 3), NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("sustained 2% over 2000 probes breaches", metrics(2000, 40), NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("1.2% over 2000 probes is not evidence", metrics(2000, 24), NoDataPolicy.BREACH, "healthy", ()),
    # p95 <= 1000 ms allows 5 % slower answers: of 30, 6 slower are evidence, 5 are not.
    ("5 of 30 answers slower is noise", metrics(30, slow=5), NoDataPolicy.BREACH, "healthy", ()),
    ("6 of 30 answers slower breach", metrics(30, slow=6), NoDataPolicy.BREACH, "breaching", ("response-time",)),
    ("exactly 1000ms is not slower", metrics(30, slow=30, slow_ms=1000.0), NoDataPolicy.BREACH, "healthy", ()),
    (
        "1000.1ms is slower",
        metrics(30, slow=30, slow_ms=1000.1),
        NoDataPolicy.BREACH,
        "breaching",
        ("response-time",),
    ),
    # failed transactions 0.1 %: the app's counts are large, so a modest excess is evidence.
    ("failed tx 2 of 1000 (0.2%) is noise", metrics(tx=(1000, 2)), NoDataPolicy.BREACH, "healthy", ()),
    (
        "failed tx 6 of 1000 (0.6%) breaches",
        metrics(tx=(1000, 6)),
        NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    (
        "failed tx 100 of 50000 (0.2%) breaches",
        metrics(tx=(50_000, 100)),
        NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    ("failed tx 60 of 50000 (0.12%) is noise", metrics(tx=(50_000, 60)), NoDataPolicy.BREACH, "healthy", ()),
    ("no transactions is no verdict, not 0%", metrics(tx=(0, 0)), NoDataPolicy.BREACH, "healthy", ()),
    ("no transactions block is no verdict", metrics(tx=None), NoDataPolicy.BREACH, "healthy", ()),
    # Hard outages breach at once, without a test.
    (
        "every probe failed: a hard outage and no data",
        metrics(3, 3, answered=0, tx=None, health_answered=False),
        NoDataPolicy.BREACH,
        "breaching",
        ("error-rate", "response-time", "failed-transactions"),
    ),
    (
        "every probe failed still breaches error rate under hold",
        metrics(3, 3, answered=0, tx=None, health_answered=False),
        NoDataPolicy.HOLD,
        "breaching",
        ("error-rate",),
    ),
    ("2 of 3 probes failed is a hard outage", metrics(3, 2), NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    (
        "every health probe failed is a hard outage",
        metrics(8, 2, health=(2, 2)),
        NoDataPolicy.IGNORE,
        "breaching",
        ("error-rate",),
    ),
    ("one of two health probes failing is not", metrics(8, 1, health=(2, 1)), NoDataPolicy.IGNORE, "healthy", ()),
    (
        "unreadable health body, policy breach",
        metrics(2, 0, tx=None, health_answered=False),
        NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    (
        "unreadable health body, policy hold",
        metrics(2, 0, tx=None, health_answered=False),
        NoDataPolicy.HOLD,
        "inconclusive",
        (),
    ),
    (
        "unreadable health body, policy ignore",
        metrics(2, 0, tx=None, health_answered=False),
        NoDataPolicy.IGNORE,
        "healthy",
        (),
    ),
    (
        "all three triggers at once",
        metrics(30, 10, slow=15, tx=(1000, 50)),
        NoDataPolicy.BREACH,
        "breaching",
        ("error-rate", "response-time", "failed-transactions"),
    ),
]


@pytest.mark.parametrize(("case", "m", "policy", "state", "breached"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_interval_breaches_only_on_evidence_or_a_hard_outage(
    case: str, m: IntervalMetrics, policy: NoDataPolicy, state: str, breached: tuple[str, ...]
) -> None:
    verdict = evaluate(m, SPEC, policy)
    assert (str(verdict.state), tuple(map(str, verdict.breached))) == (state, breached), (case, verdict.notes)


@pytest.mark.parametrize(
    ("confidence", "errors", "state"),
    [(Fraction(95, 100), 2, "breaching"), (Fraction(99, 100), 2, "healthy"), (Fraction(999, 1000), 3, "healthy")],
)
def test_confidence_sets_how_many_errors_are_evidence(confidence: Fraction, errors: int, state: str) -> None:
    thresholds = Thresholds(confidence=confidence)
    verdict = evaluate(metrics(30, errors), thresholds, NoDataPolicy.BREACH)
    assert str(verdict.state) == state, (confidence, errors, verdict.notes)


def test_notes_and_evidence_show_counts_bound_threshold_and_confidence() -> None:
    verdict = evaluate(metrics(30, 4), SPEC, NoDataPolicy.BREACH)
    (note,) = [n for n in verdict.notes if n.startswith("error-rate")]
    assert note.startswith("error-rate: 4/30 probes failed (13.3%); 99% lower bound "), note
    assert note.endswith("> 1%"), note
    evidence = {str(e.trigger): e.as_dict() for e in verdict.evidence}["error-rate"]
    assert (evidence["count"], evidence["total"], evidence["limit"], evidence["confidence"]) == (4, 30, 0.01, 0.99)
    assert 0.01 < evidence["lower_bound"] < 4 / 30, evidence


def test_hard_outage_note_says_why_it_did_not_wait_for_evidence() -> None:
    verdict = evaluate(metrics(3, 3, answered=0), SPEC, NoDataPolicy.IGNORE)
    assert any(n.endswith("hard outage: more than half of the probes failed") for n in verdict.notes), verdict.notes


def test_no_transactions_note_says_no_verdict_rather_than_zero() -> None:
    notes = evaluate(metrics(tx=(0, 0)), SPEC, NoDataPolicy.BREACH).notes
    assert any("failed-transactions: no verdict" in n for n in notes), notes
    assert not any("0%" in n and "failed-transactions" in n for n in notes), notes


# --- consecutive breaches -------------------------------------------------------------------------

H, B, N = IntervalState.HEALTHY, IntervalState.BREACHING, IntervalState.INCONCLUSIVE  # N: no verdict
STREAKS = [
    ("healthy deploy", [H, H, H, H], 2, None),
    ("single spike never fires", [H, B, H, B, H], 2, None),
    ("sustained breach fires on the second", [H, B, B, B], 2, 2),
    ("fires at once with consecutive 1", [H, B], 1, 1),
    ("three needed", [B, B, H, B, B, B], 3, 5),
    ("inconclusive holds the count", [B, N, B], 2, 2),
    ("inconclusive does not add", [B, N, N, H, B], 2, None),
]


@pytest.mark.parametrize(("case", "states", "consecutive", "fires_at"), STREAKS, ids=[s[0] for s in STREAKS])
def test_trigger_fires_only_after_consecutive_breaching_intervals(
    case: str, states: list[IntervalState], consecutive: int, fires_at: int | None
) -> None:
    streak, fired = 0, None
    for index, state in enumerate(states):
        streak = advance_streak(streak, state)
        if fires(streak, consecutive):
            fired = index
            break
    assert fired == fires_at, case


# --- choosing the target and idempotence ----------------------------------------------------------


def dep(
    uid: str, created: int, state: str = "READY", target: str | None = "production", candidate: bool | None = True
) -> Deployment:
    return Deployment(uid, f"{uid}.vercel.app", created, state, target, candidate)


CURRENT = dep("dpl_cur", 3000)
TARGETS = [
    ("newest earlier READY production", [dep("a", 1000), dep("b", 2000), CURRENT], "b"),
    ("skips errored builds", [dep("a", 1000), dep("b", 2000, state="ERROR")], "a"),
    ("skips previews", [dep("a", 1000), dep("b", 2000, target=None)], "a"),
    ("skips newer deployments", [dep("a", 1000), dep("n", 4000)], "a"),
    (
        "skips one Vercel says it cannot roll back to (an aborted canary)",
        [dep("a", 1000), dep("c", 2000, candidate=False)],
        "a",
    ),
    ("trusts the rollbackCandidate filter when a listing leaves the field out", [dep("a", 1000, candidate=None)], "a"),
    ("no candidate at all", [dep("c", 2000, candidate=False)], None),
    ("never the current one", [CURRENT], None),
    ("nothing earlier", [dep("n", 4000)], None),
    ("empty", [], None),
]


@pytest.mark.parametrize(("case", "deployments", "expected"), TARGETS, ids=[t[0] for t in TARGETS])
def test_rollback_target_is_the_previous_rollback_candidate(
    case: str, deployments: list[Deployment], expected: str | None
) -> None:
    chosen = act.choose_rollback_target(deployments, CURRENT)
    assert (chosen.uid if chosen else None) == expected, case


def project(production: str | None, last: AliasRequest | None = None) -> Project:
    return Project("prj_1", "chefchatz", production, last)


def alias(kind: str, status: str, src: str = "dpl_cur", dst: str = "dpl_prev") -> AliasRequest:
    return AliasRequest(kind, status, src, dst, 1)


AUDIT_ROLLED = [
    {
        "action": "rolled-back",
        "project_id": "prj_1",
        "from_deployment": "dpl_cur",
        "to_deployment": "dpl_prev",
    }
]
IDEMPOTENCE = [
    # (case, deployment asked about, project state, audit records, named explicitly, expected reason)
    ("fresh project", "dpl_cur", project("dpl_cur"), [], True, None),
    (
        "Vercel already rolled back from it",
        "dpl_cur",
        project("dpl_prev", alias("rollback", "succeeded")),
        [],
        True,
        "Vercel already rolled",
    ),
    (
        "rollback from it in progress",
        "dpl_cur",
        project("dpl_cur", alias("rollback", "in-progress")),
        [],
        True,
        "Vercel already rolled",
    ),
    (
        "failed rollback may be retried",
        "dpl_cur",
        project("dpl_cur", alias("rollback", "failed")),
        [],
        True,
        None,
    ),
    (
        "a promotion is not a rollback",
        "dpl_cur",
        project("dpl_cur", alias("promote", "succeeded", "x", "dpl_cur")),
        [],
        True,
        None,
    ),
    ("audit shows it", "dpl_cur", project("dpl_cur"), AUDIT_ROLLED, True, "audit log"),
    (
        "production already sits on a rollback target",
        "dpl_prev",
        project("dpl_prev", alias("rollback", "succeeded", "dpl_cur", "dpl_prev")),
        [],
        False,
        "already on rollback target",
    ),
    ("production serves another deployment", "dpl_cur", project("dpl_other"), [], True, "does not serve"),
    ("not named: production's own deployment is fair game", "dpl_cur", project("dpl_other"), [], False, None),
]


@pytest.mark.parametrize(
    ("case", "current", "proj", "audit", "explicit", "expected"), IDEMPOTENCE, ids=[c[0] for c in IDEMPOTENCE]
)
def test_never_rolls_back_twice(
    case: str, current: str, proj: Project, audit: list[dict[str, str]], explicit: bool, expected: str | None
) -> None:
    why = act.already_rolled_back(current, proj, audit, explicit)
    if expected is None:
        assert why is None, (case, why)
    else:
        assert why is not None and expected in why, (case, why)


# --- messages, command, exit codes ----------------------------------------------------------------


def test_manual_command_is_exact_and_quoted() -> None:
    ctx = act.RollbackContext(
        "prj_1", team_id="team_9", deployment_url="https://x.vercel.app", audit_file=Path("a b.jsonl")
    )
    assert act.rollback_command(ctx, "error-rate breached") == (
        "chefchatz rollback now --project-id prj_1 --team-id team_9 --deployment-url https://x.vercel.app "
        "--audit-file 'a b.jsonl' --reason 'error-rate breached'"
    )


def test_webhook_payload_is_slack_compatible_text_only() -> None:
    outcome = act.Outcome("notified", "prj_1", reason="why", automatic=False, command="chefchatz rollback now")
    payload = act.slack_payload(outcome)
    assert list(payload) == ["text"] and "chefchatz rollback now" in payload["text"], payload


def test_webhook_secret_path_is_never_shown() -> None:
    assert act.target_label("https://hooks.slack.com/services/T1/B2/s3cr3t") == "hooks.slack.com"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)],
)
def test_retry_after_accepts_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    now = 1445412480.0  # 2015-10-21T07:28:00Z
    assert parse_retry_after(value, now=now) == seconds


@pytest.mark.parametrize(
    ("action", "code"),
    [("healthy", 0), ("failed", 1), ("rolled-back", 4), ("already-rolled-back", 4), ("notified", 5)],
)
def test_exit_codes_mean_what_the_help_says(action: str, code: int) -> None:
    assert act.Outcome(action, "prj").exit_code == code
