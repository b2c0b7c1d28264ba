"""`chefchatz rollback watch` against a loopback app whose health the test controls and a Vercel stand-in.

Intervals are 0.1 s (probe timeout 0.1 s, far above loopback latency) so each case takes about a second,
with 10 probes per path and interval; the cases about the evidence rule use the pipeline's 30 probes and
longer intervals, so that a loaded test machine does not turn slow answers into timeouts. The rules are
the spec's.
"""

from __future__ import annotations

import itertools
import json
import random
import shlex
import socket
from pathlib import Path
from typing import Any

import pytest

PROJECT = "prj_chefchatz"


def watch(app_url: str, *extra: str, window: str = "2.5s", interval: str = "0.25s", samples: int = 10) -> list[str]:
    return [
        "watch",
        "--deployment-url",
        app_url,
        "--project-id",
        PROJECT,
        "--window",
        window,
        "--interval",
        interval,
        "--timeout",
        interval,
        "--verify-poll",
        "0.02s",
        "--samples",
        str(samples),
        "--json",
        *extra,
    ]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_healthy_deploy_is_not_rolled_back(project: Any, app_server: Any, run: Any) -> None:
    result = run(*watch(app_server.url))
    assert result.exit_code == 0, result.output
    assert result.json["action"] == "healthy", result.json
    assert project.rollback_posts == [], "a healthy deploy must not be rolled back"
    health_hits = [path for path, _ in app_server.hits if path == "/api/health"]
    assert len(health_hits) == 100, f"1 s window at 0.1 s interval, 10 probes each: 100, got {len(health_hits)}"


def test_sustained_5xx_rolls_back_to_the_previous_ready_production_deployment(
    project: Any, app_server: Any, run: Any
) -> None:
    app_server.status["/api/health"] = 500
    result = run(*watch(app_server.url))
    assert result.exit_code == 4, result.output
    out = result.json
    assert (out["action"], out["from_deployment"], out["to_deployment"], out["verified"]) == (
        "rolled-back",
        "dpl_bad",
        "dpl_prev",
        True,
    ), out
    assert "error-rate" in out["triggers"], out
    assert [r.path for r in project.rollback_posts] == [f"/v1/projects/{PROJECT}/rollback/dpl_prev"]
    assert "error-rate" in project.rollback_posts[0].query["description"]
    assert project.projects[PROJECT]["production"] == "dpl_prev", "production must serve the target afterwards"
    assert [i["state"] for i in out["evidence"]] == ["breaching", "breaching"], out["evidence"]


def test_latency_over_threshold_rolls_back(project: Any, app_server: Any, run: Any) -> None:
    app_server.latency_s["/api/health"] = 0.05  # slow, but well inside the 0.2 s probe timeout
    result = run(*watch(app_server.url, "--response-time", "20ms", window="2s", interval="0.2s"))
    assert result.exit_code == 4, result.output
    assert result.json["triggers"] == ["response-time"], json.dumps(result.json["evidence"], indent=1)
    assert len(project.rollback_posts) == 1


def test_failed_transactions_over_0_1_percent_roll_back(project: Any, app_server: Any, run: Any) -> None:
    app_server.set_transactions(total=50_000, failed=100)  # 0.2 % of a busy minute: strong evidence
    result = run(*watch(app_server.url))
    assert result.exit_code == 4, result.output
    assert result.json["triggers"] == ["failed-transactions"], result.json
    assert result.json["evidence"][-1]["failed_transaction_rate"] == pytest.approx(0.002)


def test_failed_transactions_over_0_1_percent_of_a_few_are_not_evidence(
    project: Any, app_server: Any, run: Any
) -> None:
    app_server.set_transactions(total=1000, failed=2)  # 0.2 %, but a 0.1 % app shows 2 of 1000 in 26 %
    result = run(*watch(app_server.url))
    assert result.exit_code == 0, result.output
    assert project.rollback_posts == []


