"""Which archive entries a restore into a new Supabase project takes: the decision as a pure function, by tables."""

from __future__ import annotations

import pytest

from ops import backup as backups
from ops.backup import ArchiveFacts, BackupError, TargetFacts, TocEntry, parse_toc, plan_supabase_restore
from ops.backup.supabase_plan import fk_order

# A new project's database as the restoring role (`postgres`) sees it.
NEW_PROJECT = TargetFacts(
    role="postgres",
    schemas=frozenset({"public", "auth", "storage", "extensions", "realtime", "pg_catalog"}),
    extensions={"plpgsql": "pg_catalog", "pgcrypto": "extensions", "uuid-ossp": "extensions"},
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
    ("3564; 3256 17357 POLICY storage objects cooks read images supabase_storage_admin", "policy pass"),
    ("3565; 3256 17358 POLICY auth mfa_factors own factors supabase_auth_admin", "not restored"),
    ("3566; 3256 17359 POLICY realtime messages listen to rooms supabase_realtime_admin", "policy pass"),
    ("3421; 1259 17359 INDEX storage objects_owner_idx supabase_storage_admin", "not restored"),
    # Refused: the target is not the new project this restore is for.
    ("4; 3079 17215 EXTENSION - citext ", "refused: extension citext is not enabled in the target"),
    ("8; 2615 17084 SCHEMA - public postgres", "app"),
    (
        "3579; 0 17600 TABLE DATA supabase_functions hooks supabase_functions_admin",
        "refused: the dump has table supabase_functions.hooks (rows unknown: not in the manifest), which the "
        "target lacks",
    ),
]


def outcome(plan: backups.SupabasePlan, item: TocEntry) -> str:
    if plan.refusals:
        return f"refused: {plan.refusals[0]}"
    if item in plan.app:
        return "app"
    if item in plan.platform_data:
        return "platform data"
    if item in plan.policies:
        return "policy pass"
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


def test_parse_toc_reads_a_schema_whose_name_holds_a_space_by_the_schemas_the_archive_creates() -> None:
    entries = parse_toc(
        "20; 2615 17500 SCHEMA - storage archive postgres\n"
        "230; 1259 17501 TABLE storage archive old objects postgres\n"
        "3580; 0 17501 TABLE DATA storage archive old objects postgres\n"
        "3581; 0 17182 TABLE DATA storage objects supabase_storage_admin\n"
    )
    assert [(e.kind, e.schema, e.tag) for e in entries] == [
        ("SCHEMA", None, "storage archive"),
        ("TABLE", "storage archive", "old objects"),
        ("TABLE DATA", "storage archive", "old objects"),
        ("TABLE DATA", "storage", "objects"),
    ]
    plan = plan_supabase_restore(entries[:3], NEW_PROJECT)
    assert plan.app == entries[:3], "an application schema, not the platform's storage"


# Issue 24 item 7, finding 1: pg_dump writes a TABLE DATA entry for every table, empty ones too.
@pytest.mark.parametrize(
    ("line", "counts", "expected"),
    [
        (
            "3590; 0 17600 TABLE DATA auth audit_log_entries supabase_auth_admin",
            {("auth", "audit_log_entries"): 0},
            "skipped: platform table empty at backup time",
        ),
        (
            "3590; 0 17600 TABLE DATA auth audit_log_entries supabase_auth_admin",
            {("auth", "audit_log_entries"): 3},
            "refused: the dump has table auth.audit_log_entries (3 rows), which the target lacks",
        ),
        (
            "3590; 0 17600 TABLE DATA auth audit_log_entries supabase_auth_admin",
            {("auth", "audit_log_entries"): None},
            "refused: the dump has table auth.audit_log_entries (not counted at backup time), which the target lacks",
        ),
        (
            "3567; 0 17136 TABLE DATA auth users supabase_auth_admin",
            {("auth", "users"): 0},
            "skipped: platform table empty at backup time",
        ),
        ("3567; 0 17136 TABLE DATA auth users supabase_auth_admin", {("auth", "users"): 5}, "platform data"),
        # Storage 0052 dropped storage.prefixes (folder rows derived from object names): a project on
        # a newer Storage has no such table, and its rows are left out, named, not the restore refused.
        (
            "3591; 0 17601 TABLE DATA storage prefixes supabase_storage_admin",
            {("storage", "prefixes"): 4},
            "not restored",
        ),
    ],
)
def test_platform_tables_empty_at_backup_time_are_not_loaded_and_refusals_say_how_many_rows(
    line: str, counts: dict[tuple[str, str], int | None], expected: str
) -> None:
    item = entry(line)
    assert outcome(plan_supabase_restore([item], NEW_PROJECT, ArchiveFacts(row_counts=counts)), item) == expected


