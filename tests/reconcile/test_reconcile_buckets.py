"""The bucket comparison finds exactly the rows a full row-by-row diff finds, for every kind of key.

Each test scatters differences over a table big enough for many buckets, then checks the tool's
classification against a naive diff of both tables loaded in full (fine at this size).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ops.reconcile import compare, hashing
from ops.reconcile.catalog import load_tables
from ops.reconcile.compare import PLANNER_SETTINGS, Comparer, pin_session, pinpoint
from tests.backup.conftest import PgServer


def naive_diff(source: str, target: str, table: str, key: list[str]) -> dict[str, set[tuple[str, ...]]]:
    def load(dsn: str) -> dict[tuple[str, ...], Any]:
        with psycopg.connect(dsn) as conn:
            pin_session(conn)
            rows = conn.execute(
                sql.SQL("SELECT {}, to_jsonb(t)::text FROM {} t").format(
                    sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key),
                    sql.Identifier(table),
                )
            ).fetchall()
        return {tuple(r[:-1]): r[-1] for r in rows}

    a, b = load(source), load(target)
    return {
        "lost": set(a) - set(b),
        "only_in_to": set(b) - set(a),
        "conflicts": {k for k in a.keys() & b.keys() if a[k] != b[k]},
    }


def tool_diff(source: str, target: str, table: str, **sizes: Any) -> tuple[dict[str, set[tuple[str, ...]]], Any]:
    """The comparer's classification of `table` (`sizes`: its bucket_rows and piece_rows, if not the defaults)."""
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        pin_session(src)
        pin_session(dst)
        comparer = Comparer(src, dst, load_tables(src, "public")[f"public.{table}"], **sizes)
        found: dict[str, set[tuple[str, ...]]] = {"lost": set(), "only_in_to": set(), "conflicts": set()}
        reported = 0
        try:
            for diff in comparer.differences():
                found["lost"] |= set(diff.lost)
                found["only_in_to"] |= set(diff.only_in_to)
                found["conflicts"] |= set(diff.conflicts)
                reported += len(diff.lost) + len(diff.only_in_to) + len(diff.conflicts)
        finally:
            comparer.close()
        assert reported == sum(map(len, found.values())), f"a key reported twice: {found}"
        return found, comparer.stats


@pytest.fixture
def two_databases(pg_server: PgServer) -> tuple[str, str]:
    return pg_server.dsn(pg_server.create_database()), pg_server.dsn(pg_server.create_database())


def both(dsns: tuple[str, str], statements: str) -> None:
    for dsn in dsns:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statements)


def on(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statements)


def test_scattered_differences_in_a_serial_table_match_a_full_diff(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, n numeric);"
        "INSERT INTO t SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 20000) AS i",
    )
    on(old, "DELETE FROM t WHERE id % 997 = 0")  # rows only the live side has
    on(live, "DELETE FROM t WHERE id % 1009 = 0")  # lost rows
    on(live, "UPDATE t SET v = NULL WHERE id % 1201 = 0")  # conflicts, NULL included
    on(live, "UPDATE t SET n = n + 0.0000001 WHERE id % 1303 = 0")  # a tiny numeric change
    # Post-failover writes past the recovered copy's last key: spread over every bucket.
    on(live, "INSERT INTO t SELECT i, 'new', 0 FROM generate_series(20001, 23000) AS i")

    found, stats = tool_diff(old, live, "t")

    expected = naive_diff(old, live, "t", ["id"])
    assert found == expected
    assert {k: len(v) for k, v in found.items()} == {"lost": 19, "only_in_to": 3020, "conflicts": 31}
    # Rows were fetched only around the differences, not for the whole table.
    assert stats.rows_fetched < 0.5 * (20000 + 23000), stats


def test_uuid_keys_with_post_failover_rows_spread_everywhere_match_a_full_diff(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id uuid PRIMARY KEY, v jsonb);"
        "INSERT INTO t SELECT md5('k' || i)::uuid, jsonb_build_object('i', i) FROM generate_series(1, 10000) AS i",
    )
    on(old, "INSERT INTO t SELECT md5('lost' || i)::uuid, '{}' FROM generate_series(1, 50) AS i")
    on(live, "INSERT INTO t SELECT md5('new' || i)::uuid, '{}' FROM generate_series(1, 2000) AS i")
    on(live, "UPDATE t SET v = v || '{\"edited\": true}' WHERE (v->>'i')::int % 500 = 0")

    found, _ = tool_diff(old, live, "t")

    assert found == naive_diff(old, live, "t", ["id"])
    assert {k: len(v) for k, v in found.items()} == {"lost": 50, "only_in_to": 2000, "conflicts": 20}


