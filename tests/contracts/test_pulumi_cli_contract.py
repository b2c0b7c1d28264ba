"""Every Pulumi CLI command and flag the workflows, docs and generators use is in the table of docs/contracts.md.

The table gives each one its meaning from Pulumi's CLI reference; using a command or flag outside it fails
here, so a new one is looked up before it ships.
"""

from __future__ import annotations

import re
from pathlib import Path

from components.app_workflows import AppPipelineArgs, app_workflow_files
from tests.workflows.conftest import CHEFCHATZ_REQUIREMENT

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "docs" / "contracts.md"
# `pulumi` then its words; the rest of the line up to a comment, a sub-shell, a pipe or a quote holds the flags.
USE = re.compile(r"(?<![\w./@-])pulumi ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)*)([^\n`\"'#;|()]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def table() -> dict[str, set[str]]:
    """Command -> the flags the table lists for it."""
    text = CONTRACTS.read_text(encoding="utf-8")
    body = text.split("<!-- pulumi-cli-table -->", 1)[1].split("<!-- /pulumi-cli-table -->", 1)[0]
    commands: dict[str, set[str]] = {}
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        command, flag = cells[0].strip("`").removeprefix("pulumi "), cells[1].strip("`")
        commands.setdefault(command, set())
        if flag:
            commands[command].add(flag)
    return commands


def sources() -> dict[str, str]:
    """The workflows (committed and generated), the docs and README, and the code that writes commands."""
    paths = [
        *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "README.md",
        *sorted((ROOT / "components").rglob("*.py")),
        *sorted((ROOT / "ops").rglob("*.py")),
        *sorted((ROOT / "policies").glob("*.py")),
    ]
    found = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths if p != CONTRACTS}
    generated = app_workflow_files(
        AppPipelineArgs(chefchatz_requirement=CHEFCHATZ_REQUIREMENT, production_rollout=True)
    )
    found.update({f"generated:{path}": text for path, text in generated.items()})
    return found


def uses(text: str, commands: dict[str, set[str]]) -> list[tuple[str, set[str]]]:
    """(command, flags) for each use; the command is the longest table command its words start with."""
    found = []
    for match in USE.finditer(text):
        words = match.group(1).split()
        command = next(
            (" ".join(words[:n]) for n in range(len(words), 0, -1) if " ".join(words[:n]) in commands),
            " ".join(words),
        )
        found.append((command, set(FLAG.findall(match.group(2)))))
    return found


def outside(text: str, commands: dict[str, set[str]]) -> list[str]:
    problems = []
    for command, flags in uses(text, commands):
        if command not in commands:
            problems.append(f"`pulumi {command}` is not in the table")
            continue
        problems += [f"`pulumi {command} {flag}` is not in the table" for flag in sorted(flags - commands[command])]
    return problems


def test_nothing_outside_the_pulumi_cli_table_is_used() -> None:
    commands = table()
    problems = [f"{where}: {p}" for where, text in sources().items() for p in outside(text, commands)]
    assert problems == [], "look the command up in Pulumi's CLI reference and add it to docs/contracts.md"


def test_every_row_of_the_table_is_used() -> None:
    commands = table()
    used: dict[str, set[str]] = {}
    for text in sources().values():
        for command, flags in uses(text, commands):
            used.setdefault(command, set()).update(flags)
    unused = [f"pulumi {c}" for c in commands if c not in used]
    unused += [f"pulumi {c} {f}" for c, flags in commands.items() for f in flags - used.get(c, set())]
    assert unused == [], "the table lists what is no longer used"


def test_an_unknown_command_or_flag_is_caught() -> None:
    commands = table()
    text = "run: pulumi preview --stack dev --show-sames\nrun: pulumi destroy --yes\n"
    assert outside(text, commands) == [
        "`pulumi preview --show-sames` is not in the table",
        "`pulumi destroy` is not in the table",
    ]
