"""Which archive entries a restore into a new Supabase project takes: the decision as a pure function, by tables."""

from __future__ import annotations

import pytest

from ops import backup as backups
from ops.backup import BackupError, TargetFacts, TocEntry, parse_toc, plan_supabase_restore
from ops.backup.toc import fk_order

# A new project's database as the restoring role (`postgres`) sees it.
NEW_PROJECT = TargetFacts(
    role="postgres",
    schemas=frozenset({"public", "auth", "storage", "extensions", "realtime", "pg_catalog"}),
    extensions=frozenset({"plpgsql", "pgcrypto", "uuid-ossp"}),
    member_of=frozenset({"anon", "authenticated", "service_role"}),
    platform_tables=frozenset(
        {"auth.users", "auth.identities", "auth.schema_migrations", "storage.buckets", "storage.objects"}
    ),
    filled_tables=frozenset({"auth.schema_migrations"}),
    platform_sequences=frozenset({"auth.refresh_tokens_id_seq"}),
    triggers=frozenset({("storage", "objects", "update_objects_updated_at")}),
    policies=frozenset(),
    indexes=frozenset({("storage", "name_prefix_search")}),
    foreign_keys=frozenset(
        {
            ("auth.identities", "auth.users"),
            ("storage.objects", "storage.buckets"),
            ("storage.objects", "auth.users"),
            ("storage.buckets", "auth.users"),
        }
    ),
)


def test_parse_toc_reads_kinds_with_spaces_tags_with_spaces_and_empty_owners() -> None:
    # pg_restore prints an entry without owner with a trailing space.
    listing = "\n".join(
        [
            ";",
            "; Archive created at 2026-12-06 06:25:43 UTC",
            ";",
            "4; 3079 17215 EXTENSION - citext ",
            "3586; 0 0 COMMENT - EXTENSION citext ",
            "3568; 0 17145 TABLE DATA auth identities supabase_auth_admin",
            "3563; 3256 17353 POLICY public recipes recipes are public postgres",
            "3566; 6106 17354 PUBLICATION TABLE public supabase_realtime recipes postgres",
            "3373; 3466 17213 EVENT TRIGGER - pgrst_ddl_watch supabase_admin",
            "3600; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES supabase_admin",
        ]
    )
    assert [(e.dump_id, e.kind, e.schema, e.tag, e.owner) for e in parse_toc(listing)] == [
        (4, "EXTENSION", None, "citext", ""),
        (3586, "COMMENT", None, "EXTENSION citext", ""),
        (3568, "TABLE DATA", "auth", "identities", "supabase_auth_admin"),
        (3563, "POLICY", "public", "recipes recipes are public", "postgres"),
        (3566, "PUBLICATION TABLE", "public", "supabase_realtime recipes", "postgres"),
        (3373, "EVENT TRIGGER", None, "pgrst_ddl_watch", "supabase_admin"),
        (3600, "DEFAULT ACL", "public", "DEFAULT PRIVILEGES FOR TABLES", "supabase_admin"),
    ]


def test_an_entry_of_a_kind_the_tool_does_not_know_is_an_error_not_a_guess() -> None:
    with pytest.raises(BackupError, match="cannot read: '12; 0 0 TIME MACHINE - tardis postgres'"):
        parse_toc("12; 0 0 TIME MACHINE - tardis postgres\n")


def entry(line: str) -> TocEntry:
    [parsed] = parse_toc(line + "\n")
    return parsed


