"""Text keys are compared the same way whatever collation each server sorts them by.

A failover between a primary and a copy restored on another server is where collations differ: an
ICU `en-US` database on one side, a libc `C.UTF-8` one on the other, sort the same text keys in
different orders ('Apple' < 'apple' < 'Banana' in en-US; 'Apple' < 'Banana' < 'apple' in C). The
two databases here differ only in that default collation, so every key column follows it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.backup.conftest import PgServer
from tests.reconcile.test_reconcile_buckets import naive_diff, tool_diff

ICU_EN_US = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
LIBC_C_UTF8 = "LOCALE_PROVIDER libc LOCALE 'C.UTF-8'"

# 5,000 keys whose en-US order is not their byte order: case, punctuation and spaces all matter.
TEXT_KEYED = """
CREATE TABLE dishes (name text PRIMARY KEY, cuisine text NOT NULL, rating int);
INSERT INTO dishes
SELECT (ARRAY['Dish ', 'dish-', 'DISH_', 'dish '])[1 + i % 4] || md5(i::text), 'cuisine ' || (i % 17), i % 5
FROM generate_series(1, 5000) AS i;
"""


def create_database(server: PgServer, locale: str) -> str:
    name = f"db_{uuid.uuid4().hex[:10]}"
    with server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 {locale}')
    return server.dsn(name)


def run(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statements)


@pytest.fixture
def en_us_and_c(pg_server: PgServer) -> tuple[str, str]:
    """Two databases holding the same text-keyed table: `old` sorts in ICU en-US, `live` in C.UTF-8."""
    old, live = create_database(pg_server, ICU_EN_US), create_database(pg_server, LIBC_C_UTF8)
    for dsn in (old, live):
        run(dsn, TEXT_KEYED)
    with psycopg.connect(old) as a, psycopg.connect(live) as b:
        order = "SELECT name FROM dishes ORDER BY name LIMIT 20"
        assert a.execute(order).fetchall() != b.execute(order).fetchall(), "the two collations sort alike"
    return old, live


def test_a_text_keyed_table_under_icu_en_us_and_c_utf8_finds_exactly_the_lost_rows(en_us_and_c, reconcile):
    old, live = en_us_and_c
    run(live, "DELETE FROM dishes WHERE name IN (SELECT name FROM dishes ORDER BY md5(name) LIMIT 7)")
    with psycopg.connect(old) as a, psycopg.connect(live) as b:
        assert a.execute("SELECT count(*) FROM dishes").fetchone() == (5000,)
        assert b.execute("SELECT count(*) FROM dishes").fetchone() == (4993,), "the setup should lose 7 rows"

    reported = reconcile("--from", old, "--to", live, "--json")

    assert reported.exit_code == 1, reported.stdout + reported.stderr
    dishes = reported.table("public.dishes")
    assert (dishes["lost"], dishes["only_in_to"], dishes["conflicts"]) == (7, 0, 0)

    applied = reconcile("--from", old, "--to", live, "--apply", "--json")
    again = reconcile("--from", old, "--to", live, "--json")

    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert applied.table("public.dishes")["applied"] == 7
    assert again.exit_code == 0, again.stdout + again.stderr
    assert again.report()["totals"] == {"lost": 0, "only_in_to": 0, "conflicts": 0, "applied": 0, "still_missing": 0}


def test_scattered_differences_under_two_collations_match_a_full_diff_for_text_and_composite_keys(en_us_and_c):
    old, live = en_us_and_c
    for dsn in (old, live):
        run(
            dsn,
            "CREATE TABLE menu (kitchen text, dish text, price int, PRIMARY KEY (kitchen, dish));"
            "INSERT INTO menu SELECT (ARRAY['North', 'north', 'North-East', 'north east'])[1 + i % 4],"
            " left(md5(i::text), 6 + i % 3), i FROM generate_series(1, 4000) AS i",
        )
    run(old, "INSERT INTO dishes VALUES ('lost dish', 'x', 1), ('Lost Dish', 'x', 1), ('LOST-dish', 'x', 1)")
    run(live, "INSERT INTO dishes SELECT 'new ' || md5(i::text), 'y', 0 FROM generate_series(1, 1500) AS i")
    run(live, "UPDATE dishes SET rating = NULL WHERE cuisine = 'cuisine 16' AND rating = 4")
    run(live, "DELETE FROM menu WHERE price % 331 = 0; UPDATE menu SET price = 0 WHERE price % 467 = 0")
    run(old, "INSERT INTO menu VALUES ('North', 'Z lost', 1), ('north', 'a lost', 1)")
    run(live, "INSERT INTO menu VALUES ('NORTH', 'new', 1), ('north-east', 'New', 1)")

    for table, key in (("dishes", ["name"]), ("menu", ["kitchen", "dish"])):
        found, _ = tool_diff(old, live, table)

        expected = naive_diff(old, live, table, key)
        assert found == expected, f"{table}: { ({k: len(v) for k, v in found.items()}) } != full diff"
        assert all(expected.values()), f"{table}: every kind of difference is exercised"


def test_a_change_of_case_under_a_case_insensitive_collation_is_a_conflict(en_us_and_c):
    old, live = en_us_and_c
    for dsn in (old, live):
        run(
            dsn,
            "CREATE COLLATION no_case (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
            "CREATE TABLE herbs (name text COLLATE no_case PRIMARY KEY, note text COLLATE no_case);"
            "INSERT INTO herbs SELECT 'Herb ' || i, 'Fresh' FROM generate_series(1, 500) AS i",
        )
    # Equal under no_case, different data: a person should see both.
    run(live, "UPDATE herbs SET note = 'fresh' WHERE name = 'herb 7'")

    found, _ = tool_diff(old, live, "herbs")

    assert found == {"lost": set(), "only_in_to": set(), "conflicts": {("Herb 7",)}}
