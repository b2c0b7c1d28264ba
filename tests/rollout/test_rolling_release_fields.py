"""The rolling release is read by Vercel's documented fields only, and the stand-in serves nothing else.

Vercel's schema of ``GET /v1/projects/{idOrName}/rolling-release`` (``GetRollingReleaseResponseBody`` of
``@vercel/sdk`` 1.28.35, copied into ``standins.DOCUMENTED``) puts the stage in ``activeStage.index``; it
has no ``activeStageIndex``. A client reading that field saw stage 0 forever on real Vercel.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ops.rollback import VercelClient, VercelError
from tests.rollout.standins import CANARY, DOCUMENTED, PROJECT, STABLE, FakeRollingRelease, documented

# Which documented object each place in the response is (paths as ``Reads`` records them).
_KIND_OF = {
    "": "body",
    "rollingRelease": "rollingRelease",
    "rollingRelease.activeStage": "stage",
    "rollingRelease.nextStage": "stage",
    "rollingRelease.stages[]": "stage",
    "rollingRelease.canaryDeployment": "deployment",
    "rollingRelease.currentDeployment": "deployment",
}
_BODY_FIELDS = frozenset({"rollingRelease"})


class Reads(dict[str, Any]):
    """A response object that records every field the parsing code looks up, by its path in the response."""

    def __init__(self, data: dict[str, Any], path: str, seen: set[str]) -> None:
        super().__init__(data)
        self.path, self.seen = path, seen

    def _wrap(self, key: str, value: Any) -> Any:
        path = f"{self.path}.{key}" if self.path else key
        if isinstance(value, dict):
            return Reads(value, path, self.seen)
        if isinstance(value, list):
            return [Reads(item, f"{path}[]", self.seen) if isinstance(item, dict) else item for item in value]
        return value

    def _note(self, key: str) -> None:
        self.seen.add(f"{self.path}.{key}" if self.path else key)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self._note(key)
        return self._wrap(key, super().get(key, default))

    def __contains__(self, key: object) -> bool:
        self._note(str(key))
        return super().__contains__(key)


def undocumented(paths: set[str]) -> list[str]:
    """The looked-up fields that Vercel's schema does not have where they were looked up."""
    found = []
    for path in sorted(paths):
        parent, _, name = path.rpartition(".")
        kind = _KIND_OF.get(parent)
        fields = _BODY_FIELDS if kind == "body" else frozenset().union(*DOCUMENTED[kind]) if kind else frozenset()
        if name not in fields:
            found.append(path)
    return found


def fields_read(parse: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    parse(Reads(body, "", seen))
    return seen


def read_by_client(body: dict[str, Any]) -> Any:
    """``VercelClient.get_rolling_release`` on ``body`` as the API's answer (no HTTP: the parsing only)."""
    with VercelClient("t", base_url="http://127.0.0.1:9") as client:
        client._request = lambda *args, **kwargs: body  # type: ignore[method-assign]
        return client.get_rolling_release(PROJECT)


def response(state: str = "ACTIVE", stage: int = 1) -> dict[str, Any]:
    return {"rollingRelease": FakeRollingRelease(state=state, active_stage_index=stage).document()}


@pytest.mark.parametrize(("state", "stage"), [("ACTIVE", 0), ("ACTIVE", 2), ("COMPLETE", 3), ("ABORTED", 1)])
def test_the_client_reads_only_fields_vercel_documents(state: str, stage: int) -> None:
    read = fields_read(read_by_client, response(state, stage))
    assert "rollingRelease.activeStage.index" in read or state == "ABORTED", sorted(read)
    assert undocumented(read) == [], f"the client reads fields Vercel's schema lacks: {undocumented(read)}"


def test_the_field_check_catches_a_parser_that_reads_active_stage_index() -> None:
    def old_parser(body: dict[str, Any]) -> int:
        return int(body["rollingRelease"].get("activeStageIndex") or 0)

    assert undocumented(fields_read(old_parser, response())) == ["rollingRelease.activeStageIndex"]


def test_the_stage_is_vercels_active_stage_and_an_undocumented_index_is_ignored() -> None:
    body = response(stage=2)
    body["rollingRelease"]["activeStageIndex"] = 0  # what the old stand-in served; Vercel never sends it
    release = read_by_client(body)
    assert (release.active_stage_index, release.percentage) == (2, 50), release
    assert (release.next_stage.index, release.next_stage.target_percentage, release.next_stage.is_final) == (
        3,
        100,
        True,
    ), release
    assert release.where() == "ACTIVE at stage 2 (50 %)"
    assert (release.canary_deployment_id, release.current_deployment_id) == (CANARY, STABLE)


def test_an_aborted_release_has_no_stage_rather_than_stage_zero() -> None:
    release = read_by_client(response("ABORTED", 2))
    assert (release.active_stage, release.next_stage, release.percentage) == (None, None, None), release
    assert release.where() == "ABORTED with no active stage"


@pytest.mark.parametrize("missing", ["activeStage", "nextStage", "stages", "state"])
def test_an_answer_without_a_required_field_is_an_error_naming_it_not_stage_zero(missing: str) -> None:
    body = copy.deepcopy(response())
    del body["rollingRelease"][missing]
    with pytest.raises(VercelError, match=rf"rolling release has no '{missing}'.*published schema"):
        read_by_client(body)


def test_a_stage_without_its_index_is_an_error_naming_it() -> None:
    body = response()
    del body["rollingRelease"]["activeStage"]["index"]
    with pytest.raises(VercelError, match=r"activeStage has no 'index'"):
        read_by_client(body)


@pytest.mark.parametrize(
    ("state", "stage"), [("ACTIVE", 0), ("ACTIVE", 1), ("ACTIVE", 2), ("COMPLETE", 3), ("ABORTED", 0)]
)
def test_the_stand_in_serves_exactly_the_documented_fields(state: str, stage: int) -> None:
    document = FakeRollingRelease(state=state, active_stage_index=stage).document()
    assert document is not None
    required, optional = DOCUMENTED["rollingRelease"]
    assert required <= set(document) <= required | optional, sorted(document)
    assert "activeStageIndex" not in document
    parts = [document["activeStage"], document["nextStage"], *document["stages"]]
    for part in (p for p in parts if p is not None):
        assert set(part) <= DOCUMENTED["stage"][0] | DOCUMENTED["stage"][1], part
    for key in ("canaryDeployment", "currentDeployment"):
        assert isinstance(document[key]["createdAt"], int), "createdAt is epoch milliseconds in the schema"


def test_the_stand_in_refuses_to_build_an_undocumented_field() -> None:
    served = response()["rollingRelease"]
    with pytest.raises(ValueError, match=r"undocumented \['activeStageIndex'\] and lacks \[\]"):
        documented("rollingRelease", {**served, "activeStageIndex": 1})
