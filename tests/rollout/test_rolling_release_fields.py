"""The rolling release is read by Vercel's documented fields: the stage is ``activeStage``, never a top-level index.

Vercel's schema of ``GET /v1/projects/{idOrName}/rolling-release`` (``GetRollingReleaseResponseBody`` of
``@vercel/sdk``, pinned in ``tests/contracts/node``) puts the stage in ``activeStage.index``; it has no
``activeStageIndex``. A client reading that field saw stage 0 forever on real Vercel. That the client reads
and the stand-in serves only the schema's fields is ``tests/contracts/test_vercel_contract.py``; this file
is what the client makes of those fields.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ops.rollback import VercelClient, VercelError
from tests.rollout.standins import CANARY, PROJECT, STABLE, FakeRollingRelease


def read_by_client(body: dict[str, Any]) -> Any:
    """``VercelClient.get_rolling_release`` on ``body`` as the API's answer (no HTTP: the parsing only)."""
    with VercelClient("t", base_url="http://127.0.0.1:9") as client:
        client._request = lambda *args, **kwargs: body  # type: ignore[method-assign]
        return client.get_rolling_release(PROJECT)


def response(state: str = "ACTIVE", stage: int = 1) -> dict[str, Any]:
    return {"rollingRelease": FakeRollingRelease(state=state, active_stage_index=stage).document()}


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