def test_composite_keys_match_a_full_diff(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (tenant text, day date, seq int, v text, PRIMARY KEY (tenant, day, seq));"
        "INSERT INTO t SELECT 'tenant ' || (i % 13), date '2026-01-01' + (i % 300), i, 'x'"
        " FROM generate_series(1, 15000) AS i",
    )
    on(old, "INSERT INTO t VALUES ('tenant 3', '2026-12-01', 1, 'lost'), ('Z', '2026-12-01', 1, 'lost')")
    on(live, "INSERT INTO t VALUES ('A', '2026-12-01', 1, 'new'), ('tenant 3', '2026-12-01', 2, 'new')")
    on(live, "UPDATE t SET v = '' WHERE seq % 2999 = 0")

    found, _ = tool_diff(old, live, "t", bucket_rows=512, piece_rows=2)

    assert found == naive_diff(old, live, "t", ["tenant", "day", "seq"])
    assert {k: len(v) for k, v in found.items()} == {"lost": 2, "only_in_to": 2, "conflicts": 5}


@pytest.mark.parametrize(
    ("change", "conflicts"),
    [
        ("UPDATE t SET a = CASE id WHEN 1 THEN 'a2' ELSE 'a1' END WHERE id IN (1, 2)", {("1",), ("2",)}),
        ("UPDATE t SET a = b, b = a WHERE id = 3", {("3",)}),
    ],
    ids=["two rows trade a value", "two columns trade values"],
)
def test_values_that_trade_places_are_conflicts_even_within_one_bucket(two_databases, change, conflicts):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, a text, b text);"
        "INSERT INTO t SELECT i, 'a' || i, 'b' || i FROM generate_series(1, 1000) AS i",
    )
    on(live, change)

    # One bucket for the whole table: its hash alone must tell the two tables apart.
    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": conflicts}


def test_columns_without_a_hash_function_are_compared_through_their_text(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE DOMAIN rating AS numeric(3, 1); CREATE TYPE mood AS ENUM ('happy', 'sad');"
        "CREATE TABLE t (id int PRIMARY KEY, doc json, at point, tags text[], span int4range, r rating, m mood,"
        " note varchar(20));"
        "INSERT INTO t SELECT i, '{\"a\": 1}', point(i, i), ARRAY['x'], int4range(i, i + 1), 1.5, 'happy', 'n'"
        " FROM generate_series(1, 3000) AS i",
    )
    on(
        live,
        "UPDATE t SET doc = '{\"a\":  1}' WHERE id = 100;"  # json keeps whitespace: a change of text
        "UPDATE t SET at = point(0, 0) WHERE id = 200; UPDATE t SET tags = ARRAY['x', NULL] WHERE id = 300;"
        "UPDATE t SET span = int4range(0, 1) WHERE id = 400; UPDATE t SET r = 1.6 WHERE id = 500;"
        "UPDATE t SET m = 'sad' WHERE id = 600; UPDATE t SET note = NULL WHERE id = 700;",
    )

    found, _ = tool_diff(old, live, "t")

    assert sorted(int(k[0]) for k in found["conflicts"]) == [100, 200, 300, 400, 500, 600, 700]


