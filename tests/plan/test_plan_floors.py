"""The spec is a floor only the pack can lower: a stack file that loosens any spec value fails the
plan (exit 1 naming the policy, or exit 2 naming the key), a stack file may tighten them, and a
policy pack config can lower a floor but a stack file still cannot go below the lowered one.

Each case runs the real program of one stack offline (its own process) and the real policy gate,
through the same library calls `chefchatz plan` makes; `test_exit_codes.py` covers the CLI itself.
The weakenings of the table are planned in one batch (`run_plans`: the SDKs and the pack load once,
each case still in a fresh process of its own), on one test worker (the `plan-floors` group).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops import plan as planlib
from ops.plan import StackPlan
from ops.plan.policy_gate import PackConfigError
from tests.plan.test_plan import project_copy, set_config

# One worker plans the whole table in one batch (see `./dev test`: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("plan-floors")


@dataclass(frozen=True)
class Weakening:
    stack: str
    key: str
    value: str
    code: int
    # The policy (exit 1) or the config key (exit 2) the failure must name.
    named: str


SPEC_CIPHERS = "[ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256]"

WEAKENINGS: dict[str, Weakening] = {
    # --- prod ---
    "prod-error-rate-2pct": Weakening("prod", "rollbackErrorRate", "2%", 1, "rollback-trigger-floors"),
    "prod-response-time-1500ms": Weakening("prod", "rollbackResponseTime", "1500ms", 1, "rollback-trigger-floors"),
    "prod-failed-tx-0.5pct": Weakening("prod", "rollbackFailedTransactions", "0.5%", 1, "rollback-trigger-floors"),
    "prod-no-notification-targets": Weakening("prod", "rollbackNotifications", "[]", 1, "rollback-trigger-floors"),
    "prod-timeout-10s": Weakening("prod", "healthCheckTimeout", "10s", 1, "health-check-floors"),
    "prod-unhealthy-after-3": Weakening("prod", "healthCheckUnhealthyThreshold", "3", 1, "health-check-floors"),
    "prod-health-path-moved": Weakening("prod", "healthCheckPath", "/healthz", 1, "health-check-floors"),
    "prod-interval-5m": Weakening("prod", "healthCheckInterval", "5m", 2, "chefchatz:healthCheckInterval"),
    "prod-apdex-0.9": Weakening("prod", "sloApdex", '"0.9"', 1, "performance-objective-floors"),
    # Apdex T at 25x the p95 objective would make the apdex target meaningless.
    "prod-apdex-t-5000ms": Weakening("prod", "sloApdexThreshold", "5000ms", 1, "performance-objective-floors"),
    "prod-p95-300ms": Weakening("prod", "sloP95", "300ms", 1, "performance-objective-floors"),
    "prod-p99-800ms": Weakening("prod", "sloP99", "800ms", 1, "performance-objective-floors"),
    "prod-error-budget-1pct": Weakening("prod", "sloErrorBudget", "1%", 1, "performance-objective-floors"),
    "prod-budget-window-90d": Weakening("prod", "sloErrorBudgetWindow", "90d", 1, "performance-objective-floors"),
    "prod-rpo-4h": Weakening("prod", "drRpo", "4h", 1, "disaster-recovery-floors"),
    "prod-rto-1h": Weakening("prod", "drRto", "1h", 1, "disaster-recovery-floors"),
    "prod-db-failover-manual": Weakening("prod", "drDatabaseFailover", "manual", 1, "disaster-recovery-floors"),
    "prod-reconciliation-manual": Weakening("prod", "drDataReconciliation", "manual", 1, "disaster-recovery-floors"),
    "prod-custom-certificates": Weakening("prod", "tlsProvider", "custom", 1, "tls-floors"),
    "prod-auto-renew-off": Weakening("prod", "tlsAutoRenew", "false", 1, "tls-floors"),
    "prod-weak-preferred-cipher": Weakening(
        "prod", "tlsPreferredCiphers", SPEC_CIPHERS[:-1] + ", ECDHE-RSA-AES128-SHA]", 1, "tls-floors"
    ),
    "prod-one-spec-cipher-dropped": Weakening(
        "prod", "tlsPreferredCiphers", "[ECDHE-RSA-AES128-GCM-SHA256]", 1, "tls-floors"
    ),
    "prod-tls-1.0": Weakening("prod", "tlsMinimumVersion", "TLS1.0", 2, "chefchatz:tlsMinimumVersion"),
    "prod-replica-in-own-region": Weakening(
        "prod", "backupReplicaRegion", "us-east-1", 1, "backup-replica-in-another-region"
    ),
    "prod-unpinned-image": Weakening(
        "prod", "backupImage", "ghcr.io/chefchatz/chefchatz-infra:0.1.0", 1, "backup-image-pinned-in-production"
    ),
    "prod-database-full-only": Weakening("prod", "backupDatabaseType", "full", 1, "backup-plan-floors"),
    "prod-assets-incremental": Weakening("prod", "backupAssetsType", "incremental", 1, "backup-plan-floors"),
    "prod-no-pitr": Weakening("prod", "backupPointInTimeRecovery", "false", 1, "backup-plan-floors"),
    "prod-db-retention-7d": Weakening("prod", "backupDatabaseRetention", "7d", 1, "backup-frequency-and-retention"),
    "prod-assets-every-48h": Weakening("prod", "backupAssetsFrequency", "48h", 1, "backup-frequency-and-retention"),
    "prod-db-every-5h": Weakening("prod", "backupDatabaseFrequency", "5h", 2, "chefchatz:backupDatabaseFrequency"),
    "prod-one-approver": Weakening("prod", "releaseApprovals", "[tech-lead]", 1, "release-approver-floor"),
    "prod-other-approver": Weakening("prod", "releaseApprovals", "[tech-lead, qa]", 1, "release-approver-floor"),
    "prod-relaxed-ai-limits": Weakening("prod", "featureAiLimits", "relaxed", 1, "feature-floors"),
    "prod-no-changelog": Weakening("prod", "releaseChangelog", "false", 2, "chefchatz:releaseChangelog"),
    # --- staging ---
    "staging-error-rate-5pct": Weakening("staging", "rollbackErrorRate", "5%", 1, "rollback-trigger-floors"),
    "staging-p99-1s": Weakening("staging", "sloP99", "1s", 1, "performance-objective-floors"),
    "staging-rto-30m": Weakening("staging", "drRto", "30m", 1, "disaster-recovery-floors"),
    "staging-auto-renew-off": Weakening("staging", "tlsAutoRenew", "false", 1, "tls-floors"),
    "staging-timeout-20s": Weakening("staging", "healthCheckTimeout", "20s", 1, "health-check-floors"),
    "staging-assets-kept-30d": Weakening(
        "staging", "backupAssetsRetention", "30d", 1, "backup-frequency-and-retention"
    ),
    "staging-approver-missing": Weakening(
        "staging", "releaseApprovals", "[product-owner]", 1, "release-approver-floor"
    ),
    "staging-unparsable-target": Weakening(
        "staging", "rollbackNotifications", '["pager:123"]', 2, "chefchatz:rollbackNotifications"
    ),
    "staging-analytics-off": Weakening("staging", "featureAnalytics", "false", 1, "feature-floors"),
    # --- dev ---
    "dev-response-time-2s": Weakening("dev", "rollbackResponseTime", "2s", 1, "rollback-trigger-floors"),
    "dev-apdex-0.5": Weakening("dev", "sloApdex", '"0.5"', 1, "performance-objective-floors"),
    "dev-rpo-24h": Weakening("dev", "drRpo", "24h", 1, "disaster-recovery-floors"),
    "dev-db-retention-7d": Weakening("dev", "backupDatabaseRetention", "7d", 1, "backup-frequency-and-retention"),
    "dev-cbc-cipher": Weakening("dev", "tlsPreferredCiphers", SPEC_CIPHERS[:-1] + ", AES128-SHA]", 1, "tls-floors"),
    "dev-unhealthy-after-5": Weakening("dev", "healthCheckUnhealthyThreshold", "5", 1, "health-check-floors"),
    "dev-no-pitr": Weakening("dev", "backupPointInTimeRecovery", "false", 1, "backup-plan-floors"),
    "dev-no-notification-targets": Weakening("dev", "rollbackNotifications", "[]", 1, "rollback-trigger-floors"),
}

# Every value tightened at once: the stack is stricter than the spec, which is always allowed.
# (Not tlsMinimumVersion: Vercel cannot turn TLS 1.2 off, so TLS1.3 is refused as input, exit 2.)
TIGHTENED = {
    "rollbackErrorRate": "0.5%",
    "rollbackResponseTime": "800ms",
    "rollbackFailedTransactions": "0.05%",
    "healthCheckInterval": "10s",
    "healthCheckTimeout": "3s",
    "healthCheckUnhealthyThreshold": "1",
    "sloApdex": '"0.995"',
    "sloApdexThreshold": "100ms",
    "sloP95": "150ms",
    "sloP99": "400ms",
    "sloErrorBudget": "0.05%",
    "sloErrorBudgetWindow": "7d",
    "drRpo": "30m",
    "drRto": "10m",
    "drRegionFailover": "automatic",
    "tlsPreferredCiphers": SPEC_CIPHERS[:-1] + ", ECDHE-ECDSA-CHACHA20-POLY1305]",
    "backupDatabaseFrequency": "3h",
    "backupDatabaseRetention": "60d",
    "releaseApprovals": "[tech-lead, product-owner, security]",
}


@dataclass(frozen=True)
class Outcome:
    code: int
    violations: list[tuple[str, str]]
    config_error: str

    @property
    def policies(self) -> set[str]:
        return {policy for policy, _ in self.violations}


def outcome_of(plan: StackPlan) -> Outcome:
    mandatory = [(v.policy, v.message) for v in plan.mandatory_violations]
    return Outcome(planlib.exit_code([plan]), mandatory, plan.config_error or "")


def plan_once(project: Path, stack: str, pack_config: Path | None = None) -> Outcome:
    (plan,) = planlib.run_plan(project, [stack], pack_config=pack_config)
    return outcome_of(plan)


def weakened_copy(tmp_path: Path, stack: str, values: dict[str, str]) -> Path:
    tmp_path.mkdir(exist_ok=True)
    project = project_copy(tmp_path)
    for key, value in values.items():
        set_config(project, stack, key, value)
    return project


def test_the_table_has_at_least_40_weakenings_across_all_three_stacks() -> None:
    assert len(WEAKENINGS) >= 40
    assert {case.stack for case in WEAKENINGS.values()} == {"dev", "staging", "prod"}


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case of the table planned in one batch: name -> outcome."""
    jobs = {
        name: (weakened_copy(tmp_path_factory.mktemp(name), case.stack, {case.key: case.value}), case.stack)
        for name, case in WEAKENINGS.items()
    }
    plans = planlib.run_plans(list(jobs.values()))
    return {name: outcome_of(plan) for name, plan in zip(jobs, plans, strict=True)}


