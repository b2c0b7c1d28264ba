"""The caller's side of the offline runs: `chefchatz plan` starts the stacks' process before it loads
the policy SDK or the pack, and a run that cannot go on leaves no process and no scratch behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ops.plan
from ops.plan import jobs as runs
from ops.plan.stack_config import PackConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_starting_the_runs_loads_neither_the_sdks_nor_the_pack():
    probe = (
        "import sys; import ops.plan, ops.plan.cli, ops.plan.jobs, ops.plan.run; "
        "ops.plan.resolve_stacks; "
        "print(sorted(m for m in ('pulumi', 'pulumi_policy', 'policies.pack', 'google.protobuf') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(proc.stdout.replace("'", '"')) == []


def test_every_public_name_of_the_package_resolves():
    assert sorted(ops.plan.__all__) == sorted(ops.plan._HOMES)
    for name in ops.plan.__all__:
        assert getattr(ops.plan, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ops.plan.nope  # noqa: B018


def test_a_bad_pack_config_stops_the_started_process_and_removes_its_scratch(tmp_path, monkeypatch):
    started: list[runs.Runs] = []
    real_start = runs.start

    def recording_start(jobs):  # type: ignore[no-untyped-def]
        started.append(real_start(jobs))
        return started[-1]

    monkeypatch.setattr(runs, "start", recording_start)
    bad = tmp_path / "pack.json"
    bad.write_text("{not json")
    with pytest.raises(PackConfigError, match="not valid JSON"):
        ops.plan.run_plan(ROOT, ["dev"], pack_config=bad)
    (run,) = started
    assert run.process.poll() is not None
    assert not run.scratch.exists()


def test_a_process_told_nothing_runs_nothing(tmp_path):
    request = tmp_path / "jobs.json"
    request.write_text(json.dumps([[str(ROOT), "dev"]]))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ops.plan.offline", "--jobs", str(request), "--out", str(out)],
        input="",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(out.iterdir()) == []


def test_results_come_back_in_the_order_given_and_the_scratch_is_removed(tmp_path):
    run = runs.start([(ROOT, "prod"), (ROOT, "dev")])
    results = list(run.results(None))
    assert [stack for (_, stack), _ in results] == ["prod", "dev"]
    assert [data["stack"] for _, data in results] == ["prod", "dev"]
    assert all("violations" not in data for _, data in results)
    assert not run.scratch.exists()