def test_an_empty_recovered_table_finds_every_live_row(two_databases):
    old, live = two_databases
    both(two_databases, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    on(live, "INSERT INTO t SELECT i, 'v' FROM generate_series(1, 3000) AS i")

    found, _ = tool_diff(old, live, "t")

    assert (len(found["lost"]), len(found["only_in_to"]), len(found["conflicts"])) == (0, 3000, 0)


def test_identical_tables_are_settled_by_bucket_hashes_alone_in_one_pass(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' FROM generate_series(1, 10000) i;"
        "ANALYZE t",  # the planner's row estimate sizes the buckets: exact here, as autovacuum keeps it
    )

    found, stats = tool_diff(old, live, "t")

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": set()}
    assert (stats.passes, stats.differing, stats.rows_fetched) == (1, 0, 0)
    assert stats.buckets == 128  # 10,000 rows in buckets of at most 128: 2^7 buckets of ~78 rows


def test_buckets_far_larger_than_planned_are_split_in_another_pass_and_still_match_a_full_diff(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' FROM generate_series(1, 20000) i",
    )
    on(old, "DELETE FROM t WHERE id % 1999 = 0")
    on(live, "DELETE FROM t WHERE id % 2003 = 0; UPDATE t SET v = 'w' WHERE id % 2011 = 0")

    # As if the planner thought the table 10,000 times smaller: the first pass is one bucket.
    found, stats = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == naive_diff(old, live, "t", ["id"])
    assert {k: len(v) for k, v in found.items()} == {"lost": 9, "only_in_to": 10, "conflicts": 9}
    assert stats.passes == 3  # everything, the pieces of the one differing bucket, the rows of differing pieces
    assert stats.rows_fetched < 0.01 * 2 * 20000, stats


def test_a_buckets_differing_rows_in_one_piece_are_fetched_with_that_piece_alone(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=False)  # 97 differing rows in 20,000, 256 buckets

    found, stats = tool_diff(old, live, "t", pass_cost=1)
    _, whole = tool_diff(old, live, "t", pass_cost=1, piece_bits=0)

    assert found == naive_diff(old, live, "t", ["id"])
    # (pass_cost 1: no split pass.) Most differing buckets hold one differing row: its piece (1/32
    # of the bucket) alone is fetched.
    assert stats.passes == whole.passes == 2 and stats.differing == whole.differing, (stats, whole)
    assert stats.pinpointed > 0.7 * stats.differing and stats.pinpoints_missed == 0, stats
    assert stats.rows_fetched < whole.rows_fetched / 3, (stats, whole)  # the rest: buckets of several pieces


def test_one_differing_row_in_a_table_of_one_bucket_is_fetched_with_its_piece(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' FROM generate_series(1, 3200) i",
    )
    on(live, "UPDATE t SET v = 'w' WHERE id = 1234")

    found, stats = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("1234",)}}
    # No split pass: the first pass named the piece, ~100 of the 3,200 rows on each side.
    assert (stats.passes, stats.pinpointed) == (2, 1) and stats.rows_fetched < 2 * 200, stats


def named_wrongly(rows_apart: int, shifted_apart: int, pieces: int) -> int | None:
    """Every piece `pinpoint` names, the wrong one: one without the bucket's differing rows."""
    piece = pinpoint(rows_apart, shifted_apart, pieces)
    return None if piece is None else piece ^ 1


def named_unchecked(rows_apart: int, shifted_apart: int, pieces: int) -> int | None:
    """A piece named from where the two XORs' lowest set bits are apart, never checked: in a bucket
    whose differing rows lie in several pieces, one of them."""
    x, p = rows_apart & compare.M64, shifted_apart & compare.M64
    piece = (p & -p).bit_length() - (x & -x).bit_length()
    return piece if x and p and 0 <= piece < 1 << pieces else None


@pytest.mark.parametrize("namer", [named_wrongly, named_unchecked], ids=["the wrong piece", "unchecked"])
def test_a_piece_named_wrongly_is_caught_by_its_rows_and_the_rest_of_its_bucket_compared(
    two_databases, monkeypatch, namer
):
    # Only an accident of the shifted hash (below 2^-32) could name a piece that misses some of a
    # bucket's differences: name pieces wrongly, and the rows fetched must say so.
    old, live = two_databases
    scattered_pair(two_databases, live_descending=False)
    monkeypatch.setattr(compare, "pinpoint", namer)

    for stream_rows in (65536, 0):  # either fetch
        found, stats = tool_diff(old, live, "t", stream_rows=stream_rows, pass_cost=1)

        assert found == naive_diff(old, live, "t", ["id"])
        # All rows hashed, the named pieces' rows, the rest of the buckets whose pieces missed.
        assert 0 < stats.pinpoints_missed <= stats.pinpointed and stats.passes == 3, stats
        if namer is named_wrongly:
            assert stats.pinpoints_missed == stats.pinpointed, stats


