"""The Vercel client and the one Vercel stand-in hold to Vercel's published schema (``@vercel/sdk``, pinned).

Three checks, each shown to fail on a renamed field:

- every request the client sends is one of the SDK's operations (method, versioned path, query names) and
  its body parses with the operation's request schema (``assert_contract`` runs this on every exchange of
  every test that uses the stand-in; here on a scenario that uses every operation);
- every answer the stand-in serves parses strictly with the operation's response schema and has no field
  the schema lacks (likewise, and ``SERVED_FIELDS`` is a subset of the schema's fields);
- every field the client *reads* from an answer is a field of the schema (a recording of the parsing
  code's look-ups over the stand-in's answers).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ops.rollback import VercelClient
from ops.rollback.vercel_api import DeploymentPage, Project, RollingRelease
from tests.contracts.reads import Reads
from tests.contracts.schemas import schemas
from tests.rollout.standins import CANARY, PROJECT, FakeRollingRelease
from tests.standins.vercel import (
    SERVED_FIELDS,
    Exchange,
    FakeVercel,
    UndocumentedField,
    assert_contract,
    contract_problems,
    field_paths,
    serve,
)

OPERATIONS = sorted(SERVED_FIELDS)


@functools.cache
def schema_fields(operation: str) -> re.Pattern[str]:
    """A pattern matching the field paths of the operation's response schema (``*``: any key of a map)."""
    fields = sorted(schemas().vercel_fields(operation))
    return re.compile("|".join(re.escape(f).replace(r"\*", r"[^.\[]+") for f in fields))


def not_in_schema(operation: str, paths: set[str]) -> list[str]:
    pattern = schema_fields(operation)
    return sorted(p for p in paths if not pattern.fullmatch(p))


# --- a scenario that uses every operation ---------------------------------------------------------


def arranged() -> FakeRollingRelease:
    """PROJECT with an older production deployment to roll back to, and a rolling release at stage 1."""
    state = FakeRollingRelease(active_stage_index=1)
    state.add_deployment("dpl_older", PROJECT, 1_764_700_000_000, "dpl_older.vercel.app")
    return state


@pytest.fixture
def stand_in() -> Iterator[FakeRollingRelease]:
    state = arranged()
    server = serve(state)
    yield state
    server.shutdown()
    server.server_close()


def every_operation(client: VercelClient) -> None:
    """Each client call once, in an order the stand-in accepts."""
    client.get_rolling_release(PROJECT)
    client.start_rolling_release(PROJECT, CANARY)
    client.approve_rolling_release_stage(PROJECT, CANARY, 2)
    client.complete_rolling_release(PROJECT, CANARY)
    client.list_rollback_candidates(PROJECT, limit=2)
    client.get_deployment(f"https://{CANARY}.vercel.app/menu")
    client.request_rollback(PROJECT, "dpl_older", "checkout 500s")
    client.get_project(PROJECT)


def exchanges_of_every_operation(state: FakeRollingRelease) -> list[Exchange]:
    with VercelClient(state.token, base_url=state.url, team_id=None) as client:
        every_operation(client)
    return state.requests


def test_the_scenario_uses_every_operation_the_stand_in_serves(stand_in: FakeRollingRelease) -> None:
    exchanges = exchanges_of_every_operation(stand_in)
    assert sorted({e.operation for e in exchanges if e.operation}) == OPERATIONS
    assert all(200 <= e.status < 300 for e in exchanges), [(e.path, e.status, e.response) for e in exchanges]


def test_every_request_and_answer_of_the_scenario_holds_to_vercels_schema(stand_in: FakeRollingRelease) -> None:
    assert contract_problems(exchanges_of_every_operation(stand_in)) == []
    assert_contract(stand_in)