# Finding 2: who made a trigger or an index on a platform table, from its rendered SQL.
@pytest.mark.parametrize(
    ("line", "rendered", "expected"),
    [
        (
            "3429; 2620 16633 TRIGGER storage objects objects_insert_set_level supabase_storage_admin",
            "CREATE TRIGGER objects_insert_set_level BEFORE INSERT ON storage.objects FOR EACH ROW "
            "EXECUTE FUNCTION storage.objects_set_level();",
            "skipped: platform object",
        ),
        (
            "3428; 2620 16684 TRIGGER auth users on_auth_user_created supabase_auth_admin",
            "CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users FOR EACH ROW "
            "EXECUTE FUNCTION public.handle_new_user();",
            "app",
        ),
        (
            "3430; 2620 16685 TRIGGER auth users handle_updated_at supabase_auth_admin",
            "CREATE TRIGGER handle_updated_at BEFORE UPDATE ON auth.users FOR EACH ROW "
            "EXECUTE PROCEDURE extensions.moddatetime('updated_at');",
            "app",
        ),
        (
            "3431; 2620 16686 TRIGGER auth users new user webhook supabase_auth_admin",
            'CREATE TRIGGER "new user webhook" AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION '
            "supabase_functions.http_request('https://example.com', 'POST', '{}', '{}', '1000');",
            "app",
        ),
        (
            "3432; 1259 16700 INDEX storage bucketid_objname supabase_storage_admin",
            "CREATE UNIQUE INDEX bucketid_objname ON storage.objects USING btree (bucket_id, name);",
            "not restored",
        ),
        (
            "3433; 1259 16701 INDEX storage objects_name_idx supabase_storage_admin",
            "CREATE INDEX objects_name_idx ON storage.objects USING btree (name);",
            "skipped: platform object",
        ),
    ],
)
def test_a_trigger_or_index_on_a_platform_table_is_the_platforms_by_its_function_or_definition(
    line: str, rendered: str, expected: str
) -> None:
    item = entry(line)
    target = TargetFacts(
        **{
            **NEW_PROJECT.__dict__,
            "index_definitions": frozenset({"ON storage.objects USING btree (name)"}),
        }
    )
    assert backups.entries_to_render([item], target) == [item]
    plan = plan_supabase_restore([item], target, ArchiveFacts(sql={item.dump_id: f"-- TOC entry\n\n{rendered}\n"}))
    assert outcome(plan, item) == expected, plan
    if expected == "not restored":
        assert plan.not_restored == [
            "index storage.bucketid_objname (UNIQUE ON storage.objects USING btree (bucket_id, name)): the target "
            "has no index with this definition; if the application made it, re-create it in the new project"
        ]


def test_an_index_definition_reads_the_same_from_pg_dump_and_pg_indexes() -> None:
    dumped = 'CREATE INDEX "name prefix" ON storage.objects USING btree (name COLLATE "C" text_pattern_ops);\n'
    catalog = 'CREATE INDEX name_prefix_search ON storage.objects USING btree (name COLLATE "C" text_pattern_ops)'
    assert backups.index_definition(dumped) == backups.index_definition(catalog)
    assert backups.index_definition(dumped) == 'ON storage.objects USING btree (name COLLATE "C" text_pattern_ops)'