def test_pieces_named_in_two_passes_and_a_stream_given_up_still_match_a_full_diff(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=True)  # the live copy's scan meets the rows last to first

    # Halves for pieces: the named ones hold enough rows for the unsorted fetch to be tried and
    # given up past 1,000 rows held, and the sorted one to check them instead. pass_cost 100: the
    # buckets of several differing rows are split, and pieces named in the split pass too.
    found, stats = tool_diff(old, live, "t", itersize=64, stream_rows=1000, piece_bits=1, pass_cost=100)

    assert found == naive_diff(old, live, "t", ["id"])
    assert (stats.passes, stats.abandoned_fetches) == (4, 1), stats  # every row, a split, unsorted, sorted
    assert stats.pinpointed > stats.differing - 10 and stats.pinpoints_missed == 0, stats


def test_bucket_lists_too_long_to_write_at_one_bits_are_tested_coarsest_bits_first(two_databases, monkeypatch):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=False)
    monkeypatch.setattr(hashing, "MAX_PIECES_LISTED", 0)

    found, stats = tool_diff(old, live, "t")

    assert found == naive_diff(old, live, "t", ["id"])
    assert stats.pinpointed > 0 and stats.pinpoints_missed == 0, stats


def test_values_whose_hash_is_the_seed_or_folds_are_still_told_apart(two_databases):
    # PostgreSQL's float, numeric and jsonb hashes return the seed for 0, NaN/±Infinity and []/{}, the
    # value a NULL used to stand for; jsonb's ignores where nested arrays end; hashint8extended folds a
    # bigint to 32 bits (0 and (5 << 32) | 5 hash alike). None of that may hide a difference.
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, f float8, n numeric, j jsonb, b bigint);"
        "INSERT INTO t SELECT i, 1, 1, '1', 1 FROM generate_series(1, 3000) AS i;"
        "UPDATE t SET f = NULL, n = 'NaN', j = '[]', b = 0 WHERE id = 10;"
        "UPDATE t SET j = '[[\"a\"], \"b\"]' WHERE id = 20;"
        "UPDATE t SET n = 'Infinity' WHERE id = 30;",
    )
    on(
        live,
        "UPDATE t SET f = 0, n = 'Infinity', j = '{}', b = (5::bigint << 32) | 5 WHERE id = 10;"
        "UPDATE t SET j = '[[\"a\", \"b\"]]' WHERE id = 20;"
        "UPDATE t SET n = '-Infinity' WHERE id = 30;",
    )

    found, _ = tool_diff(old, live, "t")

    assert sorted(int(k[0]) for k in found["conflicts"]) == [10, 20, 30], found
    assert found == naive_diff(old, live, "t", ["id"]) | {"conflicts": found["conflicts"]}


def test_timestamps_with_time_zone_are_compared_as_instants_keys_and_values_alike(two_databases):
    # Hashed as UTC wall time: 05:30Z and 06:30Z read 01:30 in New York on the night clocks go back,
    # and must still differ; infinity is a value like any other.
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (at timestamptz PRIMARY KEY, seen timestamptz);"
        "INSERT INTO t SELECT timestamptz '2026-11-01 00:00Z' + i * interval '1 minute',"
        " timestamptz '2026-11-01 05:30Z' FROM generate_series(1, 3000) AS i;"
        "INSERT INTO t VALUES ('infinity', '-infinity')",
    )
    on(live, "UPDATE t SET seen = timestamptz '2026-11-01 06:30Z' WHERE at = timestamptz '2026-11-01 00:10Z';"
             "UPDATE t SET seen = 'infinity' WHERE at = 'infinity';"
             "DELETE FROM t WHERE at = timestamptz '2026-11-01 00:20Z'")  # fmt: skip

    found, _ = tool_diff(old, live, "t")

    assert found == naive_diff(old, live, "t", ["at"])
    assert {k: len(v) for k, v in found.items()} == {"lost": 1, "only_in_to": 0, "conflicts": 2}


def test_a_table_of_key_columns_only_tells_keys_that_trade_values_apart(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (a bigint, b bigint, PRIMARY KEY (a, b));"
        "INSERT INTO t SELECT i, i + 1 FROM generate_series(1, 1000) AS i",
    )
    on(live, "UPDATE t SET a = b, b = a WHERE a = 500")

    # One bucket for the whole table: its hash alone must tell the two tables apart.
    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": {("500", "501")}, "only_in_to": {("501", "500")}, "conflicts": set()}


