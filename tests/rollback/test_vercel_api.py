"""The Vercel client on its own: transport failures, configuration, and keeping the token out of sight."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from ops.rollback.vercel_api import (
    VercelClient,
    VercelConfigError,
    VercelError,
    VercelUnauthorizedError,
)


def test_unreachable_api_fails_after_the_configured_attempts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = VercelClient("tok-xyz", base_url=f"http://127.0.0.1:{port}", attempts=2, timeout_s=0.5)
    started = time.monotonic()
    with client, pytest.raises(VercelError, match=r"cannot reach the Vercel API .* after 2 attempts"):
        client.get_project("prj_1")
    assert time.monotonic() - started < 5, "two attempts with a short backoff"


def test_client_repr_hides_the_token() -> None:
    with VercelClient("super-secret-token", base_url="http://127.0.0.1:9") as client:
        assert "super-secret-token" not in repr(client)
        assert "<hidden>" in repr(client)


def test_token_and_url_come_from_the_environment(vercel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with VercelClient.from_env() as client:
        assert client.base_url == vercel.url
    monkeypatch.delenv("VERCEL_TOKEN")
    with pytest.raises(VercelConfigError, match="VERCEL_TOKEN is not set"):
        VercelClient.from_env()


def test_default_api_url_is_vercels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERCEL_API_URL", raising=False)
    monkeypatch.setenv("VERCEL_TOKEN", "t")
    with VercelClient.from_env() as client:
        assert client.base_url == "https://api.vercel.com"


def test_unauthorized_error_names_the_fix_without_the_token(vercel: Any, token: str) -> None:
    vercel.add_project("prj_1", "app")
    vercel.inject("GET", r"^/v9/projects/", 401)
    with VercelClient.from_env() as client, pytest.raises(VercelUnauthorizedError) as caught:
        client.get_project("prj_1")
    message = str(caught.value)
    assert "GET /v9/projects/prj_1 failed with 401" in message and "VERCEL_TOKEN" in message, message
    assert token not in message


def test_bearer_token_is_sent_and_team_id_added_to_every_call(vercel: Any) -> None:
    vercel.add_project("prj_t", "app", team_id="team_1")
    vercel.add_deployment("dpl_1", "prj_t", 1, "app-1.vercel.app", production=True)
    with VercelClient.from_env(team_id="team_1") as client:
        project = client.get_project("prj_t")
        page = client.list_rollback_candidates("prj_t")
        deployment = client.get_deployment("https://app-1.vercel.app/some/path")
    assert project.production_deployment_id == "dpl_1"
    assert [d.uid for d in page.deployments] == ["dpl_1"] and page.next_until is None
    assert deployment.uid == "dpl_1" and deployment.created_ms == 1
    assert all(r.query.get("teamId") == "team_1" for r in vercel.requests), vercel.requests


def test_rollback_candidates_are_listed_with_vercels_filter_and_field(vercel: Any) -> None:
    vercel.add_project("prj_c", "app")
    vercel.add_deployment("dpl_live", "prj_c", 1, "app-live.vercel.app", production=True)
    vercel.add_deployment("dpl_canary", "prj_c", 2, "app-canary.vercel.app", aliased_to_production=False)
    with VercelClient.from_env() as client:
        page = client.list_rollback_candidates("prj_c")
    assert [(d.uid, d.rollback_candidate) for d in page.deployments] == [("dpl_live", True)]
    (listing,) = vercel.calls("GET", r"^/v7/deployments$")
    assert listing.query["rollbackCandidate"] == "true", listing.query
