"""The shape of `ops/`: one package per capability, no import circles, capabilities meet only
through the names a package's `__init__` exports, and every package imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPS = ROOT / "ops"
CAPABILITIES = sorted(p.name for p in OPS.iterdir() if (p / "__init__.py").is_file())


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Every `ops...` module a file imports, at any depth of the file (lazy imports included)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "ops" or name.startswith("ops.")}


MODULES = {module_name(path): path for path in OPS.rglob("*.py")}
GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for successor in sorted(GRAPH[node]):
            if state.get(successor) == 1:
                return [*stack[stack.index(successor) :], successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_ops_has_no_import_circle() -> None:
    cycle = find_cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_capabilities_are_packages() -> None:
    assert {"backup", "migrate", "plan", "rollback", "signoff", "slo", "tls"} <= set(CAPABILITIES)
    flat = sorted(p.name for p in OPS.glob("*.py") if p.name not in ("__init__.py", "__main__.py", "cli.py"))
    assert not flat, f"modules outside a capability package: {flat}"


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_a_capability_uses_another_only_through_its_package(capability: str) -> None:
    offenders = []
    for path in (OPS / capability).rglob("*.py"):
        for name in imports_of(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[1] != capability and parts[1] in CAPABILITIES and name in MODULES:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_capability_imports_alone(capability: str) -> None:
    for module in (f"ops.{capability}", f"ops.{capability}.cli"):
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, f"import {module} failed:\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_capability_has_a_command_module_and_says_what_it_owns(capability: str) -> None:
    package = OPS / capability
    assert (package / "cli.py").is_file(), f"ops/{capability} has no cli.py"
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring, f"ops/{capability}/__init__.py does not say what it owns"
