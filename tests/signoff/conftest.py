"""Fixtures of the sign-off tests: the real offline plans (computed once per session), real JUnit
reports, and a directory to write evidence into (see signoff_evidence.py for the shapes)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from signoff_evidence import REPO_ROOT, STACKS, Evidence

from ops.plan import StackPlan, run_plan
from ops.signoff import checks as so


@pytest.fixture(scope="session")
def plans() -> dict[str, StackPlan]:
    """The real offline plans with the policy gate, once per session (all stacks in one run)."""
    return {p.stack: p for p in run_plan(REPO_ROOT, list(STACKS))}


@pytest.fixture(scope="session")
def junit_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real `pytest --junitxml` reports: one all-passing, one with a failure."""
    root = tmp_path_factory.mktemp("junit")
    runs = {}
    for name, body in (
        ("passing", "def test_one():\n    assert True\n\ndef test_two():\n    assert 1 + 1 == 2\n"),
        ("failing", "def test_ok():\n    assert True\n\ndef test_broken():\n    assert 1 + 1 == 3\n"),
    ):
        test_file = root / f"test_{name}.py"
        test_file.write_text(body)
        report = root / f"{name}.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        command.append(str(test_file))
        runs[name] = (report, subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _, process in runs.values():
        process.wait(timeout=120)
    return {name: report for name, (report, _) in runs.items()}


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def evidence(tmp_path: Path, now: dt.datetime) -> Evidence:
    directory = tmp_path / "evidence"
    directory.mkdir()
    return Evidence(directory, now)


@pytest.fixture(scope="session")
def deploy_workflow(plans: dict[str, StackPlan]) -> str:
    """The generated app `deploy.yml` as the program commits it (from the prod plan)."""
    for label, text in so.managed_files(plans.values()).items():
        if label.startswith("app:.github/workflows/deploy.yml"):
            return text
    raise AssertionError("no stack's plan commits .github/workflows/deploy.yml to the app repository")


@pytest.fixture(scope="session")
def cli_app() -> Iterator[Any]:
    """The real `chefchatz` app with every command registered (once: registration is not idempotent)."""
    from ops import cli

    cli._register()
    yield cli.app
