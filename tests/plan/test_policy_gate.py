"""The policy gate's own bookkeeping: converting each resource's properties once changes no verdict,
json_format is the library's own again afterwards, and the gate run beside each stack's program (in
its forked process) says exactly what the gate run afterwards in this process says."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi_policy.policy
import pytest
from google.protobuf import json_format

from ops.plan import StackPlan, run_plan
from ops.plan import policy_gate as gate
from tests.plan.test_plan import project_copy, set_config

pytestmark = pytest.mark.xdist_group("plan-weakened")


@pytest.fixture(scope="module")
def weakened_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose prod stack loosens two floors."""
    project = project_copy(tmp_path_factory.mktemp("gate"))
    set_config(project, "prod", "rollbackErrorRate", "2%")
    set_config(project, "prod", "backupDatabaseRetention", "7d")
    return project


@pytest.fixture(scope="module")
def recorded(weakened_project: Path) -> StackPlan:
    """That prod stack, recorded without the gate."""
    (plan,) = run_plan(weakened_project, ["prod"], evaluate_policies=False)
    assert plan.violations == [] and plan.policies_evaluated == 0
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


def test_the_gate_beside_the_program_says_what_the_gate_afterwards_says(weakened_project: Path, recorded: StackPlan):
    (gated,) = run_plan(weakened_project, ["prod"])
    afterwards = _copy(recorded)
    gate.evaluate(afterwards)
    assert gated.violations == afterwards.violations
    assert gated.policies_evaluated == afterwards.policies_evaluated > 30
    assert gated.policy_pack == afterwards.policy_pack


def test_a_large_stacks_gate_split_over_two_processes_says_the_same(
    recorded: StackPlan, monkeypatch: pytest.MonkeyPatch
):
    alone = _copy(recorded)
    gate.evaluate(alone)
    monkeypatch.setattr(gate, "SPLIT_AT", 10)
    split = _copy(recorded)
    gate.evaluate(split, workers=2)
    assert split.violations == alone.violations and len(alone.violations) >= 2
    assert split.policies_evaluated == alone.policies_evaluated


def test_a_failing_gate_process_is_an_error_naming_what_failed(recorded: StackPlan, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gate, "SPLIT_AT", 10)
    real = gate._analyze
    parent = os.getpid()

    def fails_in_the_forked_process(servicer, resources, structs):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            raise ValueError("policy exploded")
        return real(servicer, resources, structs)

    monkeypatch.setattr(gate, "_analyze", fails_in_the_forked_process)
    with pytest.raises(RuntimeError, match="a policy gate process failed") as raised:
        gate.evaluate(_copy(recorded), workers=2)
    assert "policy exploded" in str(raised.value)