def test_bigints_that_differ_by_the_xor_of_two_columns_seeds_are_told_apart(two_databases):
    # Each bigint is hashed with itself in the seed (`int8_hash`). Columns are seeded by their place in
    # name order (a: 1, b: 2; the key has seeds of its own, from 2^31): were a value only XORed into the
    # seed, a = 5, b = 6 and a = 7, b = 4 would both hash to nothing, and so would a key next to a
    # column holding the key XOR both seeds (two such rows cancel out of their bucket's hash).
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (a bigint, b bigint, id bigint PRIMARY KEY);"
        "INSERT INTO t SELECT i, i, i FROM generate_series(1, 1000) AS i;"
        "CREATE TABLE k (id bigint PRIMARY KEY, n bigint)",
    )
    on(old, "UPDATE t SET a = 5, b = 6 WHERE id = 10; UPDATE t SET a = 0, b = 3 WHERE id = 20;"
            "INSERT INTO k SELECT i, i # ((1 << 31) # 2) FROM generate_series(1, 2) AS i")  # fmt: skip
    on(live, "UPDATE t SET a = 7, b = 4 WHERE id = 10; UPDATE t SET a = 3, b = 0 WHERE id = 20;"
             "INSERT INTO k SELECT i, i # ((1 << 31) # 2) FROM generate_series(3, 4) AS i")  # fmt: skip

    # One bucket for the whole table: its hash alone must tell the two tables apart.
    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)
    keys, _ = tool_diff(old, live, "k", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("10",), ("20",)}}
    assert keys == {"lost": {("1",), ("2",)}, "only_in_to": {("3",), ("4",)}, "conflicts": set()}


def test_64_bit_types_whose_hash_folds_to_32_bits_are_told_apart(two_databases):
    # timestamp, time and pg_lsn hash through hashint8extended, interval folds its span alike (and
    # hashes '1 day' as '24:00:00'): v and v ^ ((d << 32) | d) hash equal. 12:00 and
    # 13:11:34.967297 are such a pair (4294967297 microseconds apart), so are 0/0 and 1/1. timetz,
    # xid8 and a domain over timestamptz (hashed as their base type) likewise.
    old, live = two_databases
    both(
        two_databases,
        "CREATE DOMAIN instant AS timestamptz;"
        "CREATE TABLE t (id int PRIMARY KEY, ts timestamp, tz timestamptz, iv interval, tm time, lsn pg_lsn,"
        " ttz timetz, x xid8, d instant);"
        "INSERT INTO t SELECT i, '2026-11-20 12:00', '2026-11-20 12:00+00', '1 day', '00:00', '0/0',"
        " '12:00+00', '0', '2026-11-20 12:00+00' FROM generate_series(1, 1000) AS i;"
        "CREATE TABLE k (ts timestamp PRIMARY KEY, v text)",
    )
    on(old, "INSERT INTO k VALUES ('2026-11-20 12:00', 'x')")
    on(live, "UPDATE t SET ts = '2026-11-20 13:11:34.967297', tz = '2026-11-20 13:11:34.967297+00',"
             " iv = '24:00:00', tm = '01:11:34.967297', lsn = '1/1' WHERE id = 10;"
             "UPDATE t SET iv = '30 days' WHERE id = 20; UPDATE t SET iv = '1 mon' WHERE id = 30;"
             "UPDATE t SET ttz = '13:11:34.967297+00' WHERE id = 40; UPDATE t SET x = '4294967297' WHERE id = 50;"
             "UPDATE t SET d = '2026-11-20 13:11:34.967297+00' WHERE id = 60;"
             "INSERT INTO k VALUES ('2026-11-20 13:11:34.967297', 'x')")  # fmt: skip

    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)
    keys, _ = tool_diff(old, live, "k", bucket_rows=1_000_000)

    assert found == naive_diff(old, live, "t", ["id"]) and len(found["conflicts"]) == 6, found
    assert keys == naive_diff(old, live, "k", ["ts"]) and len(keys["lost"]) == 1 == len(keys["only_in_to"]), keys