@pytest.mark.parametrize(
    "script",
    [
        {"/api/health": [500] * 10, "/menu": [500] * 10},  # the very first interval fails entirely
        {"/api/health": [200] * 30 + [503] * 10, "/menu": [200] * 30 + [503] * 10},  # a bad interval mid-window
    ],
    ids=["first-interval", "mid-window"],
)
def test_single_spike_does_not_roll_back(project: Any, app_server: Any, run: Any, script: dict[str, list[int]]) -> None:
    app_server.script.update({path: list(codes) for path, codes in script.items()})
    # The spike is scripted by probe count, not by time: a roomy 0.3 s timeout keeps a loaded
    # machine's slow answers from reading as a second failing interval.
    result = run(*watch(app_server.url, "--smoke-path", "/menu", window="3s", interval="0.3s"))
    assert result.exit_code == 0, result.output
    states = [i["state"] for i in result.json["evidence"]]
    assert project.rollback_posts == [], f"a single spike must not roll back (last states {states})"


@pytest.mark.parametrize(
    ("errors", "code", "interval"),
    [(3, 4, "0.3s"), (2, 0, "1s")],
    ids=["3-of-30-roll-back", "2-of-30-do-not"],
)
def test_sustained_errors_roll_back_once_they_are_evidence(
    project: Any, app_server: Any, run: Any, errors: int, code: int, interval: str
) -> None:
    # Exactly ``errors`` of every interval's 30 probes fail (each interval's probes are consecutive hits):
    # 3 of 30 are 99 %-confident evidence of a true rate above 1 %, 2 of 30 are not. Where nothing may
    # breach, a 1 s probe timeout: at 0.3 s, a loaded CI machine (30 probes at once, two test workers)
    # timed one more probe out, 3 of 30.
    app_server.script["/api/health"] = ([500] * errors + [200] * (30 - errors)) * 10
    result = run(*watch(app_server.url, window="3s", interval=interval, samples=30))
    assert result.exit_code == code, result.output
    states = [i["state"] for i in result.json["evidence"]]
    if code == 4:
        assert result.json["triggers"] == ["error-rate"] and states == ["breaching", "breaching"], states
        assert len(app_server.hits) == 60, "caught in the first 2 intervals"
    else:
        assert project.rollback_posts == [] and set(states) == {"healthy"}, states


def test_clearly_slow_p95_rolls_back(project: Any, app_server: Any, run: Any) -> None:
    # Half the answers take 150 ms against a 100 ms threshold: the p95 is clearly above it.
    app_server.slow_fraction, app_server.slow_s = 0.5, 0.15
    result = run(*watch(app_server.url, "--response-time", "100ms", window="3s", interval="0.3s", samples=30))
    assert result.exit_code == 4, result.output
    assert "response-time" in result.json["triggers"], json.dumps(result.json["evidence"], indent=1)


def test_a_deploy_failing_30_percent_is_caught_within_2_intervals(project: Any, app_server: Any, run: Any) -> None:
    app_server.error_fraction = 0.30
    result = run(*watch(app_server.url, window="3s", interval="0.3s", samples=30))
    assert result.exit_code == 4, result.output
    assert [i["index"] for i in result.json["evidence"]] == [0, 1], result.json["evidence"]


NOISE = [
    # (error fraction, slow fraction, seed): true error rate and p95 well under the thresholds; each seed
    # makes noise that fools a point estimate twice in a row (checked below), as in the report.
    (0.003, 0.01, 3),
    (0.005, 0.02, 1),
    (0.008, 0.03, 0),
]


@pytest.mark.parametrize(("error_fraction", "slow_fraction", "seed"), NOISE, ids=["0.3%", "0.5%", "0.8%"])
def test_healthy_but_noisy_app_is_never_rolled_back(
    project: Any, app_server: Any, run: Any, error_fraction: float, slow_fraction: float, seed: int
) -> None:
    app_server.rng = random.Random(seed)
    app_server.error_fraction, app_server.slow_fraction, app_server.slow_s = error_fraction, slow_fraction, 0.25
    app_server.set_transactions(total=5000, failed=3)  # 0.06 %
    result = run(*watch(app_server.url, "--response-time", "200ms", window="4s", interval="0.4s", samples=30))
    assert result.exit_code == 0, json.dumps(result.json["evidence"], indent=1)
    assert project.rollback_posts == []
    # The noise was there and would have rolled back a guard deciding on point estimates: 1 error in 30
    # reads as 3.3 % > 1 %, 2 slow answers in 30 put the nearest-rank p95 over 200 ms; two such intervals
    # in a row. (The guard reports only its last intervals, so count from the app, 30 hits an interval.)
    assert len(app_server.noise) == 300, len(app_server.noise)
    point_estimate = [
        sum(e for e, _ in chunk) >= 1 or sum(s for _, s in chunk) >= 2
        for chunk in (app_server.noise[i : i + 30] for i in range(0, 300, 30))
    ]
    assert any(a and b for a, b in itertools.pairwise(point_estimate)), point_estimate
    assert result.json["evidence_rule"]["breach_at"] == {"error-rate": 3, "response-time": 6}


