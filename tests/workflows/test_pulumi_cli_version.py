"""Every workflow of this repository runs the Pulumi CLI of the version the program's SDK is pinned to.

pulumi/actions installs "the latest" CLI unless told otherwise (its `pulumi-version` /
`pulumi-version-file` inputs, `action.yml` at the pinned commit); a preview in CI and an `up` days later
could then run different engines. The CLI and the Python SDK share version numbers, so `.pulumi.version`
holds the `pulumi==` pin of `requirements/main.txt`, and each step names the file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .conftest import REPO_ROOT, REPO_WORKFLOWS

VERSION_FILE = ".pulumi.version"


def pulumi_steps() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(REPO_WORKFLOWS.glob("*.yml")):
        document = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
        for job in document["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("pulumi/actions@"):
                    found.append((f"{path.name}: {step.get('name', step['uses'])}", step))
    return found


def test_every_pulumi_step_installs_the_cli_named_by_the_version_file():
    steps = pulumi_steps()
    assert len(steps) >= 5, steps  # ci's preview, deploy's three `up`s, drift's install
    for name, step in steps:
        inputs = step.get("with", {})
        assert inputs.get("pulumi-version-file") == VERSION_FILE, name
        assert "pulumi-version" not in inputs, f"{name}: the action refuses both inputs at once"


def test_the_version_file_is_the_sdks_pin():
    pinned = re.search(r"^pulumi==([0-9.]+) ", (REPO_ROOT / "requirements/main.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements/main.txt pins pulumi"
    assert (REPO_ROOT / VERSION_FILE).read_text().strip() == pinned.group(1)
