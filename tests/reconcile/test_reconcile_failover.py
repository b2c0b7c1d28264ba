"""`chefchatz reconcile` on a real PostgreSQL: a failover staged with two copies of one database."""

from __future__ import annotations

import json

import pytest

from tests.reconcile.conftest import Failover, profile_id

# Writes the old primary took after the recovery point: lost by the failover.
LOST_WRITES = """
INSERT INTO profiles (id, username, bio)
VALUES ('00000000-0000-4000-8000-000000000384', 'lost_cook', 'wrote before the failure');
INSERT INTO recipes (id, author, title, rating, tags, created_at)
VALUES (5001, '00000000-0000-4000-8000-000000000384', 'lost soup', 4.5, '{soup,"with space"}', '2026-12-01 10:00Z'),
       (5002, '00000000-0000-4000-8000-000000000384', 'lost bread', NULL, '{}', '2026-12-01 10:05Z');
INSERT INTO recipe_likes (profile_id, recipe_id, liked_at)
VALUES ('00000000-0000-4000-8000-000000000384', 5001, '2026-12-01 10:06Z'),
       ('00000000-0000-4000-8000-000000000002', 5002, '2026-12-01 10:07Z');
INSERT INTO messages (body) VALUES ('lost message');
"""

# Writes users made on the live database after the failover: must be kept as they are.
POST_FAILOVER_WRITES = """
INSERT INTO profiles (id, username, bio)
VALUES ('00000000-0000-4000-8000-000000000385', 'new_cook', 'joined after the failover');
INSERT INTO recipes (id, author, title, rating, created_at)
VALUES (7001, '00000000-0000-4000-8000-000000000385', 'new stew', 3.25, '2026-12-01 11:00Z');
INSERT INTO recipe_likes (profile_id, recipe_id, liked_at)
VALUES ('00000000-0000-4000-8000-000000000385', 7001, '2026-12-01 11:01Z');
"""


def test_report_only_finds_lost_rows_per_table_and_changes_nothing(failover: Failover, reconcile):
    failover.run(failover.old, LOST_WRITES)
    failover.run(failover.live, POST_FAILOVER_WRITES)

    result = reconcile("--from", failover.old, "--to", failover.live, "--json")

    assert result.exit_code == 1, result.stdout  # lost rows still missing
    counts = {t["table"]: (t["lost"], t["only_in_to"], t["conflicts"]) for t in result.report()["tables"]}
    assert counts == {
        "public.profiles": (1, 1, 0),
        "public.recipes": (2, 1, 0),
        "public.recipe_likes": (2, 1, 0),
        "public.messages": (1, 0, 0),
    }
    assert sorted(result.table("public.recipes")["samples"]["lost"], key=lambda k: k["id"]) == [
        {"id": "5001"},
        {"id": "5002"},
    ]
    assert sorted(result.table("public.recipe_likes")["samples"]["lost"], key=lambda k: k["recipe_id"]) == [
        {"profile_id": profile_id(900), "recipe_id": "5001"},
        {"profile_id": profile_id(2), "recipe_id": "5002"},
    ]
    assert failover.rows(failover.live, "SELECT count(*) FROM recipes WHERE id IN (5001, 5002)") == [(0,)]


def test_apply_inserts_lost_rows_parents_first_keeps_post_failover_writes_and_a_second_run_is_a_no_op(
    failover: Failover, reconcile
):
    failover.run(failover.old, LOST_WRITES)
    failover.run(failover.live, POST_FAILOVER_WRITES)

    applied = reconcile("--from", failover.old, "--to", failover.live, "--apply", "--json")

    assert applied.exit_code == 0, applied.stdout
    order = [t["table"] for t in applied.report()["tables"]]
    assert order.index("public.profiles") < order.index("public.recipes") < order.index("public.recipe_likes")
    assert applied.report()["totals"] == {
        "lost": 6,
        "only_in_to": 3,
        "conflicts": 0,
        "applied": 6,
        "still_missing": 0,
    }
    # Lost rows arrive exactly as they were, arrays, NULLs and generated columns included.
    lost_recipes = "SELECT * FROM recipes WHERE id IN (5001, 5002) ORDER BY id"
    assert failover.rows(failover.live, lost_recipes) == failover.rows(failover.old, lost_recipes)
    assert len(failover.rows(failover.live, lost_recipes)) == 2
    assert failover.rows(failover.live, "SELECT body, body_length FROM messages WHERE body = 'lost message'") == [
        ("lost message", 12)
    ]
    # Post-failover writes are still there, untouched.
    assert failover.rows(failover.live, "SELECT title FROM recipes WHERE id = 7001") == [("new stew",)]
    assert failover.rows(failover.live, "SELECT username FROM profiles WHERE bio LIKE 'joined%'") == [("new_cook",)]

    again = reconcile("--from", failover.old, "--to", failover.live, "--apply", "--json")

    assert again.exit_code == 0, again.stdout
    assert again.report()["totals"] == {"lost": 0, "only_in_to": 3, "conflicts": 0, "applied": 0, "still_missing": 0}


