from __future__ import annotations

import pytest

from tests.contracts.tsc import Check, typecheck


@pytest.fixture(scope="session")
def type_checked(request: pytest.FixtureRequest) -> dict[str, list[str]]:
    """Problems by check name, from one ``tsc`` run over the ``type_checks()`` of every selected test module."""
    modules = {}
    for item in request.session.items:
        module = getattr(item, "module", None)
        if module is not None and callable(getattr(module, "type_checks", None)):
            modules[module.__name__] = module
    checks: list[Check] = [check for _, module in sorted(modules.items()) for check in module.type_checks()]
    return typecheck(checks)
