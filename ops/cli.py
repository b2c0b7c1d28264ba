"""The `chefchatz` command line: a thin layer over the library modules in `ops/`.

Every command has help with an example, `--json` (or `--format json`) output for machines,
human output for people, and exit codes that mean something (README, "The chefchatz tool").
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="chefchatz",
    help="Operate the ChefChatz deployment pipeline: plan, backups, restores, TLS checks, rollback, sign-off.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _group() -> None:
    """Operate the ChefChatz deployment pipeline: plan, backups, restores, TLS checks, rollback, sign-off."""
    # A callback keeps `chefchatz` a group even when only one area is loaded (see `main`).


# Top-level command -> the module that registers it (each module has `register(app)`).
AREAS: dict[str, str] = {
    "plan": "ops.plan_cli",
    "tls-check": "ops.tls_cli",
    "backup": "ops.backup_cli",
    "restore": "ops.backup_cli",
    "drill": "ops.backup_cli",
    "rollback": "ops.rollback_cli",
    "signoff": "ops.signoff_cli",
    "slo": "ops.slo.cli",
    "rollout": "ops.rollout.cli",
}

_registered: set[str] = set()


def _register(only: str | None = None) -> None:
    """Register every area's commands, or only the one module a command needs."""
    modules = [only] if only else list(dict.fromkeys(AREAS.values()))
    for module in modules:
        if module not in _registered:
            importlib.import_module(module).register(app)
            _registered.add(module)


def main() -> None:
    # A command loads only its own area: `chefchatz backup db` need not import sslyze or
    # pulumi (about a second and 40 MiB per run). Help and unknown commands load everything.
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    _register(AREAS.get(command or ""))
    app()