def test_the_client_uses_the_sdks_current_versions(stand_in: FakeRollingRelease) -> None:
    ops = schemas().vercel_operations()
    for exchange in exchanges_of_every_operation(stand_in):
        assert exchange.operation is not None
        template = ops[exchange.operation]["path"]
        assert re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), exchange.path), (exchange.path, template)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_renamed_query_name_is_caught(stand_in: FakeRollingRelease, operation: str) -> None:
    (exchange, *_) = [e for e in exchanges_of_every_operation(stand_in) if e.operation == operation]
    renamed = copy.copy(exchange)
    renamed.query = {**exchange.query, "rollbackInfo": "true"}
    assert contract_problems([exchange]) == []
    assert any('query parameter "rollbackInfo"' in p for p in contract_problems([renamed])), operation


def test_an_old_api_version_is_caught(stand_in: FakeRollingRelease) -> None:
    (listing,) = [e for e in exchanges_of_every_operation(stand_in) if e.operation == "getDeployments"]
    old = copy.copy(listing)
    old.path = "/v6/deployments"
    assert contract_problems([old]) == ["GET /v6/deployments: GET /v6/deployments is not an operation of @vercel/sdk"]


def test_a_body_the_operation_does_not_take_is_caught(stand_in: FakeRollingRelease) -> None:
    (post,) = [e for e in exchanges_of_every_operation(stand_in) if e.operation == "requestRollback"]
    assert post.body is None and post.query == {"description": "checkout 500s"}, "description is a query param"
    with_body = copy.copy(post)
    with_body.body = {}
    assert [p for p in contract_problems([with_body]) if "takes no request body" in p], with_body


@pytest.mark.parametrize("operation", ["startRollingRelease", "approveRollingReleaseStage", "completeRollingRelease"])
def test_a_renamed_request_body_field_is_caught(stand_in: FakeRollingRelease, operation: str) -> None:
    (post,) = [e for e in exchanges_of_every_operation(stand_in) if e.operation == operation]
    renamed = copy.copy(post)
    renamed.body = {("canaryId" if k == "canaryDeploymentId" else k): v for k, v in post.body.items()}
    problems = contract_problems([renamed])
    assert any("canaryDeploymentId: missing (required)" in p for p in problems), problems
    assert any("undocumented request field canaryId" in p for p in problems), problems


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op != "requestRollback"])
def test_every_field_the_stand_in_serves_is_in_the_schema_and_a_renamed_one_is_caught(
    stand_in: FakeRollingRelease, operation: str
) -> None:
    (exchange,) = [e for e in exchanges_of_every_operation(stand_in) if e.operation == operation]
    served = field_paths(exchange.response, maps=("targets",) if operation == "getProject" else ())
    assert not_in_schema(operation, served) == []
    renamed = copy.deepcopy(exchange)
    first = next(iter(renamed.response))
    renamed.response[f"{first}Renamed"] = renamed.response.pop(first)
    problems = contract_problems([renamed])
    assert any(f"undocumented response field {first}Renamed" in p for p in problems), problems


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_field_the_stand_in_may_serve_is_a_field_of_the_pinned_schema(operation: str) -> None:
    assert not_in_schema(operation, set(SERVED_FIELDS[operation])) == [], (
        f"SERVED_FIELDS[{operation!r}] lists fields @vercel/sdk's schema lacks"
    )


def test_the_stand_in_refuses_to_serve_an_undocumented_field(monkeypatch: pytest.MonkeyPatch) -> None:
    state = arranged()
    original = FakeVercel.release_document

    def with_old_index(self: FakeVercel, project_id: str) -> dict[str, Any] | None:
        document = original(self, project_id)
        return None if document is None else {**document, "activeStageIndex": 1}

    monkeypatch.setattr(FakeVercel, "release_document", with_old_index)
    status, payload, _ = state.handle("GET", f"/v1/projects/{PROJECT}/rolling-release", f"Bearer {state.token}", None)
    assert status == 500 and "activeStageIndex" in payload["error"]["message"], payload
    with pytest.raises(AssertionError, match=r"rollingRelease\.activeStageIndex"):
        assert_contract(state)


