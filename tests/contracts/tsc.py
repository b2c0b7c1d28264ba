"""Stand-in payloads type-checked against a platform's published TypeScript types, in one ``tsc`` run.

Some platforms publish their contract as TypeScript types rather than as a schema a program can walk: Supabase's
Management API as ``supabase-management-js`` (generated from Supabase's OpenAPI document), a Lambda function URL's
event as ``@types/aws-lambda``. For those, each payload a stand-in serves becomes a generated file::

    import type { V1BackupsResponse } from "supabase-management-js";
    export const payload = ( <the payload as JSON> ) satisfies V1BackupsResponse;

and each list of fields a client reads becomes ``void r.backups?.[0]?.status;`` lines over a value of the type.
``tsc --noEmit --strict`` then refuses an undocumented field (an excess property of an object literal), a missing
required one, a wrong type, and a read of a field the type does not have. All files are checked by one ``tsc``
process (it takes seconds to start), with the compiler pinned in ``node/package-lock.json``; a missing node or
compiler is an error, never a skip.

The JSON is written one field per line, so each diagnostic is reported with the field path it points at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.contracts.schemas import NODE_DIR

TSC = NODE_DIR / "node_modules" / "typescript" / "bin" / "tsc"
# Module resolution as node resolves an ES module; the DOM library for the fetch types (Headers) the SDK names.
TSC_OPTIONS = (
    "--noEmit",
    "--strict",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--target",
    "es2022",
    "--lib",
    "es2022,dom",
    "--skipLibCheck",
    "--pretty",
    "false",
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_DIAGNOSTIC = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<message>.*)$")


@dataclass(frozen=True)
class Satisfies:
    """``value`` (JSON) must satisfy the type expression ``type``, built from ``imports`` of ``module``."""

    name: str
    module: str
    imports: tuple[str, ...]
    type: str
    value: Any


@dataclass(frozen=True)
class FieldsExist:
    """Every field path in ``paths`` (``backups[].status``, ``requestContext.http.method``) exists on ``type``."""

    name: str
    module: str
    imports: tuple[str, ...]
    type: str
    paths: frozenset[str]


Check = Satisfies | FieldsExist


@dataclass
class _Source:
    check: Check
    lines: list[str] = field(default_factory=list)
    paths: dict[int, str] = field(default_factory=dict)  # 1-based line -> the field path it holds

    def add(self, text: str, path: str | None = None) -> None:
        self.lines.append(text)
        if path is not None:
            self.paths[len(self.lines)] = path

    def where(self, line: int) -> str:
        path = self.paths.get(line)
        if path is None:
            return f"(line {line}: {self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ''})"
        return path or "(payload)"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_lines(source: _Source, value: Any, path: str, prefix: str, suffix: str, depth: int) -> None:
    pad = "  " * depth
    if isinstance(value, dict) and value:
        source.add(f"{pad}{prefix}{{", path)
        for i, (key, item) in enumerate(value.items()):
            comma = "," if i < len(value) - 1 else ""
            _json_lines(source, item, _join(path, str(key)), f"{json.dumps(str(key))}: ", comma, depth + 1)
        source.add(f"{pad}}}{suffix}", path)
    elif isinstance(value, list) and value:
        source.add(f"{pad}{prefix}[", path)
        for i, item in enumerate(value):
            _json_lines(source, item, f"{path}[{i}]", "", "," if i < len(value) - 1 else "", depth + 1)
        source.add(f"{pad}]{suffix}", path)
    else:
        source.add(f"{pad}{prefix}{json.dumps(value)}{suffix}", path)


def field_access(path: str) -> str:
    """``backups[].status`` as a TypeScript read of ``r``: ``r.backups?.[0]?.status``."""
    expression = "r"
    for part in re.findall(r"\[\]|[^.\[\]]+", path):
        if part == "[]":
            expression += "?.[0]"
        elif _IDENTIFIER.fullmatch(part):
            expression += f"?.{part}"
        else:
            expression += f"?.[{json.dumps(part)}]"
    return expression


def _source(check: Check) -> _Source:
    source = _Source(check)
    source.add(f"import type {{ {', '.join(check.imports)} }} from {json.dumps(check.module)};")
    if isinstance(check, Satisfies):
        source.add("export const payload = (", "")
        _json_lines(source, check.value, "", "", "", 1)
        source.add(f") satisfies {check.type};", "")
    else:
        source.add(f"export function reads(r: {check.type}): void {{")
        for path in sorted(check.paths):
            source.add(f"  void {field_access(path)};", path)
        source.add("}")
    return source


def _compiler() -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: the contract tests need it (Debian: apt-get install nodejs)")
    if not TSC.is_file():
        raise RuntimeError(
            f"the pinned TypeScript compiler is not installed ({TSC}): run ./dev test "
            "(it runs npm ci --ignore-scripts from the lockfile)"
        )
    return [node, str(TSC)]


def typecheck(checks: Iterable[Check]) -> dict[str, list[str]]:
    """Every check's problems, by name (an empty list: it holds), from one ``tsc`` run over all of them."""
    sources = list(map(_source, checks))
    if not sources:
        return {}
    names = [source.check.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"type checks need distinct names: {duplicates}")
    command = _compiler()
    with tempfile.TemporaryDirectory(prefix="chefchatz-tsc-") as directory:
        root = Path(directory)
        # Resolve the pinned packages as node would, from a node_modules beside the generated files.
        (root / "node_modules").symlink_to(NODE_DIR / "node_modules", target_is_directory=True)
        files = {}
        for i, source in enumerate(sources):
            (root / f"check{i}.mts").write_text("\n".join(source.lines) + "\n")
            files[f"check{i}.mts"] = source
        done = subprocess.run(
            [*command, *TSC_OPTIONS, *sorted(files)], cwd=root, capture_output=True, text=True, check=False
        )
    return _problems(done, files)


def _problems(done: subprocess.CompletedProcess[str], files: dict[str, _Source]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {source.check.name: [] for source in files.values()}
    unplaced: list[str] = []
    current: list[str] | None = None
    for line in done.stdout.splitlines():
        match = _DIAGNOSTIC.match(line)
        if match and match["file"] in files:
            source = files[match["file"]]
            current = found[source.check.name]
            current.append(f"{source.where(int(match['line']))}: {match['message']} ({match['code']})")
        elif line.startswith(" ") and current:
            current[-1] += f" / {line.strip()}"  # tsc's elaboration of the diagnostic above
        elif line.strip():
            unplaced.append(line)
            current = None
    if unplaced or done.stderr.strip() or (done.returncode != 0 and not any(found.values())):
        raise RuntimeError(f"tsc failed (exit {done.returncode}):\n" + "\n".join([*unplaced, done.stderr]))
    return found


def expect_problem(problems: Sequence[str], path: str, *words: str) -> None:
    """Assert that one problem is at ``path`` and says each of ``words``."""
    hits = [p for p in problems if p.startswith(f"{path}: ") and all(w in p for w in words)]
    assert hits, f"no problem at {path} saying {words}: {list(problems)}"
