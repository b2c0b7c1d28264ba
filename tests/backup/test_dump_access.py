"""What a backup does with the relations pg_dump would read that its role may not (`ops.backup.access`):
table tests of the decision and the pg_dump patterns, then the catalog reading on real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo

from ops.backup import Unreadable, exclude_pattern, plan_dump_access, read_unreadable


def unreadable(qualified: str, kind: str = "table") -> Unreadable:
    schema, name = qualified.split(".", 1)
    return Unreadable(schema, name, kind, (f"SELECT on {kind} {qualified}",))


@pytest.mark.parametrize(
    ("relation", "left_out"),
    [
        # supabase/postgres 20250421084701: the platform's migration history, which a new project has its own of.
        ("auth.schema_migrations", True),
        ("storage.migrations", True),
        ("realtime.schema_migrations", True),
        ("supabase_functions.migrations", True),
        # Platform state no restore loads (toc.INTERNAL_SCHEMAS, wildcards included).
        ("vault.secrets", True),
        ("cron.job", True),
        ("_timescaledb_internal.chunk", True),
        ("pgsodium.key", True),
        # Rows a restore into a new project brings back: leaving them out would lose users and files.
        ("auth.users", False),
        ("storage.objects", False),
        ("supabase_functions.hooks", False),
        # The application's own.
        ("public.recipes", False),
        ("chat.messages", False),
        ("authz.roles", False),  # not `auth`: a schema is matched whole
    ],
)
def test_only_platform_tables_whose_rows_no_restore_loads_are_left_out_the_rest_is_refused(
    relation: str, left_out: bool
) -> None:
    access = plan_dump_access("postgres", [unreadable(relation)])

    assert [u.qualified for u in access.excluded] == ([relation] if left_out else []), relation
    assert [u.qualified for u in access.refused] == ([] if left_out else [relation]), relation


def test_the_manifest_entry_and_the_refusal_name_the_role_and_what_it_lacks() -> None:
    access = plan_dump_access(
        "postgres",
        [
            unreadable("storage.migrations"),
            Unreadable("billing", "invoices", "table", ("USAGE on schema billing", "SELECT on table billing.invoices")),
            unreadable("public.invoice_numbers", "sequence"),
            unreadable("auth.schema_migrations"),
        ],
    )

    assert access.excluded_tables() == [
        {
            "table": "auth.schema_migrations",
            "reason": "platform table postgres may not read (lacks SELECT on table auth.schema_migrations)",
        },
        {
            "table": "storage.migrations",
            "reason": "platform table postgres may not read (lacks SELECT on table storage.migrations)",
        },
    ]
    assert access.exclude_args() == [
        '--exclude-table="auth"."schema_migrations"',
        '--exclude-table="storage"."migrations"',
    ]
    assert access.refusal("postgres@db:5432/postgres") == (
        "refusing to back up postgres@db:5432/postgres: role postgres may not read 2 relation(s) that pg_dump "
        "reads and a restore needs: billing.invoices (table: lacks USAGE on schema billing, SELECT on table "
        "billing.invoices); public.invoice_numbers (sequence: lacks SELECT on sequence public.invoice_numbers). "
        "Grant them to postgres, or back up as a role that may read them (nothing was dumped)"
    )


def test_a_role_that_may_read_everything_leaves_nothing_out_and_refuses_nothing() -> None:
    access = plan_dump_access("postgres", [])

    assert (access.excluded_tables(), access.exclude_args(), access.refusal("x")) == ([], [], None)


@pytest.mark.parametrize(
    ("schema", "name", "pattern"),
    [
        ("auth", "schema_migrations", '"auth"."schema_migrations"'),
        # Unquoted, a dot separates names, `*` and `?` are wildcards, upper case is folded: all literal here.
        ("realtime", "sub.scription*s", '"realtime"."sub.scription*s"'),
        ("realtime", "Who?", '"realtime"."Who?"'),
        ("realtime", 'say "hi"', '"realtime"."say ""hi"""'),
        ('odd"schema', "t", '"odd""schema"."t"'),
        ("realtime", "a$b[0-9]+(x|y)", '"realtime"."a$b[0-9]+(x|y)"'),
    ],
)
def test_an_exclude_pattern_matches_exactly_one_relation_whatever_its_name(
    schema: str, name: str, pattern: str
) -> None:
    assert exclude_pattern(schema, name) == pattern


# ------------------------------------------------------------------------------------------------
# The catalog, read as a role that is no superuser


@pytest.fixture
def reader(source_db: str) -> str:
    """The seeded database as a role that may read all of it: returns its DSN."""
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'backup_reader') THEN "
            "CREATE ROLE backup_reader LOGIN; END IF; END $$;"
            "GRANT USAGE ON SCHEMA public, chat TO backup_reader;"
            "GRANT SELECT ON ALL TABLES IN SCHEMA public, chat TO backup_reader;"
            "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, chat TO backup_reader"
        )
    return pg_conninfo.make_conninfo(source_db, user="backup_reader")


def test_a_role_granted_what_it_reads_is_refused_nothing(reader: str) -> None:
    with psycopg.connect(reader) as conn:
        access = read_unreadable(conn)

    assert (access.role, access.excluded, access.refused) == ("backup_reader", (), ())


def test_extension_members_are_not_read_except_configuration_tables_whose_rows_pg_dump_copies(
    reader: str, source_db: str
) -> None:
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute(
            "CREATE EXTENSION IF NOT EXISTS citext;"
            "CREATE TABLE public.ext_state (id int); ALTER EXTENSION citext ADD TABLE public.ext_state;"
            "CREATE TABLE public.ext_config (id int); ALTER EXTENSION citext ADD TABLE public.ext_config;"
            "REVOKE ALL ON public.ext_state, public.ext_config FROM backup_reader"
        )
        # What pg_extension_config_dump() records; only an extension's own script may call it.
        conn.execute(
            "UPDATE pg_extension SET extconfig = ARRAY['public.ext_config'::regclass::oid], extcondition = ARRAY['']"
            " WHERE extname = 'citext'"
        )

    with psycopg.connect(reader) as conn:
        access = read_unreadable(conn)

    assert [u.qualified for u in access.refused] == ["public.ext_config"]
    assert access.excluded == ()
