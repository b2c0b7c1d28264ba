"""The deciding logic of the rollback guard as pure functions, proved by tables of cases."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from ops.rollback import action as act
from ops.rollback import guard as rb
from ops.rollback.vercel_api import AliasRequest, Deployment, Project, parse_retry_after

SPEC = rb.Thresholds()  # error rate > 1 %, response time > 1000 ms, failed transactions > 0.1 %


def metrics(
    requests: int = 30,
    errors: int = 0,
    answered: int | None = None,
    slow: int = 0,
    slow_ms: float = 2000.0,
    tx: tuple[int, int] | None = (10_000, 0),
    health_answered: bool = True,
    health: tuple[int, int] | None = None,
) -> rb.IntervalMetrics:
    """An interval from counts: ``answered`` answers (default: every request), ``slow`` of them slow."""
    answered = requests if answered is None else answered
    latencies = (slow_ms,) * slow + (100.0,) * (answered - slow)
    health_requests, health_errors = health if health is not None else (requests, errors)
    return rb.IntervalMetrics(
        index=0,
        started_at=0.0,
        requests=requests,
        errors=errors,
        latencies_ms=latencies,
        health_answered=health_answered,
        transactions=None if tx is None else rb.Transactions(tx[0], tx[1], 60),
        health_requests=health_requests,
        health_errors=health_errors,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600.0),
        ("30s", 30.0),
        ("5s", 5.0),
        ("200ms", 0.2),
        ("0.05s", 0.05),
        ("1h", 3600.0),
        ("45", 45.0),
    ],
)
def test_durations_parse_with_units(text: str, seconds: float) -> None:
    assert rb.parse_duration(text) == pytest.approx(seconds), text


@pytest.mark.parametrize("text", ["", "ten minutes", "5d", "-1s", "0s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rb.parse_duration(text)


@pytest.mark.parametrize(("text", "ms"), [("1000ms", 1000.0), ("1s", 1000.0), ("1000", 1000.0), ("250ms", 250.0)])
def test_response_time_parses_to_milliseconds(text: str, ms: float) -> None:
    assert rb.parse_milliseconds(text) == pytest.approx(ms), text


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("1%", Fraction(1, 100)),
        ("0.1%", Fraction(1, 1000)),
        ("> 1%", Fraction(1, 100)),
        ("100%", Fraction(1)),
    ],
)
def test_spec_percentages_parse_exactly(text: str, fraction: Fraction) -> None:
    assert rb.parse_percent(text) == fraction, text


@pytest.mark.parametrize("text", ["1", "abc%", "101%", "-1%"])
def test_bad_percentages_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rb.parse_percent(text)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([120.0], 120.0),
        ([10.0, 20.0], 20.0),
        ([float(v) for v in range(1, 21)], 19.0),  # rank ceil(0.95*20)=19
        ([float(v) for v in range(1, 101)], 95.0),
        ([5.0, 1.0, 3.0], 5.0),
    ],
)
def test_p95_is_nearest_rank(values: list[float], expected: float | None) -> None:
    assert rb.p95(values) == expected


@pytest.mark.parametrize(
    ("status", "latency_ms", "expected"),
    [
        (200, 10.0, None),
        (404, 10.0, None),  # client errors are not failures of the deployment
        (500, 10.0, "http-500"),
        (503, 10.0, "http-503"),
        (None, None, "connection"),
        (200, 5001.0, "timeout"),  # answered, but slower than the 5 s probe timeout
        (200, 5000.0, None),
    ],
)
def test_probe_errors_are_5xx_timeouts_and_connection_failures(
    status: int | None, latency_ms: float | None, expected: str | None
) -> None:
    assert rb.classify(status, latency_ms, 5000.0) == expected


# --- the verdict per interval: counts -> verdict ----------------------------------------------------

VERDICTS = [
    # (case, metrics, policy, expected state, expected breached triggers)
    ("healthy", metrics(), rb.NoDataPolicy.BREACH, "healthy", ()),
    # error rate 1 %, 99 % confidence: with 20 probes 3 errors are evidence, 1 or 2 are noise.
    ("1 error in 20 probes (5%) is noise", metrics(20, 1), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("2 errors in 20 probes (10%) are noise", metrics(20, 2), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("3 errors in 20 probes breach", metrics(20, 3), rb.NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("2 errors in 30 probes are noise", metrics(30, 2), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("3 errors in 30 probes breach", metrics(30, 3), rb.NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("sustained 2% over 2000 probes breaches", metrics(2000, 40), rb.NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    ("1.2% over 2000 probes is not evidence", metrics(2000, 24), rb.NoDataPolicy.BREACH, "healthy", ()),
    # p95 <= 1000 ms allows 5 % slower answers: of 30, 6 slower are evidence, 5 are not.
    ("5 of 30 answers slower is noise", metrics(30, slow=5), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("6 of 30 answers slower breach", metrics(30, slow=6), rb.NoDataPolicy.BREACH, "breaching", ("response-time",)),
    ("exactly 1000ms is not slower", metrics(30, slow=30, slow_ms=1000.0), rb.NoDataPolicy.BREACH, "healthy", ()),
    (
        "1000.1ms is slower",
        metrics(30, slow=30, slow_ms=1000.1),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("response-time",),
    ),
    # failed transactions 0.1 %: the app's counts are large, so a modest excess is evidence.
    ("failed tx 2 of 1000 (0.2%) is noise", metrics(tx=(1000, 2)), rb.NoDataPolicy.BREACH, "healthy", ()),
    (
        "failed tx 6 of 1000 (0.6%) breaches",
        metrics(tx=(1000, 6)),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    (
        "failed tx 100 of 50000 (0.2%) breaches",
        metrics(tx=(50_000, 100)),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    ("failed tx 60 of 50000 (0.12%) is noise", metrics(tx=(50_000, 60)), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("no transactions is no verdict, not 0%", metrics(tx=(0, 0)), rb.NoDataPolicy.BREACH, "healthy", ()),
    ("no transactions block is no verdict", metrics(tx=None), rb.NoDataPolicy.BREACH, "healthy", ()),
    # Hard outages breach at once, without a test.
    (
        "every probe failed: a hard outage and no data",
        metrics(3, 3, answered=0, tx=None, health_answered=False),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("error-rate", "response-time", "failed-transactions"),
    ),
    (
        "every probe failed still breaches error rate under hold",
        metrics(3, 3, answered=0, tx=None, health_answered=False),
        rb.NoDataPolicy.HOLD,
        "breaching",
        ("error-rate",),
    ),
    ("2 of 3 probes failed is a hard outage", metrics(3, 2), rb.NoDataPolicy.BREACH, "breaching", ("error-rate",)),
    (
        "every health probe failed is a hard outage",
        metrics(8, 2, health=(2, 2)),
        rb.NoDataPolicy.IGNORE,
        "breaching",
        ("error-rate",),
    ),
    ("one of two health probes failing is not", metrics(8, 1, health=(2, 1)), rb.NoDataPolicy.IGNORE, "healthy", ()),
    (
        "unreadable health body, policy breach",
        metrics(2, 0, tx=None, health_answered=False),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("failed-transactions",),
    ),
    (
        "unreadable health body, policy hold",
        metrics(2, 0, tx=None, health_answered=False),
        rb.NoDataPolicy.HOLD,
        "inconclusive",
        (),
    ),
    (
        "unreadable health body, policy ignore",
        metrics(2, 0, tx=None, health_answered=False),
        rb.NoDataPolicy.IGNORE,
        "healthy",
        (),
    ),
    (
        "all three triggers at once",
        metrics(30, 10, slow=15, tx=(1000, 50)),
        rb.NoDataPolicy.BREACH,
        "breaching",
        ("error-rate", "response-time", "failed-transactions"),
    ),
]


@pytest.mark.parametrize(("case", "m", "policy", "state", "breached"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_interval_breaches_only_on_evidence_or_a_hard_outage(
    case: str, m: rb.IntervalMetrics, policy: rb.NoDataPolicy, state: str, breached: tuple[str, ...]
) -> None:
    verdict = rb.evaluate(m, SPEC, policy)
    assert (str(verdict.state), tuple(map(str, verdict.breached))) == (state, breached), (case, verdict.notes)


@pytest.mark.parametrize(
    ("confidence", "errors", "state"),
    [(Fraction(95, 100), 2, "breaching"), (Fraction(99, 100), 2, "healthy"), (Fraction(999, 1000), 3, "healthy")],
)
def test_confidence_sets_how_many_errors_are_evidence(confidence: Fraction, errors: int, state: str) -> None:
    thresholds = rb.Thresholds(confidence=confidence)
    verdict = rb.evaluate(metrics(30, errors), thresholds, rb.NoDataPolicy.BREACH)
    assert str(verdict.state) == state, (confidence, errors, verdict.notes)


def test_notes_and_evidence_show_counts_bound_threshold_and_confidence() -> None:
    verdict = rb.evaluate(metrics(30, 4), SPEC, rb.NoDataPolicy.BREACH)
    (note,) = [n for n in verdict.notes if n.startswith("error-rate")]
    assert note.startswith("error-rate: 4/30 probes failed (13.3%); 99% lower bound "), note
    assert note.endswith("> 1%"), note
    evidence = {str(e.trigger): e.as_dict() for e in verdict.evidence}["error-rate"]
    assert (evidence["count"], evidence["total"], evidence["limit"], evidence["confidence"]) == (4, 30, 0.01, 0.99)
    assert 0.01 < evidence["lower_bound"] < 4 / 30, evidence


def test_hard_outage_note_says_why_it_did_not_wait_for_evidence() -> None:
    verdict = rb.evaluate(metrics(3, 3, answered=0), SPEC, rb.NoDataPolicy.IGNORE)
    assert any(n.endswith("hard outage: more than half of the probes failed") for n in verdict.notes), verdict.notes


def test_no_transactions_note_says_no_verdict_rather_than_zero() -> None:
    notes = rb.evaluate(metrics(tx=(0, 0)), SPEC, rb.NoDataPolicy.BREACH).notes
    assert any("failed-transactions: no verdict" in n for n in notes), notes
    assert not any("0%" in n and "failed-transactions" in n for n in notes), notes


# --- consecutive breaches -------------------------------------------------------------------------

H, B, N = rb.IntervalState.HEALTHY, rb.IntervalState.BREACHING, rb.IntervalState.INCONCLUSIVE  # N: no verdict
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
    case: str, states: list[rb.IntervalState], consecutive: int, fires_at: int | None
) -> None:
    streak, fired = 0, None
    for index, state in enumerate(states):
        streak = rb.advance_streak(streak, state)
        if rb.fires(streak, consecutive):
            fired = index
            break
    assert fired == fires_at, case


# --- health contract ------------------------------------------------------------------------------

HEALTH_BODIES = [
    ('{"status":"ok","transactions":{"total":10,"failed":1,"window_seconds":60}}', ("ok", (10, 1))),
    ('{"status":"degraded","checks":{"db":{"status":"down"}}}', ("degraded", None)),
    ('{"status":"ok","transactions":{"total":0,"failed":0}}', ("ok", (0, 0))),
    ("<html>ok</html>", None),
    ('{"transactions":{"total":1,"failed":0}}', None),  # status is required
    ('{"status":"ok","transactions":{"total":1,"failed":2}}', None),  # failed > total
    ('{"status":"ok","transactions":{"total":"10","failed":0}}', None),
    ('{"status":"ok","transactions":{"total":true,"failed":0}}', None),
    ('{"status":"ok","transactions":{"total":10,"failed":-1}}', None),
    ('{"status":"ok","transactions":[1,2]}', None),
    ("[]", None),
]


@pytest.mark.parametrize(("body", "expected"), HEALTH_BODIES)
def test_health_contract_is_parsed_strictly(body: str, expected: tuple[str, tuple[int, int] | None] | None) -> None:
    reading = rb.parse_health_body(body)
    if expected is None:
        assert reading is None, body
        return
    assert reading is not None, body
    tx = None if reading.transactions is None else (reading.transactions.total, reading.transactions.failed)
    assert (reading.status, tx) == expected, body


def test_interval_takes_transactions_from_the_newest_health_answer() -> None:
    old = rb.HealthReading("ok", rb.Transactions(100, 0, 60))
    new = rb.HealthReading("ok", rb.Transactions(100, 5, 60))
    samples = [
        rb.Sample("/api/health", 200, 10.0, health=old),
        rb.Sample("/", 500, 12.0, error="http-500"),
        rb.Sample("/api/health", 200, 30.0, health=new),
        rb.Sample("/menu", None, None, error="timeout"),
    ]
    m = rb.summarise(4, 0.0, samples)
    assert (m.requests, m.errors, m.p95_ms, m.failed_transaction_rate) == (4, 2, 30.0, Fraction(5, 100))


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


# --- messages, command, settings ------------------------------------------------------------------


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
    ("overrides", "fragment"),
    [
        ({"deployment_url": "chefchatz.com"}, "--deployment-url"),
        ({"smoke_paths": ("menu",)}, "--smoke-path 'menu'"),
        ({"consecutive": 0}, "--consecutive 0"),
        ({"timeout_s": 40.0}, "--timeout 40s"),
        ({"window_s": 30.0}, "--window 30s"),
        ({"samples": 0}, "--samples 0"),
        ({"samples": 1}, "--samples 1 gives 1 requests per interval, too few to ever be 99%-confident"),
        ({"thresholds": rb.Thresholds(confidence=Fraction(1))}, "--confidence 100% must be at least 50%"),
        ({"thresholds": rb.Thresholds(confidence=Fraction(1, 5))}, "--confidence 20% must be at least 50%"),
        ({"samples": 2, "thresholds": rb.Thresholds(confidence=Fraction(999, 1000))}, "use --samples 3 or more"),
    ],
)
def test_settings_report_the_offending_option(overrides: dict[str, object], fragment: str) -> None:
    settings = rb.WatchSettings(**{"deployment_url": "https://x.vercel.app", **overrides})  # type: ignore[arg-type]
    assert any(fragment in p for p in settings.problems()), settings.problems()


def test_settings_report_all_problems_at_once() -> None:
    settings = rb.WatchSettings("nope", consecutive=0, samples=0)
    assert len(settings.problems()) == 3, settings.problems()


def test_spec_defaults_are_the_documented_numbers() -> None:
    s = rb.WatchSettings("https://x.vercel.app")
    assert (s.health_path, s.interval_s, s.timeout_s, s.consecutive, s.window_s) == (
        "/api/health",
        30,
        5,
        2,
        600,
    )
    assert (s.thresholds.error_rate, s.thresholds.response_time_ms, s.thresholds.failed_transaction_rate) == (
        Fraction(1, 100),
        1000.0,
        Fraction(1, 1000),
    )
    assert (s.thresholds.confidence, s.samples) == (Fraction(99, 100), 30)


def test_smoke_paths_count_towards_the_minimum_samples() -> None:
    alone = rb.WatchSettings("https://x.vercel.app", samples=1)
    with_smoke = rb.WatchSettings("https://x.vercel.app", samples=1, smoke_paths=("/menu",))
    assert (rb.minimum_samples(alone), rb.minimum_samples(with_smoke)) == (2, 1)
    assert with_smoke.problems() == [], with_smoke.problems()


def test_a_disabled_trigger_does_not_raise_the_minimum() -> None:
    # A 100 % error-rate threshold can never be exceeded: only the p95 test sets the minimum.
    settings = rb.WatchSettings("https://x.vercel.app", thresholds=rb.Thresholds(error_rate=Fraction(1)))
    assert rb.minimum_samples(settings) == 2


def test_plan_states_the_counts_that_breach_and_the_false_alarm_rates() -> None:
    settings = rb.WatchSettings("https://chefchatz.com")  # the generated pipeline's settings
    plan = rb.evidence_plan(settings)
    assert plan["breach_at"] == {"error-rate": 3, "response-time": 6}, plan
    assert (plan["requests_per_interval"], plan["minimum_samples"], plan["intervals"]) == (30, 2, 20), plan
    # Worst case, all three triggers sitting exactly at their thresholds: sizes 0.33 % + 0.33 % + 1 %.
    assert 0.015 < plan["false_alarm_per_interval"] < 0.017, plan
    assert plan["false_alarm_per_window"] < 0.01, plan
    text = rb.plan_text(settings, plan)
    assert "99% confidence" in text and "at >= 3 errors" in text and "Minimum --samples: 2" in text, text


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
