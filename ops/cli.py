"""The `chefchatz` command line: a thin layer over the library modules in `ops/`.

Every command has help with an example, `--json` (or `--format json`) output for machines,
human output for people, and exit codes that mean something (see README, "Exit codes").
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="chefchatz",
    help="Operate the ChefChatz deployment pipeline: plan, backups, restores, TLS checks, rollback, sign-off.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each area registers its own commands; keep one line per area.
    # --- command registrations (one line each) ---
    from ops import plan_cli

    plan_cli.register(app)
    from ops import tls_cli
    tls_cli.register(app)
    from ops import backup_cli
    backup_cli.register(app)
    from ops import rollback_cli
    rollback_cli.register(app)
    from ops import signoff_cli
    signoff_cli.register(app)
    # --- end of command registrations ---


def main() -> None:
    _register()
    app()
