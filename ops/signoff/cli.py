"""`chefchatz signoff`: a thin typer layer over :mod:`ops.signoff`.

Exit codes: 0 every item verified; 1 an item failed or is unverified; 2 usage error (unknown stack,
bad option).
"""

from __future__ import annotations

import json
import os
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ops.plan import resolve_stacks
from ops.signoff import checks as so


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


_STYLE = {so.Status.VERIFIED: "green", so.Status.UNVERIFIED: "yellow", so.Status.FAILED: "bold red"}


def all_commands() -> Any:
    """The whole `chefchatz` command tree, even when this run loaded only the sign-off area."""
    from ops.cli import _register, app

    _register()
    return typer.main.get_command(app)


def registered_commands(command: Any, prefix: str = "") -> dict[str, str]:
    """Every leaf command of the CLI by path ("backup verify"), with its help text.

    ``command`` is the root (typer's click) command; groups are whatever has ``commands``.
    """
    children = getattr(command, "commands", None)
    if isinstance(children, dict):
        found: dict[str, str] = {}
        for name, child in children.items():
            found.update(registered_commands(child, f"{prefix} {name}".strip()))
        return found
    return {prefix: command.help or ""}


def _live_tls_checker(ca_file: Path | None) -> Any:
    from cryptography.utils import CryptographyDeprecationWarning

    from ops import tls

    # The app is served by Vercel's edge: its documented cipher list is the accepted exception.
    policy = tls.TlsPolicy(exceptions=(tls.platform_exception("vercel"),))

    def check(host: str) -> tls.TlsReport:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # old roots in sslyze's stores
            return tls.check_tls(host, 443, policy, ca_file)

    return check


def _print_text(stack: str, results: list[so.ItemResult], evidence_dir: Path) -> None:
    console = Console(soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a report saved to a file or CI log: wide enough to read
    for list_name in (so.IMPLEMENTATION, so.SIGNOFF):
        table = Table(title=f"{list_name} — stack {stack}", show_lines=True, expand=True)
        table.add_column("item", no_wrap=True, min_width=max(len(item) for _, item, _ in so.CHECKLIST))
        table.add_column("status", no_wrap=True)
        table.add_column("evidence", ratio=1)
        table.add_column("needs", ratio=1)
        for r in (r for r in results if r.list_name == list_name):
            table.add_row(
                escape(r.item),
                f"[{_STYLE[r.status]}]{r.status}[/]",
                escape("\n".join(r.evidence)),
                escape("\n".join(r.needs)),
            )
        console.print(table, highlight=False)
    steps = list(dict.fromkeys(n for r in results for n in r.needs))
    if steps and not evidence_dir.is_dir():
        steps.insert(0, f"mkdir -p {evidence_dir}")
    if steps:
        # The same commands once more, unwrapped, so they can be copied.
        console.print("\n[bold]To produce the missing evidence:[/]", highlight=False)
        for number, step in enumerate(steps, start=1):
            console.print(f"{number:>2}. {escape(step)}", highlight=False, soft_wrap=True)
    done = sum(r.status is so.Status.VERIFIED for r in results)
    if so.all_verified(results):
        console.print(f"[green]{done}/{len(results)} items verified.[/]", highlight=False)
    else:
        console.print(
            f"[bold red]{done}/{len(results)} items verified: NO PROCEEDING until all items are verified.[/] "
            f"Evidence directory: {escape(str(evidence_dir))}",
            highlight=False,
        )


def signoff(
    ctx: typer.Context,
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack to sign off: dev, staging or prod.")],
    output_format: Annotated[Format, typer.Option("--format", "-f", help="text, json or markdown.")] = Format.text,
    evidence_dir: Annotated[
        Path | None,
        typer.Option(
            "--evidence-dir",
            help="Where the evidence files are (default .chefchatz/evidence/STACK; see docs/signoff.md).",
            show_default=False,
        ),
    ] = None,
    test_report: Annotated[
        Path | None,
        typer.Option(
            "--test-report",
            help="JUnit XML from `pytest --junitxml` (default EVIDENCE_DIR/junit.xml).",
            show_default=False,
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Check the TLS of every domain of the stack live instead of saved reports.")
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file", exists=True, dir_okay=False, help="With --live: PEM roots to trust instead of Mozilla's."
        ),
    ] = None,
    project_dir: Annotated[Path, typer.Option("--project-dir", help="Directory holding Pulumi.yaml.")] = Path("."),
) -> None:
    """Check the spec's Implementation Verification and Sign-off Checklist against evidence.

    Every one of the 20 items is verified, failed or unverified, with the evidence read and, when
    not verified, the command that produces the missing evidence and where to save it. Offline
    evidence (the plan of the stack and of dev and staging, the policy pack, the workflows, the
    runbooks) is always checked; the rest is read from the evidence directory: junit.xml,
    deploy-run.json, rollback-audit.jsonl, backup-verify-db.json, backup-verify-assets.json,
    drill.json, tls-DOMAIN.json, watch-STACK.json, migration-rehearsal.json, drift-STACK.json
    (docs/signoff.md says which command or workflow writes each).

    Example:

        chefchatz signoff --stack prod --format markdown --evidence-dir .chefchatz/evidence/prod

    Exit codes: 0 every item verified; 1 an item failed or is unverified (NO PROCEEDING);
    2 usage error.
    """
    directory = project_dir.resolve()
    try:
        (name,) = resolve_stacks(directory, stack)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--stack") from None
    # Relative to where the command runs, so the commands in "needs" can be pasted as they are.
    evidence = evidence_dir or project_dir / ".chefchatz" / "evidence" / name
    inputs = so.gather(
        directory,
        name,
        evidence,
        registered_commands(all_commands()),
        test_report=test_report,
        tls_checker=_live_tls_checker(ca_file) if live else None,
    )
    results = so.evaluate(inputs)
    if output_format is Format.json:
        typer.echo(json.dumps(so.to_json(name, results), indent=2))
    elif output_format is Format.markdown:
        typer.echo(so.to_markdown(name, results), nl=False)
    else:
        _print_text(name, results, evidence)
    raise typer.Exit(so.exit_code(results))


def register(app: typer.Typer) -> None:
    """Add the `signoff` command to the chefchatz app."""
    app.command("signoff")(signoff)
