"""Fixtures of the policy tests: fresh, editable plans of whole stacks shaped like the components'.

The engine-faithful call path lives in `policy_harness.py`, the resource shapes in
`resource_shapes.py` (plain modules, so tests can import them by name).
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)
from resource_shapes import StackPlan, database_backups_plan, github_plan, monitoring_plan, prod_plan, web_plan

_SENTINEL_IDS = {
    UNKNOWN_ARRAY_VALUE: "unknown-array",
    UNKNOWN_BOOLEAN_VALUE: "unknown-boolean",
    UNKNOWN_NUMBER_VALUE: "unknown-number",
    UNKNOWN_OBJECT_VALUE: "unknown-object",
    UNKNOWN_STRING_VALUE: "unknown-string",
}


def pytest_make_parametrize_id(config: pytest.Config, val: Any, argname: str) -> str | None:
    """Test ids say `unknown-string`, not the SDK's sentinel UUID."""
    return _SENTINEL_IDS.get(val) if isinstance(val, str) else None


@pytest.fixture
def prod() -> StackPlan:
    """Everything the production stack plans, passing every rule."""
    return prod_plan()


@pytest.fixture
def prod_backups() -> StackPlan:
    """prod's database variable (so it has a database) and its backups."""
    return database_backups_plan("prod")


@pytest.fixture
def prod_github() -> StackPlan:
    return github_plan("prod")


@pytest.fixture
def prod_monitoring() -> StackPlan:
    """prod's domains and their monitors."""
    return web_plan("prod").merged(monitoring_plan("prod"))
