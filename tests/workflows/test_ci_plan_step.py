"""The infra repository's CI plan step (`.github/workflows/ci.yml`, job `plan`) run as GitHub runs it:
its script under `bash -e`, in temporary git histories, with a fake `chefchatz` that records its
arguments. Which base it plans against decides what the pull-request comment says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import REPO_ROOT

CI = REPO_ROOT / ".github/workflows/ci.yml"
STEP = "Plan every stack offline against the base, and evaluate the policy pack"
ZEROS = "0" * 40


def plan_script() -> str:
    document = yaml.load(CI.read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    (step,) = [s for s in document["jobs"]["plan"]["steps"] if s.get("name") == STEP]
    return step["run"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def history(tmp_path: Path, commits: int) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for n in range(commits):
        identity = ("-c", "user.email=ci@example.com", "-c", "user.name=ci")
        git(repo, *identity, "commit", "-q", "--allow-empty", "-m", f"c{n}")
    fake = repo / ".venv/bin"
    fake.mkdir(parents=True)
    (fake / "chefchatz").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\necho "### plan"\n')
    (fake / "chefchatz").chmod(0o755)
    return repo


def run_step(tmp_path: Path, repo: Path, base_ref: str) -> list[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "BASE_REF": base_ref,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", plan_script()], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "exit-code=0" in (tmp_path / "output").read_text()
    return (tmp_path / "args").read_text().split()


@pytest.mark.parametrize(
    ("commits", "base", "expected"),
    [
        (2, "HEAD~1", ["--base", "HEAD~1"]),  # a pull request's base branch, or main before the push
        (2, ZEROS, ["--base", "HEAD^"]),  # a push that created the branch: the commit before this one
        (2, "1234567" * 5 + "89abc", ["--base", "HEAD^"]),  # a force-push's "before", not in this clone
        (1, ZEROS, []),  # the repository's first commit: planned alone, everything created
    ],
)
def test_the_plan_step_plans_against_a_base_that_exists(tmp_path, commits, base, expected):
    repo = history(tmp_path, commits)
    args = run_step(tmp_path, repo, base)
    assert args == ["plan", "--stack", "all", *expected, "--format", "markdown"], args
