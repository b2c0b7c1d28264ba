"""Durations on the command line and the freshness decision, as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest

from ops import backup as backups
from ops.backup import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21600), ("15m", 900), ("90s", 90), ("1d", 86400), ("1h30m", 5400), (" 2W ", 1209600)],
)
def test_parse_duration_accepts_unit_suffixes(text: str, seconds: int) -> None:
    assert backups.parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "6", "h", "6 hours", "-1h", "0s", "1.5h", "6h extra"])
def test_parse_duration_rejects_and_names_bad_values(text: str) -> None:
    with pytest.raises(UsageError, match=f"invalid duration {text!r}"):
        backups.parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (905, "15m05s"), (21600, "6h00m"), (25200 + 59, "7h00m")])
def test_format_duration(seconds: int, text: str) -> None:
    assert backups.format_duration(dt.timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        (dt.timedelta(hours=5, minutes=59), False),
        (dt.timedelta(hours=6), False),
        (dt.timedelta(hours=6, seconds=1), True),
    ],
)
def test_is_stale_only_past_max_age(age: dt.timedelta, stale: bool) -> None:
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    assert backups.is_stale(now - age, now, dt.timedelta(hours=6)) is stale