def test_conflicts_are_reported_with_both_versions_and_never_applied(failover: Failover, reconcile, tmp_path):
    failover.run(failover.old, "UPDATE recipes SET title = 'old primary title' WHERE id = 17")
    failover.run(failover.live, "UPDATE recipes SET title = 'live title', rating = 1.5 WHERE id = 17")
    # NULL -> '' is a change too (the record's text form tells them apart).
    failover.run(failover.old, "UPDATE profiles SET bio = '' WHERE id = '00000000-0000-4000-8000-000000000003'")
    report_file = tmp_path / "reconcile.json"

    result = reconcile("--from", failover.old, "--to", failover.live, "--apply", "--report", str(report_file))

    assert result.exit_code == 1, result.stdout
    assert "2 conflict(s) need a person" in result.stdout
    report = json.loads(report_file.read_text())
    recipes = next(t for t in report["tables"] if t["table"] == "public.recipes")
    assert recipes["conflicts"] == 1 and recipes["applied"] == 0
    (conflict,) = recipes["conflict_versions"]
    assert conflict["key"] == {"id": "17"}
    assert (conflict["from"]["title"], conflict["to"]["title"]) == ("old primary title", "live title")
    assert (conflict["from"]["rating"], conflict["to"]["rating"]) == (0.17, 1.5)
    profiles = next(t for t in report["tables"] if t["table"] == "public.profiles")
    assert profiles["conflict_versions"][0]["from"]["bio"] == ""
    assert profiles["conflict_versions"][0]["to"]["bio"] is None
    # The live version stays: conflicts are for a person.
    assert failover.rows(failover.live, "SELECT title FROM recipes WHERE id = 17") == [("live title",)]
    assert failover.rows(
        failover.live, "SELECT bio FROM profiles WHERE id = '00000000-0000-4000-8000-000000000003'"
    ) == [(None,)]


def test_the_same_new_id_on_both_sides_is_a_conflict_not_an_overwrite(failover: Failover, reconcile):
    # Both databases handed out the next identity value: the classic serial-key failover collision.
    failover.run(
        failover.old,
        "INSERT INTO recipes (author, title, created_at) VALUES ('00000000-0000-4000-8000-000000000001', 'a', now())",
    )
    failover.run(
        failover.live,
        "INSERT INTO recipes (author, title, created_at) VALUES ('00000000-0000-4000-8000-000000000002', 'b', now())",
    )

    result = reconcile("--from", failover.old, "--to", failover.live, "--apply", "--json")

    assert result.exit_code == 1
    assert (result.table("public.recipes")["conflicts"], result.table("public.recipes")["applied"]) == (1, 0)
    assert failover.rows(failover.live, "SELECT title FROM recipes WHERE id = 2001") == [("b",)]


def test_tables_without_a_primary_key_are_listed_and_skipped(failover: Failover, reconcile):
    failover.run(failover.old, "INSERT INTO page_views VALUES ('/lost', now())")

    result = reconcile("--from", failover.old, "--to", failover.live, "--json")

    assert result.exit_code == 0, result.stdout
    assert result.report()["skipped"] == [
        {"table": "public.page_views", "reason": "no primary key: rows cannot be matched, table not compared"}
    ]
    assert "public.page_views" not in [t["table"] for t in result.report()["tables"]]