def test_a_function_on_the_search_path_that_takes_a_domain_is_not_called_for_the_built_in(two_databases):
    # public.timestamptz_send(instant) matches a domain column exactly and would win over
    # pg_catalog.timestamptz_send(timestamptz) if the name were not qualified: every row would hash alike.
    old, live = two_databases
    both(
        two_databases,
        "CREATE DOMAIN instant AS timestamptz;"
        "CREATE FUNCTION public.timestamptz_send(instant) RETURNS bytea LANGUAGE sql IMMUTABLE"
        " AS $$ SELECT '\\x00'::bytea $$;"
        "CREATE TABLE t (id int PRIMARY KEY, at instant);"
        "INSERT INTO t SELECT i, '2026-11-20 12:00+00' FROM generate_series(1, 1000) AS i",
    )
    on(live, "UPDATE t SET at = '2026-11-20 12:00:01+00' WHERE id = 10")

    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("10",)}}, found


def test_a_bigint_never_cancels_a_32_bit_column_in_a_row(two_databases):
    # A bigint's term is hashint8extended(v, v # s): for v = s_a ^ s_b it equals an int's
    # hashint4extended(w, s_b) with w = fold(v); two such pairs cancel out of a row, so (a, b, c, d) =
    # (3, 3, 7, 7) and (5, 1, 1, 5) hashed alike before a constant was XORed into every bigint's term.
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id int PRIMARY KEY, a bigint, b int, c bigint, d int);"
        "INSERT INTO t SELECT i, i, i, i, i FROM generate_series(1, 1000) AS i",
    )
    on(old, "UPDATE t SET a = 3, b = 3, c = 7, d = 7 WHERE id = 10")
    on(live, "UPDATE t SET a = 5, b = 1, c = 1, d = 5 WHERE id = 10")

    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("10",)}}, found


def test_an_extension_type_is_compared_by_its_text_so_citexts_change_of_case_shows(two_databases):
    # citext's own hash lowercases the value: 'Alice' -> 'alice' would hash alike.
    old, live = two_databases
    both(
        two_databases,
        "CREATE EXTENSION IF NOT EXISTS citext;"
        "CREATE TABLE t (id int PRIMARY KEY, email citext);"
        "INSERT INTO t SELECT i, 'Alice' || i FROM generate_series(1, 1000) AS i",
    )
    on(live, "UPDATE t SET email = 'alice10' WHERE id = 10")

    found, _ = tool_diff(old, live, "t", bucket_rows=1_000_000)

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("10",)}}, found


def scattered_pair(two_databases: tuple[str, str], live_descending: bool) -> None:
    """20,000 rows with 0.5 % differing, the live copy stored in descending key order if asked."""
    old, live = two_databases
    for dsn, descending in ((old, False), (live, live_descending)):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
            order = sql.SQL("DESC" if descending else "ASC")
            rows = sql.SQL("SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i ORDER BY i {}").format(order)
            conn.execute(sql.SQL("INSERT INTO t {}").format(rows))
    on(live, "DELETE FROM t WHERE id % 601 = 0")  # 33 lost rows
    on(old, "DELETE FROM t WHERE id % 607 = 0")  # 32 rows only the live side has (one is also lost)
    on(live, "UPDATE t SET v = 'edited' WHERE id % 613 = 0")  # 32 conflicts
    both(two_databases, "VACUUM ANALYZE t")


def test_rows_stored_in_the_same_order_are_compared_as_they_stream_in(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=False)

    found, stats = tool_diff(old, live, "t", itersize=64, stream_rows=1000, pass_cost=1, piece_bits=0, bucket_rows=64)

    assert found == naive_diff(old, live, "t", ["id"])
    # (pass_cost 1: no split pass.) The rows of the differing buckets were read once, unsorted,
    # never more than 1,000 of them held unmatched.
    assert (stats.passes, stats.unsorted_fetches, stats.abandoned_fetches) == (2, 1, 0), stats


def test_rows_stored_in_orders_too_different_to_stream_are_compared_sorted_instead(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=True)  # the live copy's scan meets the rows last to first

    found, stats = tool_diff(old, live, "t", itersize=64, stream_rows=1000, pass_cost=1, piece_bits=0, bucket_rows=64)

    assert found == naive_diff(old, live, "t", ["id"])
    # All rows hashed, the unsorted fetch given up past 1,000 rows held, the sorted fetch.
    assert (stats.passes, stats.unsorted_fetches, stats.abandoned_fetches) == (3, 0, 1), stats



