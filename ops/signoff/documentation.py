"""Offline evidence that the documentation is complete: the runbooks exist and name only real commands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ops.signoff.evidence import Finding, failed, verified

DOCUMENTS = (
    "README.md",
    "docs/rollback.md",
    "docs/restore.md",
    "docs/disaster-recovery.md",
    "docs/releases.md",
    "docs/pipelines.md",
    "docs/health-contract.md",
    "docs/signoff.md",
    "docs/migrations.md",
)

_CODE_IN_DOCS = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_COMMAND_IN_CODE = re.compile(r"(?<![\w/.-])chefchatz((?:[ \t]+[a-z][a-z-]*)+)")


def documented_commands(text: str) -> set[str]:
    """Commands named in code (fenced blocks, inline code): ``chefchatz backup verify --json`` -> "backup verify".

    At most two words are kept (group and command); prose mentioning "the chefchatz tool" is not code.
    """
    found = set()
    for code in _CODE_IN_DOCS.findall(text):
        for match in _COMMAND_IN_CODE.finditer(code):
            found.add(" ".join(match.group(1).split()[:2]))
    return found


def check_documentation(project_dir: Path, commands: Mapping[str, str]) -> Finding:
    """Runbooks present; every ``chefchatz`` command they name exists; every command's help has an example.

    ``commands`` maps each registered command path ("backup verify", "drill") to its help text.
    """
    missing = [d for d in DOCUMENTS if not (project_dir / d).is_file()]
    if missing:
        return failed(f"missing documents: {', '.join(missing)}", "write them (see docs/signoff.md)")
    groups = {c.split()[0] for c in commands}
    unknown: list[str] = []
    for document in DOCUMENTS:
        for named in sorted(documented_commands((project_dir / document).read_text(encoding="utf-8"))):
            words = named.split()
            if named in commands or words[0] in commands or (len(words) == 1 and words[0] in groups):
                continue
            unknown.append(f"{document}: `chefchatz {named}`")
    if unknown:
        return failed(f"documents name commands that do not exist: {'; '.join(unknown)}", "fix the runbooks")
    without_example = sorted(path for path, text in commands.items() if "example" not in text.lower())
    if without_example:
        return failed(
            f"command help without an example: {', '.join(without_example)}",
            "add an Example: to each command's docstring",
        )
    return verified(f"{len(DOCUMENTS)} documents present; {len(commands)} commands, each with help and an example")


def check_document(project_dir: Path, document: str) -> Finding:
    path = project_dir / document
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        return failed(f"{document} is missing or empty", f"write {document}")
    return verified(f"{document} present")