def test_lost_identity_rows_move_the_live_sequence_past_them(failover: Failover, reconcile):
    failover.run(failover.old, "INSERT INTO messages (body) SELECT 'lost ' || i FROM generate_series(1, 5) AS i")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "messages", "--apply", "--json")

    assert result.exit_code == 0, result.stdout
    assert result.table("public.messages")["sequences_advanced"] == ["public.messages_id_seq"]
    failover.run(failover.live, "INSERT INTO messages (body) VALUES ('the next live message')")
    assert failover.rows(failover.live, "SELECT max(id) FROM messages") == [(306,)]


def test_lost_rows_of_a_table_that_inherits_move_the_parents_sequence_it_draws_from(failover: Failover, reconcile):
    # The child's id default is nextval('events_id_seq'), a sequence its parent's column owns.
    for dsn in (failover.old, failover.live):
        failover.run(
            dsn,
            "CREATE TABLE events (id bigserial PRIMARY KEY, v text);"
            "CREATE TABLE events_2026 (PRIMARY KEY (id)) INHERITS (events);"
            "INSERT INTO events_2026 (v) SELECT 'e' || i FROM generate_series(1, 10) AS i",
        )
    failover.run(failover.old, "INSERT INTO events_2026 (v) SELECT 'lost' || i FROM generate_series(1, 5) AS i")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "events_2026", "--apply", "--json")

    assert result.exit_code == 0, result.stdout
    assert result.table("public.events_2026")["applied"] == 5
    assert result.table("public.events_2026")["sequences_advanced"] == ["public.events_id_seq"]
    failover.run(failover.live, "INSERT INTO events_2026 (v) VALUES ('the next live event')")
    assert failover.rows(failover.live, "SELECT max(id) FROM events") == [(16,)]


def test_a_lost_row_refused_by_a_constraint_is_reported_and_the_rest_of_its_batch_applied(
    failover: Failover, reconcile
):
    failover.run(
        failover.old,
        "INSERT INTO profiles (id, username) VALUES ('00000000-0000-4000-8000-000000000320', 'taken'), "
        "('00000000-0000-4000-8000-000000000321', 'free')",
    )
    failover.run(
        failover.live, "INSERT INTO profiles (id, username) VALUES ('00000000-0000-4000-8000-000000000322', 'taken')"
    )

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "profiles", "--apply", "--json")

    assert result.exit_code == 1
    profiles = result.table("public.profiles")
    assert (profiles["lost"], profiles["applied"], profiles["still_missing"]) == (2, 1, 1)
    (refused,) = profiles["rejected"]
    assert refused["key"] == {"id": profile_id(800)}
    assert "profiles_username_key" in refused["error"]
    assert failover.rows(
        failover.live, "SELECT username FROM profiles WHERE username IN ('taken', 'free') ORDER BY 1"
    ) == [
        ("free",),
        ("taken",),
    ]


@pytest.mark.parametrize(
    "timing", ["NOT DEFERRABLE", "DEFERRABLE INITIALLY DEFERRED", "DEFERRABLE INITIALLY IMMEDIATE"]
)
def test_lost_rows_whose_parent_is_gone_are_refused_one_by_one_whenever_their_foreign_key_is_checked(
    failover: Failover, reconcile, timing: str
):
    # A deferred key is checked at COMMIT: without care, one orphan aborts the whole batch.
    for dsn in (failover.old, failover.live):
        failover.run(
            dsn,
            "CREATE TABLE pantries (id int PRIMARY KEY); INSERT INTO pantries SELECT generate_series(1, 4);"
            "CREATE TABLE shelves (id int PRIMARY KEY, pantry_id int NOT NULL,"
            f" CONSTRAINT shelves_pantry_fkey FOREIGN KEY (pantry_id) REFERENCES pantries (id) {timing})",
        )
    # Pantries 2..4 were deleted on the live database after the failover; only pantry 1 is still there.
    failover.run(failover.live, "DELETE FROM pantries WHERE id > 1")
    failover.run(failover.old, "INSERT INTO shelves SELECT i, i FROM generate_series(1, 4) AS i")

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "shelves", "--apply", "--json")

    assert result.exit_code == 1, result.stdout + result.stderr
    shelves = result.table("public.shelves")
    assert (shelves["lost"], shelves["applied"], shelves["still_missing"]) == (4, 1, 3)
    assert sorted(r["key"]["id"] for r in shelves["rejected"]) == ["2", "3", "4"]
    assert all("shelves_pantry_fkey" in r["error"] for r in shelves["rejected"]), shelves["rejected"]
    assert failover.rows(failover.live, "SELECT id FROM shelves") == [(1,)]


