"""Fixtures of the policy tests: fresh, editable plans of whole stacks shaped like the components'.

The engine-faithful call path lives in `policy_harness.py`, the resource shapes in
`resource_shapes.py` (plain modules, so tests can import them by name).
"""

from __future__ import annotations

import pytest
from resource_shapes import StackPlan, database_backups_plan, github_plan, monitoring_plan, prod_plan, web_plan


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
