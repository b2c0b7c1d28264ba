"""The `chefchatz` command line: a thin layer over the library modules in `ops/`.

Every command has help with an example, `--json` (or `--format json`) output for machines,
human output for people, and exit codes that mean one thing in every command (README, "Exit codes"):
0 ok, 1 a check or policy failed (named), 2 invalid input (named), 3 an internal error (a bug),
above 3 a command's own outcomes (4 production back on the earlier deployment: rolled back or
canary aborted; 5 notified; 6 rollout held).
"""

from __future__ import annotations

import importlib
import sys
import traceback

import typer

from ops import ExitStatus

EXIT_INTERNAL = ExitStatus.INTERNAL
DEBUG_FLAG = "--debug"

app = typer.Typer(
    name="chefchatz",
    help=(
        "Operate the ChefChatz deployment pipeline: plan, backups, restores, TLS checks, rollback, rollouts, "
        "SLOs, migrations, reconciliation, sign-off."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group(
    debug: bool = typer.Option(False, DEBUG_FLAG, help="On an internal error (exit 3), print the traceback."),
) -> None:
    """Operate the ChefChatz deployment pipeline: plan, backups, restores, TLS checks, rollback, rollouts,
    SLOs, migrations, reconciliation, sign-off.

    Exit codes of every command: 0 ok, 1 a check or policy failed, 2 invalid input, 3 internal error.

    Example: chefchatz --debug plan --stack prod
    """
    # A callback keeps `chefchatz` a group even when only one area is loaded (see `main`). The
    # option is declared here so help and parsing know it; `main` reads it, because the error it
    # governs escapes typer after the callback has returned.


# Top-level command -> the module that registers it (each module has `register(app)`).
AREAS: dict[str, str] = {
    "plan": "ops.plan.cli",
    "tls-check": "ops.tls.cli",
    "backup": "ops.backup.cli",
    "restore": "ops.backup.cli",
    "drill": "ops.backup.cli",
    "rollback": "ops.rollback.cli",
    "signoff": "ops.signoff.cli",
    "slo": "ops.slo.cli",
    "migrate": "ops.migrate.cli",
    "reconcile": "ops.reconcile.cli",
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


def internal_error(exc: BaseException, debug: bool) -> int:
    """Report a bug: one line on stderr (the traceback too with --debug); the exit code is 3."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    summary = (str(exc).strip().splitlines() or [""])[0]
    hint = "" if debug else f" (run with chefchatz {DEBUG_FLAG} ... for the traceback)"
    typer.echo(f"internal error: {type(exc).__name__}: {summary}{hint}", err=True)
    return EXIT_INTERNAL


def main() -> None:
    # A command loads only its own area: `chefchatz backup db` need not import sslyze or
    # pulumi (about a second and 40 MiB per run). Help and unknown commands load everything.
    argv = sys.argv[1:]
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    # Typer handles usage errors (exit 2) and typer.Exit itself; anything else escaping a command
    # is a bug, and a bug must not look like a failed check (exit 1): it exits 3.
    try:
        _register(AREAS.get(command or ""))
        app()
    except Exception as exc:
        sys.exit(internal_error(exc, debug=DEBUG_FLAG in argv))