def test_a_batch_plans_each_case_as_if_alone(tmp_path: Path, weakened: dict[str, Outcome]) -> None:
    """The batch is not a shortcut: one case planned alone gives the very same outcome."""
    name = "prod-db-retention-7d"
    case = WEAKENINGS[name]
    alone = plan_once(weakened_copy(tmp_path, case.stack, {case.key: case.value}), case.stack)
    assert alone == weakened[name]


@pytest.mark.parametrize("name", sorted(WEAKENINGS))
def test_a_stack_file_cannot_loosen_a_spec_value(weakened: dict[str, Outcome], name: str) -> None:
    case = WEAKENINGS[name]
    outcome = weakened[name]
    assert outcome.code == case.code, f"{name}: exit {outcome.code}, {outcome.violations or outcome.config_error}"
    if case.code == 2:
        assert case.named in outcome.config_error, f"{name}: {outcome.config_error}"
        return
    messages = [m for p, m in outcome.violations if p == case.named]
    assert messages, f"{name}: {case.named} not among {outcome.violations}"
    mine = [m for m in messages if f"chefchatz:{case.key}" in m]
    assert mine, f"{name}: {case.named} does not name chefchatz:{case.key}: {messages}"
    if case.named.endswith(("-floors", "-floor")):
        # The stack's value and the floor are both in the message.
        assert any("looser than the floor" in m or "is not" in m for m in mine), mine


