"""Fixtures for `rollout watch`: the Vercel stand-in (its exchanges checked against Vercel's schemas when
a test ends), metrics, a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rollout.standins import TOKEN, FakeRollingRelease, VirtualClock, serve
from tests.standins.vercel import assert_contract


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def release(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRollingRelease]:
    state = FakeRollingRelease(clock=clock)
    server = serve(state)
    monkeypatch.setenv("VERCEL_API_URL", state.url)
    monkeypatch.setenv("VERCEL_TOKEN", TOKEN)
    monkeypatch.delenv("CHEFCHATZ_ROLLBACK_NOTIFY", raising=False)
    yield state
    server.shutdown()
    server.server_close()
    assert_contract(state)