def test_more_differing_buckets_than_a_stream_may_hold_go_straight_to_the_sorted_fetch(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=True)

    # 82 differing buckets, so at least 82 differing rows: more than half of 150, not even tried unsorted.
    found, stats = tool_diff(old, live, "t", itersize=64, stream_rows=150, pass_cost=1, piece_bits=0, bucket_rows=64)

    assert found == naive_diff(old, live, "t", ["id"])
    assert (stats.passes, stats.differing, stats.unsorted_fetches, stats.abandoned_fetches) == (2, 82, 0, 0), stats


def test_only_a_tables_first_pass_is_planned_for_jit_compiling(two_databases):
    old, live = two_databases
    scattered_pair(two_databases, live_descending=False)
    seen: list[list[str]] = []

    class Watched(Comparer):
        @contextmanager
        def _streams(self, query, params):  # each pass's JIT threshold, on both sides, as it starts
            show = "SELECT current_setting('jit_above_cost')"
            seen.append([c.execute(show).fetchall()[0][0] for c in (self.source, self.target)])
            with super()._streams(query, params) as streams:
                yield streams

    with psycopg.connect(old) as src, psycopg.connect(live) as dst:
        pin_session(src)
        pin_session(dst)
        table = load_tables(src, "public")["public.t"]
        for _ in range(2):  # the next table, in the next transaction, has its first pass compiled again
            comparer = Watched(src, dst, table, pass_cost=1)
            try:
                assert list(comparer.differences())
            finally:
                comparer.close()
            src.commit()
            dst.commit()

    # (pass_cost 1: no split pass.) The first pass hashes every row; the fetch, only a few buckets'.
    first = PLANNER_SETTINGS["jit_above_cost"]
    assert seen == [[first, first], ["-1", "-1"]] * 2


def test_a_scan_another_session_left_midway_does_not_rotate_the_unsorted_fetch(two_databases):
    old, live = two_databases
    for dsn in two_databases:  # 45 MB: over a quarter of the test server's 128 MB shared_buffers
        on(dsn, "CREATE TABLE t (id bigint PRIMARY KEY, v text, pad text);")
        on(dsn, "INSERT INTO t SELECT i, md5(i::text), repeat('x', 1000) FROM generate_series(1, 40000) AS i")
    on(live, "DELETE FROM t WHERE id % 601 = 0; UPDATE t SET v = 'edited' WHERE id % 613 = 0")
    both(two_databases, "VACUUM ANALYZE t")
    with psycopg.connect(live) as conn:  # an application's scan that stops halfway (a cursor closed early)
        with conn.cursor(name="app") as cursor:
            cursor.execute("SELECT * FROM t")
            cursor.fetchmany(20000)
        # Synchronized scans now start there: this session's first row is from mid-table.
        assert conn.execute("SELECT id FROM t LIMIT 1").fetchone() != (1,)

    found, stats = tool_diff(old, live, "t", itersize=64, stream_rows=1000, pass_cost=1, piece_bits=0, bucket_rows=64)

    assert found == naive_diff(old, live, "t", ["id"])
    assert (stats.unsorted_fetches, stats.abandoned_fetches) == (1, 0), stats


def test_rows_of_a_table_that_inherits_are_not_read_as_the_parents(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text); CREATE TABLE child () INHERITS (t);"
        "INSERT INTO t VALUES (1, 'a')",
    )
    on(old, "INSERT INTO child VALUES (1, 'a')")  # the child's own row, on one side only

    for stream_rows in (65536, 0):  # either fetch
        found, stats = tool_diff(old, live, "t", stream_rows=stream_rows)

        assert found == {"lost": set(), "only_in_to": set(), "conflicts": set()}, stats
        assert stats.differing == 0


def test_a_partitioned_table_is_read_with_its_partitions(two_databases):
    old, live = two_databases
    both(
        two_databases,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id);"
        "CREATE TABLE t_low PARTITION OF t FOR VALUES FROM (0) TO (5000);"
        "CREATE TABLE t_high PARTITION OF t FOR VALUES FROM (5000) TO (MAXVALUE);"
        "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 10000) AS i",
    )
    on(live, "DELETE FROM t WHERE id % 997 = 0; UPDATE t SET v = 'edited' WHERE id % 1499 = 0")

    found, _ = tool_diff(old, live, "t")

    assert found == naive_diff(old, live, "t", ["id"])
    assert {k: len(v) for k, v in found.items()} == {"lost": 10, "only_in_to": 0, "conflicts": 6}