def test_a_stack_file_may_tighten_every_spec_value(tmp_path: Path) -> None:
    outcome = plan_once(weakened_copy(tmp_path, "prod", TIGHTENED), "prod")
    assert outcome.code == 0, outcome.violations or outcome.config_error


# --- lowering a floor is the pack config's job --------------------------------------------------


LOWERED = {"rollback-trigger-floors": {"errorRate": "2%"}, "disaster-recovery-floors": {"rto": "30m"}}


def pack_config_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "pack-config.json"
    path.write_text(json.dumps(document))
    return path


def test_a_pack_config_lowers_a_floor_and_the_stack_may_then_use_it(tmp_path: Path) -> None:
    project = weakened_copy(tmp_path / "p", "prod", {"rollbackErrorRate": "2%", "drRto": "30m"})
    outcome = plan_once(project, "prod", pack_config_file(tmp_path, LOWERED))
    assert outcome.code == 0, outcome.violations


def test_without_the_pack_config_the_same_stack_file_fails(tmp_path: Path) -> None:
    outcome = plan_once(weakened_copy(tmp_path, "prod", {"rollbackErrorRate": "2%", "drRto": "30m"}), "prod")
    assert outcome.code == 1
    assert {"rollback-trigger-floors", "disaster-recovery-floors"} <= outcome.policies


def test_a_stack_file_still_cannot_go_below_a_lowered_floor(tmp_path: Path) -> None:
    project = weakened_copy(tmp_path / "p", "prod", {"rollbackErrorRate": "3%"})
    outcome = plan_once(project, "prod", pack_config_file(tmp_path, LOWERED))
    assert outcome.code == 1
    (message,) = [m for p, m in outcome.violations if p == "rollback-trigger-floors"]
    assert "'3%'" in message and "'2%'" in message, message


def test_a_pack_config_that_names_no_policy_is_refused_before_any_stack_runs(tmp_path: Path) -> None:
    bad = tmp_path / "pack.json"
    bad.write_text(json.dumps({"rollback-trigger-floor": {"errorRate": "2%"}}))
    with pytest.raises(PackConfigError, match="'rollback-trigger-floor' is not a policy"):
        planlib.run_plan(tmp_path, ["prod"], pack_config=bad)