def test_failed_transactions_exactly_at_0_1_percent_do_not_roll_back(project: Any, app_server: Any, run: Any) -> None:
    app_server.set_transactions(total=1000, failed=1)  # exactly 0.1 %
    result = run(*watch(app_server.url))
    assert result.exit_code == 0, result.output
    assert project.rollback_posts == []


def test_error_rate_exactly_at_threshold_does_not_roll_back(project: Any, app_server: Any, run: Any) -> None:
    app_server.status["/menu"] = 500  # one of two probes fails: exactly 50 %
    # A 1 s probe timeout: at 0.25 s, a busy CI machine (20 probes at once, two test workers) let
    # health probes time out too, 0.9 instead of 0.5; the threshold is the subject here, not latency.
    result = run(*watch(app_server.url, "--smoke-path", "/menu", "--error-rate", "50%", window="3s", interval="1s"))
    assert result.exit_code == 0, result.output
    assert result.json["evidence"][-1]["error_rate"] == 0.5
    assert project.rollback_posts == []


def test_unreachable_deployment_counts_as_breaching(project: Any, run: Any) -> None:
    result = run(*watch(closed_port_url(), "--deployment-id", "dpl_bad"))
    assert result.exit_code == 4, result.output
    evidence = result.json["evidence"][-1]
    assert (evidence["error_rate"], evidence["p95_ms"]) == (1.0, None), evidence
    assert len(project.rollback_posts) == 1


@pytest.mark.parametrize(
    ("policy", "code", "posts"),
    [("breach", 4, 1), ("hold", 0, 0), ("ignore", 0, 0)],
)
def test_unreadable_health_contract_follows_the_no_data_policy(
    project: Any, app_server: Any, run: Any, policy: str, code: int, posts: int
) -> None:
    app_server.health_raw = b"<html>it works</html>"  # 200, but not the documented contract
    result = run(*watch(app_server.url, "--no-data", policy))
    assert result.exit_code == code, result.output
    assert len(project.rollback_posts) == posts


def test_health_without_transactions_gives_no_verdict_and_no_rollback(project: Any, app_server: Any, run: Any) -> None:
    app_server.set_transactions(total=0, failed=0)
    result = run(*watch(app_server.url))
    assert result.exit_code == 0, result.output
    assert result.json["evidence"][-1]["failed_transaction_rate"] is None


