"""The offline plan's stand-ins for look-ups: the same stack plans to the same ids, whatever order the
SDK ran its look-ups in (it runs them concurrently)."""

from __future__ import annotations

import pulumi
import pytest

from ops.plan.model import LOOKUP_ID_BASE, LOOKUP_ID_SPAN
from ops.plan.offline import GET_TEAM, OfflineMocks


def team_ids(slugs: list[str]) -> dict[str, str]:
    mocks = OfflineMocks()
    return {slug: str(mocks.call(pulumi.runtime.MockCallArgs(GET_TEAM, {"slug": slug}, ""))["id"]) for slug in slugs}


def test_a_teams_stand_in_id_is_named_by_its_slug_not_by_the_order_of_the_look_ups() -> None:
    slugs = ["tech-leads", "product-owners", "platform-team"]
    forwards, backwards = team_ids(slugs), team_ids(slugs[::-1])

    assert forwards == backwards
    assert len(set(forwards.values())) == 3
    assert all(LOOKUP_ID_BASE < int(i) <= LOOKUP_ID_BASE + LOOKUP_ID_SPAN for i in forwards.values())


def test_two_slugs_whose_ids_would_be_alike_get_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops.plan.offline.LOOKUP_ID_SPAN", 2)  # two ids: "a" and "c" would both take the first
    ids = team_ids(["a", "c"])
    assert sorted(ids.values()) == [str(LOOKUP_ID_BASE + 1), str(LOOKUP_ID_BASE + 2)], ids