# (archive entry, what a restore into NEW_PROJECT does with it)
CASES = [
    # The application's own schemas: restored whole.
    ("230; 1259 17320 TABLE public profiles postgres", "app"),
    ("3573; 0 17320 TABLE DATA public profiles postgres", "app"),
    ("3592; 0 0 ACL public TABLE recipes postgres", "app"),
    ("3584; 0 0 ACL - SCHEMA public pg_database_owner", "app"),
    ("3415; 2606 17329 FK CONSTRAINT public profiles profiles_id_fkey postgres", "app"),
    ("3563; 3256 17353 POLICY public recipes recipes are public postgres", "app"),
    ("18; 2615 17400 SCHEMA - chat postgres", "app"),
    ("3601; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES postgres", "app"),
    ("3602; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR FUNCTIONS service_role", "app"),
    ("3566; 6106 17354 PUBLICATION TABLE public supabase_realtime recipes postgres", "app"),
    ("3567; 6104 17360 PUBLICATION - app_changes postgres", "app"),
    # The project's own objects: left alone.
    ("14; 2615 17081 SCHEMA - auth supabase_admin", "skipped: platform schema"),
    ("3582; 0 0 ACL - SCHEMA auth supabase_admin", "skipped: platform schema"),
    ("224; 1259 17136 TABLE auth users supabase_auth_admin", "skipped: platform object"),
    ("3590; 0 0 ACL auth TABLE users supabase_auth_admin", "skipped: platform object"),
    ("286; 1255 17212 FUNCTION extensions pgrst_ddl_watch() supabase_admin", "skipped: platform object"),
    ("3373; 3466 17213 EVENT TRIGGER - pgrst_ddl_watch supabase_admin", "skipped: event trigger (superuser only)"),
    ("3565; 6104 17214 PUBLICATION - supabase_realtime postgres", "skipped: platform publication"),
    (
        "3570; 6104 17215 PUBLICATION - supabase_realtime_messages_publication supabase_admin",
        "skipped: platform publication",
    ),
    ("3587; 0 0 COMMENT - EXTENSION pgcrypto ", "skipped: extension comment"),
    ("2; 3079 17088 EXTENSION - pgcrypto ", "skipped: extension enabled in the target"),
    (
        "3600; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES supabase_admin",
        "skipped: default privileges of another role",
    ),
    ("3580; 0 17500 TABLE DATA realtime subscription supabase_admin", "skipped: platform object"),
    ("3581; 0 17501 TABLE DATA vault secrets supabase_admin", "skipped: platform object"),
    ("3569; 0 17160 TABLE DATA auth schema_migrations supabase_auth_admin", "skipped: platform migration history"),
    ("3572; 0 17205 TABLE DATA storage migrations supabase_storage_admin", "skipped: platform migration history"),
    (
        "3419; 2620 17357 TRIGGER storage objects update_objects_updated_at supabase_storage_admin",
        "skipped: platform object",
    ),
    ("3420; 1259 17358 INDEX storage name_prefix_search supabase_storage_admin", "skipped: platform object"),
    (
        "3597; 0 0 SEQUENCE SET auth mfa_challenges_id_seq supabase_auth_admin",
        "skipped: platform sequence the target lacks",
    ),
    # The auth and storage rows, and what the application put on those tables.
    ("3567; 0 17136 TABLE DATA auth users supabase_auth_admin", "platform data"),
    ("3571; 0 17182 TABLE DATA storage objects supabase_storage_admin", "platform data"),
    ("3598; 0 0 SEQUENCE SET auth refresh_tokens_id_seq supabase_auth_admin", "platform data"),
    ("3418; 2620 17356 TRIGGER auth users on_auth_user_created supabase_auth_admin", "app"),
    ("3564; 3256 17357 POLICY storage objects cooks read images supabase_storage_admin", "not restored"),
    ("3421; 1259 17359 INDEX storage objects_owner_idx supabase_storage_admin", "not restored"),
    # Refused: the target is not the new project this restore is for.
    ("4; 3079 17215 EXTENSION - citext ", "refused: extension citext is not enabled in the target"),
    ("8; 2615 17084 SCHEMA - public postgres", "app"),
    (
        "3579; 0 17600 TABLE DATA supabase_functions hooks supabase_functions_admin",
        "refused: the dump holds rows of supabase_functions.hooks, which the target lacks",
    ),
]


def outcome(plan: backups.SupabasePlan, item: TocEntry) -> str:
    if plan.refusals:
        return f"refused: {plan.refusals[0]}"
    if item in plan.app:
        return "app"
    if item in plan.platform_data:
        return "platform data"
    reason = next(r for e, r in plan.skipped if e == item)
    return "not restored" if plan.not_restored else f"skipped: {reason}"


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0].split("; ", 1)[1][:60] for c in CASES])
def test_a_new_project_gets_the_application_and_the_auth_and_storage_rows_only(line: str, expected: str) -> None:
    item = entry(line)
    got = outcome(plan_supabase_restore([item], NEW_PROJECT), item)
    assert got.startswith(expected), f"{line}: {got}"