def test_automatic_off_only_notifies_with_the_exact_command(
    project: Any,
    app_server: Any,
    webhook: Any,
    run: Any,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("VERCEL_TOKEN")  # notifying needs no Vercel access
    app_server.status["/api/health"] = 500
    audit = tmp_path / "audit.jsonl"
    result = run(*watch(app_server.url, "--no-automatic", "--notify", webhook.url, "--audit-file", str(audit)))
    assert result.exit_code == 5, result.output
    assert project.requests == [], "with automatic off the Vercel API must not be called"
    command = result.json["command"]
    assert command.startswith(f"chefchatz rollback now --project-id {PROJECT} --deployment-url {app_server.url}")
    assert command in webhook.received[0]["text"], webhook.received
    assert json.loads(audit.read_text().splitlines()[0])["action"] == "notified"

    monkeypatch.setenv("VERCEL_TOKEN", token)
    follow_up = run(*shlex.split(command)[2:], "--json", "--verify-poll", "0.02s")
    assert follow_up.exit_code == 4, follow_up.output
    assert follow_up.json["to_deployment"] == "dpl_prev"


def test_rollback_notifies_the_webhook_with_a_slack_compatible_payload(
    project: Any, app_server: Any, webhook: Any, run: Any
) -> None:
    app_server.status["/api/health"] = 503
    result = run(*watch(app_server.url, "--notify", webhook.url))
    assert result.exit_code == 4, result.output
    assert len(webhook.received) == 1, webhook.received
    payload = webhook.received[0]
    assert list(payload) == ["text"], payload
    assert webhook.content_types == ["application/json"]
    for fragment in ("dpl_bad", "dpl_prev", PROJECT, "error-rate: 10/10 probes failed", "Data integrity preserved"):
        assert fragment in payload["text"], (fragment, payload["text"])
    assert result.json["notifications"] == [{"target": webhook.url.split("/")[2], "ok": True, "error": None}]
    assert "SECRETPART" not in result.output, "the webhook's secret path must not be printed"


def test_rollback_writes_an_audit_record(project: Any, app_server: Any, run: Any, tmp_path: Path) -> None:
    app_server.status["/api/health"] = 500
    audit = tmp_path / "audit" / "rollback.jsonl"
    result = run(*watch(app_server.url, "--audit-file", str(audit)))
    assert result.exit_code == 4, result.output
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert (record["action"], record["from_deployment"], record["to_deployment"], record["verified"]) == (
        "rolled-back",
        "dpl_bad",
        "dpl_prev",
        True,
    ), record
    assert record["actor"] and record["time"] and "error-rate" in record["reason"], record
    assert len(record["metrics"]) == 2 and record["metrics"][-1]["error_rate"] == 1.0, record["metrics"]
    evidence = {e["trigger"]: e for e in record["metrics"][-1]["evidence"]}["error-rate"]
    assert (evidence["count"], evidence["total"], evidence["limit"], evidence["confidence"]) == (10, 10, 0.01, 0.99)
    assert evidence["lower_bound"] > 0.6 and evidence["hard_outage"], evidence
    assert "10/10 probes failed" in record["reason"], record["reason"]
    assert record["data_integrity"].startswith("preserved"), record


def test_watching_again_after_a_rollback_does_nothing(project: Any, app_server: Any, run: Any, tmp_path: Path) -> None:
    app_server.status["/api/health"] = 500
    audit = str(tmp_path / "audit.jsonl")
    first = run(*watch(app_server.url, "--audit-file", audit))
    second = run(*watch(app_server.url, "--audit-file", audit))
    assert (first.exit_code, second.exit_code) == (4, 4), second.output
    assert second.json["action"] == "already-rolled-back", second.json
    assert "nothing to do" in second.json["message"]
    assert len(project.rollback_posts) == 1, "the second run must not roll back again"


def test_watch_checks_the_token_before_probing(
    project: Any, app_server: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERCEL_TOKEN", "wrong-token-123")
    result = run(*watch(app_server.url))
    assert result.exit_code == 1, result.output
    assert "403" in result.json["error"] and "--team-id" in result.json["error"], result.json
    assert app_server.hits == [], "no probing before the token is known to work"
    assert "wrong-token-123" not in result.output


def test_watch_without_token_is_a_usage_error(
    project: Any, app_server: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERCEL_TOKEN")
    result = run(*watch(app_server.url))
    assert result.exit_code == 2, result.output
    assert "VERCEL_TOKEN" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--window", "0.1s"], "--window"),
        (["--error-rate", "1"], "--error-rate"),
        (["--consecutive", "0"], "--consecutive"),
        (["--interval", "soon"], "--interval"),
        (["--samples", "1"], "use --samples 2 or more"),
        (["--samples", "2", "--confidence", "99.9%"], "use --samples 3 or more"),
        (["--confidence", "100%"], "--confidence 100% must be at least 50% and below 100%"),
        (["--confidence", "high"], "--confidence"),
    ],
)
def test_bad_options_are_usage_errors(app_server: Any, run: Any, args: list[str], fragment: str) -> None:
    result = run(*watch(app_server.url), *args)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.replace("│", " ").split())  # the error box wraps long messages
    assert fragment in flat, flat


def test_human_output_shows_each_interval_and_the_outcome(project: Any, app_server: Any, run: Any) -> None:
    app_server.status["/api/health"] = 500
    args = [a for a in watch(app_server.url) if a != "--json"]
    result = run(*args)
    assert result.exit_code == 4, result.output
    assert "#0   breaching" in result.output and "streak 2/2" in result.output, result.output
    first_line = result.output.splitlines()[0]
    assert first_line.startswith("evidence rule: 99% confidence") and "at >= 2 errors" in first_line, first_line
    assert "error-rate: 10/10 probes failed (100%); hard outage" in result.output, result.output
    assert "rolled-back: rolled production of prj_chefchatz back from dpl_bad to dpl_prev" in result.output
