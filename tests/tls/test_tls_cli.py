"""`chefchatz tls-check` end to end: exit codes, JSON, human output, exceptions and usage errors."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl

import pytest
import typer
from tls_test_servers import HOST, TEST_ISSUER_ORG, Pki, ServeFn, issue_leaf, server_context
from typer.testing import CliRunner, Result

from ops.tls import cli as tls_cli

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


def run(*args: str) -> Result:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Stand-in for the chefchatz root so tls-check is a subcommand, as in ops.cli."""

    tls_cli.register(app)
    # Wide columns so rich does not wrap the details the assertions look for.
    return CliRunner().invoke(app, ["tls-check", *args], env={"COLUMNS": "250"})


def test_help_documents_checks_exit_codes_and_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for text in ("Example", "chefchatz tls-check chefchatz.com", "Exit codes", "--min-days", "--ca-file"):
        assert text in result.output, text


def test_good_server_exits_0_with_a_json_report(pki: Pki, serve: ServeFn, tmp_path) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, HOST)))
    result = run(f"{HOST}:{server.port}", "--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"host", "port", "checks", "passed"}
    assert (report["host"], report["port"], report["passed"]) == (HOST, server.port, True)
    assert [c["name"] for c in report["checks"] if c["passed"]] == [
        "protocols",
        "ciphers",
        "preferred-cipher",
        "certificate",
        "issuer",
        "expiry",
    ]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_tls10_server_exits_1_naming_the_failed_check(pki: Pki, serve: ServeFn, tmp_path) -> None:
    context = server_context(
        issue_leaf(pki.ca, tmp_path, HOST), ciphers="DEFAULT:@SECLEVEL=0", minimum=ssl.TLSVersion.TLSv1
    )
    server = serve(context)
    result = run(f"{HOST}:{server.port}", "--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG)
    assert result.exit_code == 1, result.output
    assert "FAILED: protocols, ciphers" in result.stderr
    assert "TLS 1.0, TLS 1.1 accepted (must be refused)" in result.stdout


def test_near_expiry_exits_1_naming_expiry_and_the_threshold(pki: Pki, serve: ServeFn, tmp_path) -> None:
    # A 90-day certificate (Let's Encrypt's today) with 10 days left: renewal at 30 left has failed.
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=10, hours=1)
    leaf = issue_leaf(pki.ca, tmp_path, HOST, not_before=not_after - dt.timedelta(days=90), not_after=not_after)
    server = serve(server_context(leaf))
    result = run(f"{HOST}:{server.port}", "--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG)
    assert result.exit_code == 1
    assert "FAILED: expiry" in result.stderr
    assert "below the 21-day threshold (7/30 of its 90-day lifetime)" in result.stdout


def test_a_short_lived_certificate_with_a_third_of_its_life_left_passes(pki: Pki, serve: ServeFn, tmp_path) -> None:
    # Let's Encrypt's 45-day certificates (2028) are renewed with 15 days left: 14 left is healthy.
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=14, hours=1)
    leaf = issue_leaf(pki.ca, tmp_path, HOST, not_before=not_after - dt.timedelta(days=45), not_after=not_after)
    server = serve(server_context(leaf))
    result = run(f"{HOST}:{server.port}", "--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG)
    assert "10-day threshold (7/30 of its 45-day lifetime)" in result.stdout, result.output
    strict = run(
        f"{HOST}:{server.port}", "--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG, "--min-days", "21"
    )
    assert "below the 21-day threshold" in strict.stdout, strict.output


def test_allow_cipher_passes_a_cbc_suite_and_shows_it_as_allowed_by_exception(
    pki: Pki, serve: ServeFn, tmp_path
) -> None:
    leaf = issue_leaf(pki.ca, tmp_path, HOST)
    server = serve(server_context(leaf, ciphers="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA"))
    target = f"{HOST}:{server.port}"
    common = ("--ca-file", str(pki.ca_file), "--issuer", TEST_ISSUER_ORG)

    refused = run(target, *common, "--platform-exception", "vercel", "--json")
    assert refused.exit_code == 1
    ciphers = next(c for c in json.loads(refused.stdout)["checks"] if c["name"] == "ciphers")
    assert "not allowed: ECDHE-RSA-AES128-SHA" in ciphers["detail"]
    assert "exception vercel configured, allowed nothing beyond the standard set" in ciphers["detail"]

    allowed = run(target, *common, "--allow-cipher", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
    assert allowed.exit_code == 0, allowed.output
    assert "allowed by exception --allow-cipher: ECDHE-RSA-AES128-SHA" in allowed.stdout


def test_unreachable_host_exits_2_with_a_clear_message(pki: Pki) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = run(f"{HOST}:{closed_port}", "--ca-file", str(pki.ca_file))
    assert result.exit_code == 2
    assert f"cannot connect to {HOST}:{closed_port} over TLS" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localhost:70000"], "port must be 1-65535"),
        (["https://chefchatz.com"], "looks like a URL"),
        (["localhost", "--platform-exception", "heroku"], "unknown platform exception 'heroku'"),
        (["localhost", "--allow-cipher", "AES128-NOPE"], "unknown TLS 1.2 cipher suite(s): AES128-NOPE"),
        (["localhost", "--ca-file", "/nonexistent/ca.pem"], "does not exist"),
        (["localhost", "--min-days", "-1"], "--min-days"),
    ],
)
def test_usage_errors_exit_2_before_any_connection(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