def test_schema_public_exists_in_every_project_so_only_another_existing_schema_is_refused() -> None:
    existing = TargetFacts(**{**NEW_PROJECT.__dict__, "schemas": NEW_PROJECT.schemas | {"chat"}})
    plan = plan_supabase_restore([entry("18; 2615 17400 SCHEMA - chat postgres")], existing)
    assert plan.refusals == ["schema chat exists already in the target"]


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        (
            TargetFacts(**{**NEW_PROJECT.__dict__, "app_tables": ("public.leftover", "public.b", "public.c", "x.d")}),
            "its application schemas hold 4 tables (e.g. public.leftover, public.b, public.c)",
        ),
        (
            TargetFacts(**{**NEW_PROJECT.__dict__, "schemas": frozenset({"public"})}),
            "it has no auth and storage schemas: not a Supabase project",
        ),
        (
            TargetFacts(**{**NEW_PROJECT.__dict__, "filled_tables": frozenset({"auth.users"})}),
            "auth.users holds rows already in the target",
        ),
    ],
)
def test_a_target_that_is_not_a_new_project_is_refused_by_name(facts: TargetFacts, refusal: str) -> None:
    plan = plan_supabase_restore([entry("3567; 0 17136 TABLE DATA auth users supabase_auth_admin")], facts)
    assert any(r.startswith(refusal) for r in plan.refusals), plan.refusals


def test_auth_and_storage_rows_load_parents_first_whatever_the_archive_order() -> None:
    archive = [
        entry("3568; 0 17145 TABLE DATA auth identities supabase_auth_admin"),
        entry("3567; 0 17136 TABLE DATA auth users supabase_auth_admin"),
        entry("3571; 0 17182 TABLE DATA storage objects supabase_storage_admin"),
        entry("3570; 0 17165 TABLE DATA storage buckets supabase_storage_admin"),
        entry("3598; 0 0 SEQUENCE SET auth refresh_tokens_id_seq supabase_auth_admin"),
    ]
    plan = plan_supabase_restore(archive, NEW_PROJECT)
    assert [f"{e.schema}.{e.tag}" for e in plan.platform_data] == [
        "auth.users",
        "auth.identities",
        "storage.buckets",
        "storage.objects",
        "auth.refresh_tokens_id_seq",
    ]


@pytest.mark.parametrize(
    ("tables", "keys", "order"),
    [
        (["b", "a"], [], ["a", "b"]),
        (["child", "parent"], [("child", "parent")], ["parent", "child"]),
        (["c", "b", "a"], [("a", "b"), ("b", "c")], ["c", "b", "a"]),
        (["a", "b"], [("a", "b"), ("b", "a")], ["a", "b"]),  # a cycle keeps name order
        (["a"], [("a", "a")], ["a"]),  # a self-reference is no dependency
        (["a", "b"], [("a", "elsewhere")], ["a", "b"]),  # a parent not loaded is no dependency
    ],
)
def test_fk_order_puts_parents_first(tables: list[str], keys: list[tuple[str, str]], order: list[str]) -> None:
    assert fk_order(tables, keys) == order


@pytest.mark.parametrize(
    ("schema", "table", "kept"),
    [
        ("public", "recipes", True),
        ("chat", "messages", True),
        ("auth", "users", True),
        ("storage", "objects", True),
        ("auth", "schema_migrations", False),
        ("storage", "migrations", False),
        ("realtime", "subscription", False),
        ("vault", "secrets", False),
        ("timescaledb_information", "x", False),
        ("pg_temp_3", "x", False),
    ],
)
def test_keeps_table_says_which_rows_a_supabase_restore_loads(schema: str, table: str, kept: bool) -> None:
    assert backups.keeps_table(schema, table) is kept


def test_failed_entry_names_the_entry_and_the_error_pg_restore_stopped_at() -> None:
    stderr = (
        'pg_restore: creating SCHEMA "auth"\n'
        "pg_restore: while PROCESSING TOC:\n"
        "pg_restore: from TOC entry 14; 2615 17081 SCHEMA auth supabase_admin\n"
        'pg_restore: error: could not execute query: ERROR:  schema "auth" already exists\n'
        "Command was: CREATE SCHEMA auth;\n"
    )
    assert backups.failed_entry(stderr) == (
        'TOC entry 14; 2615 17081 SCHEMA auth supabase_admin: ERROR:  schema "auth" already exists'
    )
    assert backups.failed_entry("pg_restore: error: connection to server failed\n") is None
