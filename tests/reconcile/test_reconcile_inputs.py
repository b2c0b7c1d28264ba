"""Bad input is exit 2 with a message naming what is wrong, before any row is compared or written."""

from __future__ import annotations

from tests.reconcile.conftest import Failover


def test_a_column_only_on_one_side_is_exit_2_naming_the_column(failover: Failover, reconcile):
    failover.run(failover.live, "ALTER TABLE recipes ADD COLUMN servings integer")
    failover.run(failover.old, "ALTER TABLE profiles DROP COLUMN bio")

    result = reconcile("--from", failover.old, "--to", failover.live, "--apply")

    assert result.exit_code == 2
    assert "public.recipes.servings: column only in --to (integer)" in result.stderr
    assert "public.profiles.bio: column only in --to (text)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_column_of_another_type_is_exit_2_naming_both_types(failover: Failover, reconcile):
    failover.run(failover.live, "ALTER TABLE recipes ALTER COLUMN rating TYPE numeric(4, 2)")

    result = reconcile("--from", failover.old, "--to", failover.live, "--json")

    assert result.exit_code == 2
    assert result.report()["error"].endswith("public.recipes.rating: type numeric(3,2) in --from, numeric(4,2) in --to")


def test_a_domain_over_another_type_is_exit_2_naming_both_base_types(failover: Failover, reconcile):
    # One name, two types: the --from side's hashes run on --to would cast timestamp to timestamptz
    # silently and call every row equal (the review of the send-form hashes reproduced it).
    table = "CREATE TABLE seen (id int PRIMARY KEY, at instant)"
    failover.run(failover.old, f"CREATE DOMAIN instant AS timestamptz; {table}")
    failover.run(failover.live, f"CREATE DOMAIN instant AS timestamp; {table}")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "seen", "--json")

    assert result.exit_code == 2
    assert result.report()["error"].endswith(
        "public.seen.at: type instant is a domain over timestamptz in --from, over timestamp in --to"
    )


def test_a_table_partitioned_on_one_side_only_is_exit_2(failover: Failover, reconcile):
    # Read with its partitions on one side and alone (ONLY) on the other, its rows would not compare.
    failover.run(
        failover.old,
        "CREATE TABLE events (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (1000)",
    )
    failover.run(failover.live, "CREATE TABLE events (id int PRIMARY KEY)")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "events", "--json")

    assert result.exit_code == 2
    assert result.report()["error"].endswith(
        "public.events: a partitioned table in --from only (an ordinary table on the other side)"
    )


PARTITIONED = (
    "CREATE TABLE metrics (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);"
    "CREATE TABLE metrics_low PARTITION OF metrics FOR VALUES FROM (0) TO (100);"
    "CREATE TABLE metrics_rest PARTITION OF metrics DEFAULT;"
    "INSERT INTO metrics SELECT i, i FROM generate_series(1, 150) AS i"
)


def test_a_partition_detached_on_one_side_only_is_exit_2_naming_it(failover: Failover, reconcile):
    # Its 99 rows are metrics' on --from and a table's of their own on --to: compared as they are,
    # they would all be "lost" from metrics, and --apply would insert them again (the default
    # partition takes them) while the detached table still holds them.
    for dsn in (failover.old, failover.live):
        failover.run(dsn, PARTITIONED)
    failover.run(failover.live, "ALTER TABLE metrics DETACH PARTITION metrics_low")

    one = reconcile("--from", failover.old, "--to", failover.live, "--tables", "metrics", "--apply", "--json")
    every = reconcile("--from", failover.old, "--to", failover.live, "--json")

    assert one.exit_code == 2
    assert one.report()["error"].endswith(
        "public.metrics: its partition public.metrics_low in --from is a table of its own in --to:"
        " its rows would be compared as rows of one side only"
    )
    assert every.exit_code == 2
    assert "public.metrics_low: a table of its own in --to, a partition of public.metrics in --from" in (
        every.report()["error"]
    )
    assert failover.rows(failover.live, "SELECT count(*) FROM metrics") == [(51,)]  # nothing applied


def test_a_partition_on_one_side_only_is_no_difference_when_the_rows_are_the_same(failover: Failover, reconcile):
    # The live side made next month's partition (as pg_partman does); the rows, read through the
    # partitioned table, are the same.
    for dsn in (failover.old, failover.live):
        failover.run(dsn, PARTITIONED)
    failover.run(failover.live, "CREATE TABLE metrics_next PARTITION OF metrics FOR VALUES FROM (1000) TO (2000)")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "metrics", "--json")

    assert result.exit_code == 0, result.stdout
    assert result.table("public.metrics")["lost"] == 0


def test_a_table_on_one_side_only_and_a_different_primary_key_are_named(failover: Failover, reconcile):
    failover.run(failover.old, "CREATE TABLE ratings (id int PRIMARY KEY)")
    failover.run(failover.live, "ALTER TABLE messages DROP CONSTRAINT messages_pkey")

    result = reconcile("--from", failover.old, "--to", failover.live)

    assert result.exit_code == 2
    assert "public.ratings: table exists only in --from" in result.stderr
    assert "public.messages: primary key (id) in --from, (none) in --to" in result.stderr


def test_column_order_is_not_a_difference(failover: Failover, reconcile):
    # The same columns added in another order on each side: same rows, nothing to reconcile.
    failover.run(failover.old, "ALTER TABLE messages ADD COLUMN a int DEFAULT 1, ADD COLUMN b int DEFAULT 2")
    failover.run(failover.live, "ALTER TABLE messages ADD COLUMN b int DEFAULT 2, ADD COLUMN a int DEFAULT 1")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "messages", "--json")

    assert result.exit_code == 0, result.stdout
    assert result.table("public.messages")["buckets_differing"] == 0


def test_an_unreachable_database_is_exit_2_naming_the_flag_without_the_password(failover: Failover, reconcile):
    unreachable = f"postgresql://postgres:hunter2-secret@127.0.0.1:{failover.server.port}/no_such_database"

    result = reconcile("--from", unreachable, "--to", failover.live)

    assert result.exit_code == 2
    assert "--from: cannot connect to postgres@127.0.0.1:" in result.stderr
    assert "no_such_database" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_an_unknown_table_is_exit_2_listing_the_tables_there(failover: Failover, reconcile):
    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "recipes,ingredients")

    assert result.exit_code == 2
    assert "--tables: public.ingredients not found in schema 'public'" in result.stderr
    assert "public.recipes" in result.stderr


def test_an_empty_schema_is_exit_2(failover: Failover, reconcile):
    result = reconcile("--from", failover.old, "--to", failover.live, "--schema", "chat")

    assert result.exit_code == 2
    assert "no tables in schema 'chat'" in result.stderr


def test_batch_rows_below_one_is_exit_2(failover: Failover, reconcile):
    result = reconcile("--from", failover.old, "--to", failover.live, "--batch-rows", "0")

    assert result.exit_code == 2
    assert "--batch-rows must be at least 1, got 0" in result.stderr


def test_a_report_file_in_a_missing_directory_is_exit_2_before_any_work(failover: Failover, reconcile, tmp_path):
    result = reconcile("--from", failover.old, "--to", failover.live, "--report", str(tmp_path / "no" / "r.json"))

    assert result.exit_code == 2
    assert f"--report: directory {tmp_path / 'no'} does not exist" in result.stderr