# Finding 4: an extension's schema is compared, and the refusal says where to enable it.
@pytest.mark.parametrize(
    ("enabled", "rendered", "refusal"),
    [
        (
            {"citext": "extensions"},
            "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;",
            "extension citext is enabled in schema extensions in the target but in schema public in the dump "
            "(the application's objects name public.…): disable it and enable citext in schema public "
            "(a drill: --extension citext:public)",
        ),
        (
            {},
            "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;",
            "extension citext is not enabled in the target: enable citext in schema public first "
            "(Database → Extensions; a drill: --extension citext:public)",
        ),
        (
            {},
            "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions;",
            "extension citext is not enabled in the target: enable citext in schema extensions first "
            "(Database → Extensions; a drill: --extension citext)",
        ),
        ({"citext": "extensions"}, "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions;", None),
        ({"citext": "public"}, 'CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA "public";', None),
    ],
)
def test_an_extension_is_accepted_only_in_the_schema_the_dump_has_it_in(
    enabled: dict[str, str], rendered: str, refusal: str | None
) -> None:
    item = entry("4; 3079 16527 EXTENSION - citext ")
    target = TargetFacts(**{**NEW_PROJECT.__dict__, "extensions": {**NEW_PROJECT.extensions, **enabled}})
    plan = plan_supabase_restore([item], target, ArchiveFacts(sql={4: rendered}))
    assert plan.refusals == ([refusal] if refusal else []), plan.refusals


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("citext", ("citext", "extensions")),
        ("citext:public", ("citext", "public")),
        ("uuid-ossp", ("uuid-ossp", "extensions")),
    ],
)
def test_drill_extension_is_name_or_name_colon_schema(value: str, parsed: tuple[str, str]) -> None:
    assert backups.parse_extension(value) == parsed


@pytest.mark.parametrize("value", ["", ":public", "citext:", "citext:public:x"])
def test_a_bad_drill_extension_is_a_usage_error_naming_it(value: str) -> None:
    with pytest.raises(backups.UsageError, match="invalid --extension"):
        backups.parse_extension(value)


# Findings 6 and 7: what needs a superuser is reported, and so are rows in internal schemas.
def test_superuser_only_entries_are_reported_not_restored() -> None:
    schema_publication = entry("3590; 6106 17400 PUBLICATION TABLES IN SCHEMA chat supabase_realtime chat postgres")
    wrapper_acl = entry("3591; 0 0 ACL - FOREIGN DATA WRAPPER postgres_fdw supabase_admin")
    plan = plan_supabase_restore([schema_publication, wrapper_acl], NEW_PROJECT)
    assert plan.app == [] and not plan.refusals
    assert plan.skipped_counts() == {
        "foreign data wrapper privileges": 1,
        "publication of a whole schema (superuser only)": 1,
    }
    assert plan.not_restored == [
        "publication supabase_realtime: TABLES IN SCHEMA chat takes a superuser: add the schema's tables one by one "
        "in the new project (ALTER PUBLICATION supabase_realtime ADD TABLE …)",
        "privileges on foreign data wrapper postgres_fdw: re-grant them in the new project if the application "
        "granted any (the platform's own grant to postgres is there)",
    ]


def test_rows_in_an_internal_schema_are_named_as_not_restored() -> None:
    counts: dict[tuple[str, str], int | None] = {
        ("timescaledb_reports", "daily"): 3,
        ("timescaledb_reports", "empty"): 0,
        ("realtime", "messages"): None,
        ("auth", "schema_migrations"): 60,
        ("auth", "users"): 5,
        ("public", "recipes"): 20,
    }
    plan = plan_supabase_restore([], NEW_PROJECT, ArchiveFacts(row_counts=counts))
    assert plan.not_restored == [
        "rows of schema realtime, a Supabase internal schema by name (supabase/cli dump.go InternalSchemas): "
        "messages (not counted at backup time); move the application's own data out of it, or re-create it in "
        "the new project",
        "rows of schema timescaledb_reports, a Supabase internal schema by name (supabase/cli dump.go "
        "InternalSchemas): daily (3 rows); move the application's own data out of it, or re-create it in the new "
        "project",
    ]
