"""The policy gate's own bookkeeping: converting each resource's properties once changes no verdict,
json_format is the library's own again afterwards, and the gate run beside each stack's program (in
its forked process) says exactly what the gate run afterwards in this process says."""

from __future__ import annotations

from pathlib import Path

import pulumi_policy.policy
import pytest
from google.protobuf import json_format

from ops.plan import StackPlan, run_plan
from ops.plan import policy_gate as gate
from tests.plan.test_plan import project_copy, set_config

pytestmark = pytest.mark.xdist_group("plan-weakened")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> StackPlan:
    """Prod with two floors loosened, recorded without the gate."""
    project = project_copy(tmp_path_factory.mktemp("gate"))
    set_config(project, "prod", "rollbackErrorRate", "2%")
    set_config(project, "prod", "backupDatabaseRetention", "7d")
    (plan,) = run_plan(project, ["prod"], evaluate_policies=False)
    assert plan.violations == [] and plan.policies_evaluated == 0
    plan.project = project  # type: ignore[attr-defined]
    return plan


def _copy(plan: StackPlan) -> StackPlan:
    return StackPlan(plan.stack, resources=plan.resources)


def test_converting_each_struct_once_changes_no_violation(recorded: StackPlan, monkeypatch: pytest.MonkeyPatch):
    memoized = _copy(recorded)
    gate.evaluate(memoized)
    assert {"rollback-trigger-floors", "backup-frequency-and-retention"} <= {
        v.policy for v in memoized.mandatory_violations
    }

    # The same evaluation with the analyzer converting every Struct for every policy, as it does alone.
    class EveryTime(gate._ConvertOnce):
        def MessageToDict(self, message, *args, **kwargs):  # type: ignore[no-untyped-def]
            return json_format.MessageToDict(message, *args, **kwargs)

    monkeypatch.setattr(gate, "_ConvertOnce", EveryTime)
    plain = _copy(recorded)
    gate.evaluate(plain)
    assert memoized.violations == plain.violations


def test_each_distinct_struct_is_converted_once(recorded: StackPlan, monkeypatch: pytest.MonkeyPatch):
    calls: list[int] = []
    original = json_format.MessageToDict

    def counting(message, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(message, *args, **kwargs)

    monkeypatch.setattr(gate.json_format, "MessageToDict", counting)
    gate.evaluate(_copy(recorded))
    distinct = {gate._struct(r["properties"]).SerializeToString(deterministic=True) for r in recorded.resources}
    # Each policy's config once (`Configure`), then each distinct properties Struct once: not once
    # per resource per policy (35 x 164 here).
    assert len(calls) == len(gate.default_configs()) + len(distinct)


def test_json_format_is_restored_even_when_a_policy_fails(recorded: StackPlan, monkeypatch: pytest.MonkeyPatch):
    assert pulumi_policy.policy.json_format is json_format

    def broken(self, request, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(gate._PolicyAnalyzerServicer, "AnalyzeStack", broken)
    with pytest.raises(RuntimeError, match="boom"):
        gate.evaluate(_copy(recorded))
    assert pulumi_policy.policy.json_format is json_format


def test_the_gate_beside_the_program_says_what_the_gate_afterwards_says(recorded: StackPlan):
    project: Path = recorded.project  # type: ignore[attr-defined]
    (gated,) = run_plan(project, ["prod"])
    afterwards = _copy(recorded)
    gate.evaluate(afterwards)
    assert gated.violations == afterwards.violations
    assert gated.policies_evaluated == afterwards.policies_evaluated > 30
    assert gated.policy_pack == afterwards.policy_pack
