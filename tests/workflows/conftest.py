"""Shared fixtures of the workflow tests: the generator's arguments and the files to lint."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.app_workflows import AppPipelineArgs, app_workflow_files
from components.environment import app_pipeline_files
from tests.test_settings import settings_for

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_WORKFLOWS = REPO_ROOT / ".github" / "workflows"
CHEFCHATZ_REQUIREMENT = (
    "chefchatz-infra @ git+https://github.com/chefchatz/chefchatz-infra@0123456789abcdef0123456789abcdef01234567"
)


@pytest.fixture(scope="session")
def app_args() -> AppPipelineArgs:
    # Prod has rolloutStages, so its pipeline releases production as a canary.
    return AppPipelineArgs(chefchatz_requirement=CHEFCHATZ_REQUIREMENT, production_rollout=True)


@pytest.fixture(scope="session")
def app_files(app_args: AppPipelineArgs) -> dict[str, str]:
    """Exactly the files the prod stack commits to the app repository (its settings, its generator)."""
    files = app_pipeline_files(settings_for("prod", opsToolCommit=CHEFCHATZ_REQUIREMENT.rsplit("@", 1)[1]))
    assert files == app_workflow_files(app_args), "the prod stack generates with the spec's defaults"
    return files


@pytest.fixture(scope="session")
def generated_repo(tmp_path_factory: pytest.TempPathFactory, app_files: dict[str, str]) -> Path:
    """The generated files laid out as in the app repository (zizmor audits `.github/workflows/`)."""
    root = tmp_path_factory.mktemp("app-repo")
    for path, text in app_files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
