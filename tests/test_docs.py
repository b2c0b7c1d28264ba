"""The README and the command help are part of the product: they must stay true."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from ops.cli import _register, app
from ops.plan import load_project
from policies.pack import POLICIES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block, "Quick start has no fenced code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands_plan_dev_then_the_tests():
    assert quick_start_commands() == ["./dev plan --stack dev", "./dev test"]


def test_ci_runs_the_readme_test_command():
    assert quick_start_commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_every_configuration_key_is_in_the_reference():
    table = README.split("## Configuration reference", 1)[1]
    project = load_project(ROOT)
    for key in [*project.declarations, *project.provider_values]:
        assert f"| `{key}` |" in table, f"README configuration reference lacks {key}"


def test_every_policy_is_documented():
    for policy in POLICIES:
        assert f"`{policy.name}`" in README, f"README does not document policy {policy.name}"


def _commands() -> list[tuple[str, Any]]:
    _register()
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", root)
    return found


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[n for n, _ in _commands()])
def test_every_command_has_help_with_an_example(name, command):
    assert command.help and "Example" in command.help, f"`chefchatz {name}` help has no example"
    assert f"chefchatz {name.split()[0]}" in README, f"README does not mention `chefchatz {name}`"


def test_signoff_sees_every_command_although_a_run_loads_only_its_own_area():
    # `chefchatz signoff` loads only the sign-off area; its documentation check must still know
    # every command the docs name.
    code = (
        "import json, sys; sys.argv = ['chefchatz', 'signoff']\n"
        "from ops import cli; cli._register(cli.AREAS['signoff'])\n"
        "from ops.signoff.cli import all_commands, registered_commands\n"
        "print(json.dumps(sorted(registered_commands(all_commands()))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    names = set(json.loads(proc.stdout))
    assert {"plan", "backup db", "restore db", "drill", "tls-check", "rollback watch", "signoff"} <= names


def test_dev_help_prints_only_help():
    result = subprocess.run(["bash", str(ROOT / "dev"), "help"], capture_output=True, text=True, check=True)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("Set-up and task runner"), lines
    assert any(line.strip().startswith("./dev test") for line in lines), lines
    shell = [line for line in lines if re.search(r"set -|\bcd \b|\$\(|^#|;;", line)]
    assert not shell, f"./dev help prints shell, not help: {shell}"
