"""`chefchatz tls-check`: a thin typer layer over :mod:`ops.tls`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer
from cryptography.utils import CryptographyDeprecationWarning
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ops import ExitStatus
from ops.tls import check as tlscheck

EXIT_PASSED = ExitStatus.OK
EXIT_FAILED = ExitStatus.FAILED
EXIT_USAGE = ExitStatus.BAD_INPUT


def tls_check(
    target: Annotated[str, typer.Argument(metavar="HOST[:PORT]", help="Host to check; the port defaults to 443.")],
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="PEM roots to trust instead of the Mozilla store (private CAs, tests).",
        ),
    ] = None,
    min_days: Annotated[
        int | None,
        typer.Option(
            "--min-days",
            min=0,
            help="Fail when the certificate has fewer days left. Default: 7/30 of its lifetime (21 of 90 days, "
            "10 of 45): ACME clients renew at a third of the lifetime, so below that renewal has been failing "
            "for a while.",
        ),
    ] = None,
    issuer: Annotated[
        str, typer.Option("--issuer", help="Required organization (O=) of the certificate's issuer.")
    ] = tlscheck.DEFAULT_ISSUER_ORGANIZATION,
    allow_cipher: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-cipher",
            help="Also accept this TLS 1.2 suite (OpenSSL or IANA name); reported as an exception. Repeatable.",
        ),
    ] = None,
    platform_exception: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-exception",
            help=f"Accept a platform's documented fixed cipher list; reported as an exception. "
            f"Known: {', '.join(sorted(tlscheck.PLATFORM_EXCEPTIONS))}.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable report.")] = False,
) -> None:
    """Verify a live host's TLS against the spec: TLS >= 1.2, allowed ciphers, trusted certificate.

    Checks, each reported by name with its reason:

    - protocols: SSL 2.0/3.0, TLS 1.0/1.1 refused; TLS 1.2 or 1.3 accepted
    - ciphers: accepted TLS 1.2 suites are the spec's two or Mozilla intermediate, or an explicit exception
    - preferred-cipher: ECDHE-ECDSA- or ECDHE-RSA-AES128-GCM-SHA256 accepted when TLS 1.2 is offered
    - certificate: chain trusted (Mozilla store, or --ca-file) and valid for the host name
    - issuer: the issuer organization (O=) is --issuer
    - expiry: at least --min-days days left (default: 7/30 of the certificate's lifetime)

    Exit codes: 0 all checks passed; 1 a check failed (each is named); 2 usage error or host unreachable.

    Example:

        chefchatz tls-check chefchatz.com --platform-exception vercel

        chefchatz tls-check localhost:8443 --ca-file ca.pem --issuer "Example CA" --json
    """
    err = Console(stderr=True)
    try:
        host, port = tlscheck.parse_target(target)
        exceptions = [tlscheck.platform_exception(name) for name in platform_exception or []]
        from_command_line = tlscheck.command_line_exception(allow_cipher or [])
        if from_command_line is not None:
            exceptions.append(from_command_line)
        policy = tlscheck.TlsPolicy(min_days=min_days, issuer_organization=issuer, exceptions=tuple(exceptions))
        with warnings.catch_warnings():
            # sslyze's bundled trust stores hold a few old roots with negative serial numbers; the warning
            # is about those roots, not about the host being checked.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            report = tlscheck.check_tls(host, port, policy, ca_file)
    except tlscheck.TlsCheckError as error:
        err.print(f"[bold red]tls-check:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None

    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_human(report)
    if not report.passed:
        if not as_json:
            err.print(f"[bold red]FAILED:[/] {', '.join(report.failed_checks)}", highlight=False)
        raise typer.Exit(EXIT_FAILED)


def _print_human(report: tlscheck.TlsReport) -> None:
    console = Console(soft_wrap=False)
    table = Table(title=f"TLS check of {report.host}:{report.port}", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail")
    for check in report.checks:
        verdict = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        table.add_row(check.name, verdict, escape(check.detail))
    console.print(table, highlight=False)
    for name, suites in report.allowed_by_exception.items():
        console.print(f"[yellow]allowed by exception {escape(name)}:[/] {', '.join(suites)}", highlight=False)
    summary = "[green]all checks passed[/]" if report.passed else "[bold red]some checks failed[/]"
    console.print(summary)


def register(app: typer.Typer) -> None:
    """Add the ``tls-check`` command to ``app``."""
    app.command("tls-check")(tls_check)