def test_the_serving_guard_names_the_undocumented_field() -> None:
    from tests.standins.vercel import _served

    with pytest.raises(UndocumentedField, match=r"\['deployments\[\]\.createdAtMs'\]"):
        _served("getDeployments", {"deployments": [{"uid": "d", "createdAtMs": 1}], "pagination": {}})


# --- what the client reads ------------------------------------------------------------------------


def _as_map_paths(paths: set[str]) -> set[str]:
    """``targets.production`` is a key of getProject's ``targets`` map: the schema calls it ``targets.*``."""
    return {re.sub(r"^targets\.[^.]+", "targets.*", p) for p in paths}


# How the client reads each operation's answer: the call, given a client whose transport is the answer.
CLIENT_READS: dict[str, Callable[[VercelClient], DeploymentPage | Project | RollingRelease | object | None]] = {
    "getDeployments": lambda client: client.list_rollback_candidates(PROJECT),
    "getDeployment": lambda client: client.get_deployment(CANARY),
    "getProject": lambda client: client.get_project(PROJECT),
    "getRollingRelease": lambda client: client.get_rolling_release(PROJECT),
}


def answers(operation: str) -> list[dict[str, Any]]:
    """The stand-in's answers to the operation, in every rolling-release state, before and after a rollback."""
    found = []
    for state, stage in (("ACTIVE", 0), ("ACTIVE", 2), ("COMPLETE", 3), ("ABORTED", 1)):
        fake = arranged()
        fake.release.state, fake.release.active_stage_index = state, stage
        server = serve(fake)
        try:
            with VercelClient(fake.token, base_url=fake.url) as client:
                if stage == 2:
                    client.request_rollback(PROJECT, "dpl_older")  # the project then has a lastAliasRequest
                CLIENT_READS[operation](client)
        finally:
            server.shutdown()
            server.server_close()
        found += [e.response for e in fake.requests if e.operation == operation and e.status == 200]
    return found


def fields_read(operation: str, body: dict[str, Any], rename: str = "") -> set[str]:
    seen: set[str] = set()
    with VercelClient("t", base_url="http://127.0.0.1:9") as client:
        client._request = lambda *args, **kwargs: Reads(copy.deepcopy(body), "", seen, rename)  # type: ignore[method-assign]
        # A renamed required field may make the parser give up: what it read until then is what counts.
        with contextlib.suppress(Exception):
            CLIENT_READS[operation](client)
    return _as_map_paths(seen)


@pytest.mark.parametrize("operation", sorted(CLIENT_READS))
def test_the_client_reads_only_fields_vercels_schema_has(operation: str) -> None:
    bodies = answers(operation)
    assert bodies, f"the stand-in never answered {operation}"
    read: set[str] = set()
    for body in bodies:
        read |= fields_read(operation, body)
    assert read, operation
    assert not_in_schema(operation, read) == [], f"the client reads fields {operation}'s schema lacks"


@pytest.mark.parametrize("operation", sorted(CLIENT_READS))
def test_a_field_the_client_reads_under_another_name_is_caught(operation: str) -> None:
    bodies = answers(operation)
    read = set().union(*(fields_read(operation, body) for body in bodies))
    for path in sorted(read):
        misread: set[str] = set()
        for body in bodies:
            misread |= fields_read(operation, body, rename=path.replace("targets.*", "targets.production"))
        renamed = path.replace("targets.*", "targets.production") + "Renamed"
        assert _as_map_paths({renamed}) <= set(not_in_schema(operation, misread)) or path == "targets.*", (
            f"reading {path} as {renamed} went unnoticed"
        )


def test_the_field_check_catches_a_parser_that_reads_active_stage_index() -> None:
    (body, *_) = answers("getRollingRelease")
    seen: set[str] = set()
    Reads(body, "", seen)["rollingRelease"].get("activeStageIndex")
    assert not_in_schema("getRollingRelease", seen) == ["rollingRelease.activeStageIndex"]
