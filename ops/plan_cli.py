"""`chefchatz plan`: placeholder registration until the offline plan lands (same session)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register the plan command (filled in by the foundation work)."""
    del app
