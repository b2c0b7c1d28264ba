"""Backup ids and the key layout in the bucket, as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest

from ops import backup as backups
from ops.backup import Kind, Location, UsageError


def test_backup_ids_are_utc_stamped_sortable_and_parse_back() -> None:
    early = backups.new_backup_id(dt.datetime(2026, 11, 27, 4, 0, 0, 998_000, tzinfo=dt.UTC))
    same_second = backups.new_backup_id(dt.datetime(2026, 11, 27, 4, 0, 0, 999_500, tzinfo=dt.UTC))
    later = backups.new_backup_id(dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    assert early.startswith("20261127T040000.998Z-") and later.startswith("20261127T050000.000Z-")
    assert sorted([later, same_second, early]) == [early, same_second, later]
    assert backups.backup_id_time(early) == dt.datetime(2026, 11, 27, 4, 0, 0, 998_000, tzinfo=dt.UTC)
    assert backups.backup_id_time("20261127T040000Z-abcdef") is None
    assert backups.validate_backup_id("latest") == "latest"
    with pytest.raises(UsageError, match="'20261127'"):
        backups.validate_backup_id("20261127")


def test_locations_build_the_documented_key_layout() -> None:
    location = Location("chefchatz-prod-db-backups", "/prod/")
    assert location.kind_prefix(Kind.DB) == "prod/db/"
    assert (
        location.manifest_key(Kind.ASSETS, "20261127T040000.000Z-abcdef")
        == "prod/assets/20261127T040000.000Z-abcdef/manifest.json"
    )
    assert Location("chefchatz-b").kind_prefix(Kind.DB) == "db/"
    with pytest.raises(UsageError, match="'Bad_Bucket'"):
        Location("Bad_Bucket")


def test_metric_kind_dimension_values_are_the_alarm_contract() -> None:
    assert (backups.METRIC_NAMESPACE, backups.METRIC_BACKUP_SUCCEEDED) == (
        "ChefChatz/Backups",
        "BackupSucceeded",
    )
    assert [k.metric_kind for k in Kind] == ["database", "assets"]