@pytest.mark.parametrize("timing", ["NOT DEFERRABLE", "DEFERRABLE INITIALLY DEFERRED"])
def test_lost_children_staged_before_their_lost_parents_are_applied_when_their_batch_goes_row_by_row(
    failover: Failover, reconcile, timing: str
):
    # Replies to replies: a comment's parent is another comment, here staged after it. One refused
    # row (13: its text is taken) sends the batch to one savepoint per row, where each child's key
    # is checked before its parent is in: it is tried again once the parent is. Only what still
    # fails is reported (14, whose parent is the refused 13).
    for dsn in (failover.old, failover.live):
        failover.run(
            dsn,
            "CREATE TABLE comments (id int PRIMARY KEY, parent_id int, body text UNIQUE,"
            f" CONSTRAINT comments_parent_fkey FOREIGN KEY (parent_id) REFERENCES comments (id) {timing})",
        )
        failover.run(dsn, "INSERT INTO comments VALUES (1, NULL, 'first')")
    failover.run(failover.live, "INSERT INTO comments VALUES (3, 1, 'taken')")
    # One statement: children come before their parents in the table (and in the staging order).
    failover.run(
        failover.old,
        "INSERT INTO comments VALUES (9, 10, 'great-grandchild'), (10, 12, 'grandchild'), (11, 12, 'child'),"
        " (12, 1, 'reply'), (13, 1, 'taken'), (14, 13, 'reply to a refused comment')",
    )

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "comments", "--apply", "--json")

    assert result.exit_code == 1, result.stdout + result.stderr
    comments = result.table("public.comments")
    assert (comments["lost"], comments["applied"], comments["still_missing"]) == (6, 4, 2), comments
    refused = {r["key"]["id"]: r["error"] for r in comments["rejected"]}
    assert sorted(refused) == ["13", "14"], refused
    assert "comments_body_key" in refused["13"] and "comments_parent_fkey" in refused["14"], refused
    assert failover.rows(failover.live, "SELECT id FROM comments ORDER BY id") == [
        (1,),
        (3,),
        (9,),
        (10,),
        (11,),
        (12,),
    ]


def test_a_long_chain_staged_child_first_goes_in_once_its_head_is_in(failover: Failover, reconcile):
    # 200 replies, each to the next one staged: one row-by-row pass brings in the chain's head only;
    # the rest go in together (foreign keys are checked at the end of the statement), where one
    # link per pass would cost about 200^2/2 savepoints.
    for dsn in (failover.old, failover.live):
        failover.run(
            dsn,
            "CREATE TABLE comments (id int PRIMARY KEY, parent_id int REFERENCES comments (id), body text UNIQUE)",
        )
        failover.run(dsn, "INSERT INTO comments VALUES (1, NULL, 'first')")
    failover.run(failover.live, "INSERT INTO comments VALUES (2, 1, 'taken')")
    failover.run(
        failover.old,
        "INSERT INTO comments SELECT i, CASE WHEN i = 300 THEN 1 ELSE i + 1 END, 'reply ' || i"
        " FROM generate_series(101, 300) AS i;"
        "INSERT INTO comments VALUES (3, 1, 'taken')",
    )

    result = reconcile("--from", failover.old, "--to", failover.live, "--tables", "comments", "--apply", "--json")

    comments = result.table("public.comments")
    assert (comments["lost"], comments["applied"], comments["still_missing"]) == (201, 200, 1), comments
    assert [r["key"]["id"] for r in comments["rejected"]] == ["3"], comments["rejected"]
    assert failover.rows(failover.live, "SELECT count(*) FROM comments") == [(202,)]
