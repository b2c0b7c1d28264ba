"""Issue 24, item 7: a backup restored into a new Supabase project (region failover), on real PostgreSQL.

The source and the target are both given the shape of a Supabase project (`ops.backup.supabase_shape`):
platform schemas and tables owned by platform roles, an event trigger, the `supabase_realtime`
publication; the restore connects as the stand-in for Supabase's non-superuser `postgres`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from typing import Any

import psycopg
import pytest
import zstandard
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from ops import backup as backups
from ops.backup import RESTORE_ROLE, Layout, Location, TargetShape, parse_toc, shape_database

from .conftest import TEST_PART_SIZE, PgServer, all_keys, nothing_counts

# The application, created as Supabase's `postgres` would by its migrations: a profile per auth user
# (made by the application's trigger on auth.users), recipes pointing at storage objects, a schema of
# its own, grants to the API roles, row-level security, a table in the realtime publication.
APP_SQL = """
CREATE TABLE public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    username extensions.citext UNIQUE NOT NULL
);
CREATE TABLE public.recipes (
    id bigserial PRIMARY KEY,
    author uuid NOT NULL REFERENCES public.profiles (id),
    title text NOT NULL,
    image uuid REFERENCES storage.objects (id)
);
ALTER TABLE public.recipes ENABLE ROW LEVEL SECURITY;
CREATE POLICY "recipes are public" ON public.recipes FOR SELECT TO anon, authenticated USING (true);
GRANT SELECT ON public.recipes TO anon, authenticated;
GRANT ALL ON public.recipes TO service_role;
ALTER PUBLICATION supabase_realtime ADD TABLE public.recipes;
CREATE SCHEMA chat;
GRANT USAGE ON SCHEMA chat TO authenticated;
CREATE TABLE chat.messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender uuid NOT NULL REFERENCES auth.users (id),
    content text NOT NULL
);
CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$ BEGIN INSERT INTO public.profiles (id, username) VALUES (NEW.id, NEW.email); RETURN NEW; END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
"""

SEED_SQL = """
INSERT INTO auth.users (id, email, aud, role, created_at)
SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, 'cook' || i || '@example.com', 'authenticated',
       'authenticated', ('2026-11-0' || i || 'T12:00:00Z')::timestamptz
FROM generate_series(1, 5) AS i;
INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
SELECT id::text, id, jsonb_build_object('sub', id::text, 'email', email), 'email' FROM auth.users;
INSERT INTO storage.buckets (id, name, owner, public)
VALUES ('recipe-images', 'recipe-images', '00000000-0000-0000-0000-000000000001', true),
       ('avatars', 'avatars', NULL, false);
INSERT INTO storage.objects (bucket_id, name, owner, metadata)
SELECT 'recipe-images', 'recipes/' || i || '.webp', '00000000-0000-0000-0000-000000000001',
       jsonb_build_object('size', i * 1000)
FROM generate_series(1, 6) AS i;
INSERT INTO public.recipes (author, title, image)
SELECT ('00000000-0000-0000-0000-00000000000' || (1 + i % 5))::uuid, 'recipe ' || i,
       (SELECT id FROM storage.objects ORDER BY name OFFSET i % 6 LIMIT 1)
FROM generate_series(1, 20) AS i;
INSERT INTO chat.messages (sender, content)
SELECT ('00000000-0000-0000-0000-00000000000' || (1 + i % 5))::uuid, 'message ' || i FROM generate_series(1, 12) AS i;
"""

# What must come back, row for row: the application's tables and the auth/storage rows.
RESTORED_TABLES = (
    "public.profiles",
    "public.recipes",
    "chat.messages",
    "auth.users",
    "auth.identities",
    "storage.buckets",
    "storage.objects",
)

# The project's own objects and who owns them: the restore must leave all of it as it was.
PLATFORM_SQL = """
SELECT 'schema', nspname, pg_get_userbyid(nspowner) FROM pg_namespace
WHERE nspname IN ('auth', 'storage', 'extensions', 'realtime', 'graphql_public', 'supabase_functions',
                  'supabase_migrations')
UNION ALL
SELECT 'table', c.oid::regclass::text, pg_get_userbyid(c.relowner) FROM pg_class c
WHERE c.relnamespace IN ('auth'::regnamespace, 'storage'::regnamespace) AND c.relkind = 'r'
UNION ALL
SELECT 'event trigger', evtname, pg_get_userbyid(evtowner) || ' ' || evtenabled::text FROM pg_event_trigger
UNION ALL
SELECT 'publication', pubname, pg_get_userbyid(pubowner) FROM pg_publication
UNION ALL
SELECT 'migration', version, '' FROM auth.schema_migrations
UNION ALL
SELECT 'migration', name, hash FROM storage.migrations
UNION ALL
SELECT 'migration', version::text, '' FROM realtime.schema_migrations
ORDER BY 1, 2
"""


def rows(dsn: str, tables: tuple[str, ...] = RESTORED_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        out = {
            t: conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(*t.split(".")))).fetchall()
            for t in tables
        }
        out["sequences"] = conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE schemaname IN ('public', 'chat')"
            " ORDER BY 1, 2"
        ).fetchall()
    return out


def platform(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(PLATFORM_SQL).fetchall()


def supabase_database(
    pg_server: PgServer, *, extensions: tuple[str, ...] = ("citext",), schema: str = "extensions"
) -> tuple[str, str]:
    """A new database with a new Supabase project's shape and `extensions` enabled in `schema` (as the
    dashboard does, as the superuser): (superuser DSN, DSN of the role shaped like Supabase's `postgres`)."""
    name = pg_server.create_database()
    role_dsn = shape_database(pg_server.dsn(), name)
    with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
        for extension in extensions:
            conn.execute(
                sql.SQL("CREATE EXTENSION {} WITH SCHEMA {}").format(sql.Identifier(extension), sql.Identifier(schema))
            )
    return pg_server.dsn(name), role_dsn


def project_with(pg_server: PgServer, platform_sql: str = "", app_sql: str = APP_SQL, **shape: Any) -> str:
    """A Supabase project whose platform got `platform_sql` (as the superuser: a GoTrue or Storage
    version's own tables and triggers) before the application and its users; returns its superuser DSN."""
    admin_dsn, role_dsn = supabase_database(pg_server, **shape)
    if platform_sql:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(platform_sql)
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        conn.execute(app_sql)
        conn.execute(SEED_SQL)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return admin_dsn


@pytest.fixture
def supabase_source(pg_server: PgServer) -> str:
    """A Supabase project with the application and its users; returns its superuser DSN."""
    admin_dsn, role_dsn = supabase_database(pg_server)
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        conn.execute(APP_SQL)
        conn.execute(SEED_SQL)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # On Supabase `postgres` may create it through supautils' policy_grants; the stand-in has no supautils.
        conn.execute(
            'CREATE POLICY "cooks read recipe images" ON storage.objects FOR SELECT TO authenticated '
            "USING (bucket_id = 'recipe-images')"
        )
        conn.execute("ANALYZE")
    return admin_dsn


@pytest.fixture
def supabase_target(pg_server: PgServer) -> tuple[str, str]:
    return supabase_database(pg_server)


def as_postgres(dsn: str) -> str:
    """The same database as the stand-in for Supabase's `postgres` (the test server trusts loopback)."""
    return pg_conninfo.make_conninfo(dsn, user=RESTORE_ROLE)


def restore(cli: Any, bucket: str, role_dsn: str, scratch: Any, *flags: str) -> Any:
    return cli(
        "restore",
        "db",
        "--bucket",
        bucket,
        "--target-url",
        role_dsn,
        "--target-shape",
        "supabase",
        "--scratch-dir",
        str(scratch),
        *flags,
    )


def backup(source: str, bucket: str, layout: str) -> str:
    # As Supabase's `postgres`, as production does (databaseUrl): it may not read the platform's
    # migration tables (supabase/postgres 20250421084701), which the backup leaves out.
    return backups.backup_database(
        as_postgres(source), Location(bucket), layout=Layout(layout), part_size=TEST_PART_SIZE
    ).backup_id


def manifest_of(s3: Any, bucket: str, backup_id: str) -> dict[str, Any]:
    key = Location(bucket).manifest_key(backups.Kind.DB, backup_id)
    document: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


MIGRATION_TABLES_LEFT_OUT = [
    {
        "table": "auth.schema_migrations",
        "reason": f"platform table {RESTORE_ROLE} may not read (lacks SELECT on table auth.schema_migrations)",
    },
    {
        "table": "realtime.schema_migrations",
        "reason": f"platform table {RESTORE_ROLE} may not read (lacks SELECT on table realtime.schema_migrations)",
    },
    {
        "table": "storage.migrations",
        "reason": f"platform table {RESTORE_ROLE} may not read (lacks SELECT on table storage.migrations)",
    },
]


@pytest.mark.parametrize("layout", ["directory", "stream"])
def test_a_backup_as_supabases_postgres_leaves_out_the_platform_tables_it_may_not_read_and_says_so(
    layout: str, supabase_source: str, s3: Any, bucket: str, cli: Any
) -> None:
    made = cli(
        "backup", "db", "--bucket", bucket, "--database-url", as_postgres(supabase_source), "--layout", layout, "--json"
    )

    assert made.exit_code == 0, made.stdout + made.stderr
    report = json.loads(made.stdout)
    assert report["excluded_tables"] == MIGRATION_TABLES_LEFT_OUT
    manifest = manifest_of(s3, bucket, report["backup_id"])
    assert manifest["dump"]["excluded_tables"] == MIGRATION_TABLES_LEFT_OUT
    counts = {f"{t['schema']}.{t['name']}": t["exact_row_count"] for t in manifest["tables"]}
    assert not {e["table"] for e in MIGRATION_TABLES_LEFT_OUT} & set(counts), counts
    assert counts["auth.users"] == 5 and counts["storage.objects"] == 6 and counts["public.recipes"] == 20, counts
    listed = cli("backup", "list", "--bucket", bucket, "--kind", "db")
    left_out = "auth.schema_migrations, realtime.schema_migrations, storage.migrations"
    assert f"left out: {left_out}" in listed.stdout, listed.stdout
    listed_json = json.loads(cli("backup", "list", "--bucket", bucket, "--kind", "db", "--json").stdout)
    assert listed_json["backups"][0]["excluded_tables"] == MIGRATION_TABLES_LEFT_OUT
    verified = cli("backup", "verify", "--bucket", bucket, "--max-age", "1h")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert f"left out of the dump: {left_out}" in verified.stdout, verified.stdout
    verified_json = json.loads(cli("backup", "verify", "--bucket", bucket, "--max-age", "1h", "--json").stdout)
    assert verified_json["excluded_tables"] == MIGRATION_TABLES_LEFT_OUT


def archive_toc(s3: Any, bucket: str, object_key: str, bindir: str) -> str:
    """`pg_restore --list` of a single-stream backup."""
    body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    with tempfile.NamedTemporaryFile(suffix=".custom") as archive:
        archive.write(zstandard.ZstdDecompressor().decompressobj().decompress(body))
        archive.flush()
        listed = subprocess.run(
            [f"{bindir}/pg_restore", "--list", archive.name], capture_output=True, text=True, check=False
        )
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_what_the_application_needs_and_supabases_postgres_may_not_read_fails_the_backup_by_name_before_the_dump(
    supabase_source: str, s3: Any, bucket: str, cli: Any
) -> None:
    with psycopg.connect(supabase_source, autocommit=True) as conn:
        # Objects the application needs that another role made: a table, a sequence it may only use
        # (pg_dump reads a sequence's value: SELECT), a schema it may not enter; and auth rows the
        # restore brings back.
        conn.execute(
            sql.SQL(
                "CREATE TABLE public.audit_log (id int); ALTER TABLE public.audit_log OWNER TO supabase_admin;"
                "CREATE SEQUENCE public.invoice_numbers; ALTER SEQUENCE public.invoice_numbers OWNER TO supabase_admin;"
                "GRANT USAGE ON SEQUENCE public.invoice_numbers TO {role};"
                "CREATE SCHEMA billing AUTHORIZATION supabase_admin; CREATE TABLE billing.invoices (id int);"
                "GRANT SELECT ON billing.invoices TO {role};"
                "REVOKE SELECT ON auth.identities FROM {role}"
            ).format(role=sql.Identifier(RESTORE_ROLE))
        )

    # A password in the URL (the test server trusts loopback and ignores it) must never be printed.
    url = pg_conninfo.make_conninfo(as_postgres(supabase_source), password="never-printed-8d1f")
    result = cli("backup", "db", "--bucket", bucket, "--database-url", url, "--json")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "never-printed-8d1f" not in result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error.startswith(f"refusing to back up {RESTORE_ROLE}@127.0.0.1:"), error
    for named in (
        "auth.identities (table: lacks SELECT on table auth.identities)",
        "billing.invoices (table: lacks USAGE on schema billing)",
        "public.audit_log (table: lacks SELECT on table public.audit_log)",
        "public.invoice_numbers (sequence: lacks SELECT on sequence public.invoice_numbers)",
        "nothing was dumped",
    ):
        assert named in error, error
    assert "schema_migrations" not in error and "storage.migrations" not in error, "those are left out, not refused"
    assert all_keys(s3, bucket) == [], "no dump object, no manifest"
    nothing_counts(s3, bucket)
    human = cli("backup", "db", "--bucket", bucket, "--database-url", url)
    assert human.exit_code == 1 and "public.audit_log (table: lacks SELECT" in human.stderr, human.stderr
    assert "never-printed-8d1f" not in human.stdout + human.stderr
    assert "Traceback" not in human.stderr


def test_a_platform_table_whose_name_holds_a_dot_a_quote_and_an_asterisk_is_left_out_exactly(
    supabase_source: str, pg_server: PgServer, s3: Any, bucket: str
) -> None:
    odd = 'sub.scription*"s'
    # Each sibling is matched by a pattern that lets a dot, an asterisk or case folding through.
    siblings = ('sub.scriptionXYZ"s', 'sub.scription*"s_archive', 'SUB.SCRIPTION*"S', "sub", "scription*")
    with psycopg.connect(supabase_source, autocommit=True) as conn:
        # In realtime, a platform schema `postgres` may enter.
        for name in (odd, *siblings):
            table = sql.Identifier("realtime", name)
            conn.execute(sql.SQL("CREATE TABLE {} (id int); INSERT INTO {} VALUES (1)").format(table, table))
            if name != odd:
                conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, sql.Identifier(RESTORE_ROLE)))

    made = backups.backup_database(
        as_postgres(supabase_source), Location(bucket), layout=Layout.STREAM, part_size=TEST_PART_SIZE
    )

    assert [e["table"] for e in made.excluded_tables] == [
        "auth.schema_migrations",
        "realtime.schema_migrations",
        f"realtime.{odd}",
        "storage.migrations",
    ]
    assert made.object_key is not None
    entries = parse_toc(archive_toc(s3, bucket, made.object_key, pg_server.bindir))
    dumped = sorted(e.tag for e in entries if e.kind == "TABLE DATA" and e.schema == "realtime")
    assert dumped == sorted(siblings), "only the unreadable tables are left out"
    counts = {t["name"]: t["exact_row_count"] for t in manifest_of(s3, bucket, made.backup_id)["tables"]}
    assert odd not in counts and all(counts[name] == 1 for name in siblings), counts


def test_the_old_full_restore_with_clean_stops_at_the_first_platform_object_and_is_now_refused(
    supabase_source: str, supabase_target: tuple[str, str], pg_server: PgServer, s3: Any, bucket: str, cli: Any
) -> None:
    made = backups.backup_database(
        as_postgres(supabase_source), Location(bucket), layout=Layout.STREAM, part_size=TEST_PART_SIZE
    )
    admin_dsn, role_dsn = supabase_target
    before = platform(admin_dsn)
    assert made.object_key is not None
    body = s3.get_object(Bucket=bucket, Key=made.object_key)["Body"].read()
    with tempfile.NamedTemporaryFile(suffix=".custom") as archive:
        archive.write(zstandard.ZstdDecompressor().decompressobj().decompress(body))
        archive.flush()
        # The flags `restore db --clean` ran before this change, as Supabase's `postgres`.
        old = subprocess.run(
            [
                f"{pg_server.bindir}/pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--no-password",
                f"--dbname={role_dsn}",
                "--clean",
                "--if-exists",
                archive.name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert old.returncode == 1, old.stderr
    assert "must be owner of event trigger pgrst_ddl_watch" in old.stderr, old.stderr

    refused = cli("restore", "db", "--bucket", bucket, "--target-url", role_dsn, "--clean")

    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "looks like a Supabase project" in refused.stderr and "--target-shape supabase" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert platform(admin_dsn) == before
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.recipes'), count(*) FROM auth.users").fetchone() == (None, 0)


@pytest.mark.parametrize("layout", ["directory", "stream"])
def test_restore_into_a_new_supabase_project_brings_back_the_application_and_its_auth_and_storage_rows(
    layout: str, supabase_source: str, supabase_target: tuple[str, str], s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    backup_id = backup(supabase_source, bucket, layout)
    admin_dsn, role_dsn = supabase_target
    before = platform(admin_dsn)

    result = restore(cli, bucket, role_dsn, tmp_path, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["backup_id"], report["layout"], report["target_shape"]) == (backup_id, layout, "supabase")
    assert rows(admin_dsn) == rows(supabase_source)
    # Parents first: the project's foreign keys are live while its auth and storage rows load.
    assert report["supabase"]["platform_tables"] == [
        "auth.users",
        "auth.identities",
        "storage.buckets",
        "storage.objects",
    ]
    assert platform(admin_dsn) == before, "the project's own schemas, owners, event trigger and migrations stay"
    # The stand-in has no supautils: the policy pass reports it, and writes its SQL to paste.
    [sql_file] = tmp_path.glob("chefchatz-supabase-policies-*.sql")
    assert report["warnings"] == [
        "not restored: policy 'cooks read recipe images' on storage.objects: ERROR:  must be owner of table "
        f"objects; its SQL, to run in the new project: {sql_file}"
    ]
    assert report["supabase"]["policies_sql"] == str(sql_file)
    assert 'CREATE POLICY "cooks read recipe images" ON storage.objects' in sql_file.read_text()
    assert not [line for line in sql_file.read_text().splitlines() if line.startswith("\\")], "no psql meta-commands"
    skipped = report["supabase"]["skipped"]
    assert skipped["event trigger (superuser only)"] == 1, skipped
    assert "platform migration history" not in skipped, "the backup left the migration tables out already"
    with psycopg.connect(admin_dsn) as conn:
        # The application's objects on and beside the platform's, owned by the restoring role.
        assert conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass AND NOT tgisinternal"
        ).fetchall() == [("on_auth_user_created",)]
        assert conn.execute("SELECT schemaname, tablename FROM pg_publication_tables").fetchall() == [
            ("public", "recipes")
        ]
        assert conn.execute("SELECT policyname FROM pg_policies WHERE tablename = 'recipes'").fetchall() == [
            ("recipes are public",)
        ]
        assert conn.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'recipes' AND grantee IN ('anon', 'authenticated') ORDER BY 1"
        ).fetchall() == [("anon", "SELECT"), ("authenticated", "SELECT")]
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace IN "
            "('public'::regnamespace, 'chat'::regnamespace)"
        ).fetchall()
        assert owners == [(RESTORE_ROLE,)]
    # The application's trigger came after the rows: a new sign-up still gets its profile.
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO auth.users (id, email) VALUES ('00000000-0000-0000-0000-000000000009', 'new@example.com')"
        )
        assert conn.execute("SELECT count(*) FROM public.profiles").fetchone() == (6,)


@pytest.mark.parametrize("layout", ["directory", "stream"])
def test_a_project_whose_application_schema_holds_tables_is_refused_with_exit_2_before_anything_is_written(
    layout: str, supabase_source: str, supabase_target: tuple[str, str], s3: Any, bucket: str, cli: Any
) -> None:
    backup(supabase_source, bucket, layout)
    admin_dsn, role_dsn = supabase_target
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.leftover (id int)")
    before = platform(admin_dsn)

    result = cli("restore", "db", "--bucket", bucket, "--target-url", role_dsn, "--target-shape", "supabase")

    assert result.exit_code == 2, result.stdout + result.stderr
    assert "public.leftover" in result.stderr and "nothing was written" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.recipes'), count(*) FROM auth.users").fetchone() == (None, 0)
    assert platform(admin_dsn) == before


def test_an_extension_the_project_has_not_enabled_is_refused_by_name_before_anything_is_written(
    supabase_source: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any
) -> None:
    backup(supabase_source, bucket, "directory")
    admin_dsn, role_dsn = supabase_database(pg_server, extensions=())

    result = cli("restore", "db", "--bucket", bucket, "--target-url", role_dsn, "--target-shape", "supabase", "--json")

    assert result.exit_code == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert "extension citext is not enabled in the target" in error and "nothing was written" in error, error
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.recipes'), count(*) FROM auth.users").fetchone() == (None, 0)


def test_a_damaged_single_stream_backup_is_refused_before_the_project_is_touched(
    supabase_source: str, supabase_target: tuple[str, str], s3: Any, bucket: str, cli: Any
) -> None:
    made = backups.backup_database(
        as_postgres(supabase_source), Location(bucket), layout=Layout.STREAM, part_size=TEST_PART_SIZE
    )
    assert made.object_key is not None
    data = bytearray(s3.get_object(Bucket=bucket, Key=made.object_key)["Body"].read())
    data[len(data) // 2] ^= 0x10
    s3.put_object(Bucket=bucket, Key=made.object_key, Body=bytes(data))
    admin_dsn, role_dsn = supabase_target
    before = platform(admin_dsn)

    result = cli("restore", "db", "--bucket", bucket, "--target-url", role_dsn, "--target-shape", "supabase")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"{made.object_key} is corrupt" in result.stderr and made.sha256 in result.stderr, result.stderr
    assert platform(admin_dsn) == before
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.recipes'), count(*) FROM auth.users").fetchone() == (None, 0)


def test_an_error_during_the_restore_fails_it_with_exit_1_naming_the_archive_entry(
    supabase_source: str, supabase_target: tuple[str, str], s3: Any, bucket: str, cli: Any
) -> None:
    backup(supabase_source, bucket, "directory")
    admin_dsn, role_dsn = supabase_target
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # A project on a newer Storage version: a column the old rows cannot fill.
        conn.execute("ALTER TABLE storage.objects ADD COLUMN version text NOT NULL")

    result = cli("restore", "db", "--bucket", bucket, "--target-url", role_dsn, "--target-shape", "supabase")

    assert result.exit_code == 1, result.stdout + result.stderr
    first = result.stderr.splitlines()[0]
    assert "loading the auth and storage rows" in first and "TABLE DATA storage objects" in first, first
    assert 'null value in column "version"' in first, first
    assert "password" not in result.stderr.lower()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--target-shape", "cloud"], "invalid --target-shape 'cloud'"),
        (["--target-shape", "supabase", "--clean"], "--clean cannot be combined with --target-shape supabase"),
    ],
)
def test_bad_target_shape_flags_exit_2_naming_the_flag(
    flags: list[str], named: str, empty_db: str, aws: str, bucket: str, cli: Any
) -> None:
    result = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, *flags)

    assert result.exit_code == 2 and named in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_drill_with_the_supabase_shape_restores_as_the_non_superuser_postgres_and_reports_it(
    supabase_source: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    backup(supabase_source, bucket, "directory")
    scratch = pg_server.dsn("chefchatz_drill_supabase")

    result = cli(
        "drill",
        "--scratch-dir",
        str(tmp_path),
        "--bucket",
        bucket,
        "--scratch-url",
        scratch,
        "--target-shape",
        "supabase",
        "--extension",
        "citext",
        "--json",
    )

    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] is True, result.stdout + result.stderr
    assert report["target_shape"] == "supabase" and report["restore"]["target_shape"] == "supabase"
    assert report["restore"]["target"].startswith(f"{RESTORE_ROLE}@127.0.0.1:")
    checked = {t["table"]: (t["status"], t["restored"]) for t in report["tables"]}
    assert checked == {
        "auth.identities": ("ok", 5),
        "auth.users": ("ok", 5),
        "chat.messages": ("ok", 12),
        "public.profiles": ("ok", 5),
        "public.recipes": ("ok", 20),
        "storage.buckets": ("ok", 2),
        "storage.objects": ("ok", 6),
    }, "the platform's migration tables are the project's own, not the backup's"
    assert any("cooks read recipe images" in w for w in report["warnings"]), report["warnings"]
    assert rows(scratch) == rows(supabase_source)


def test_the_restore_role_is_shaped_like_the_migration_rehearsal_role() -> None:
    from ops.migrate import role

    assert backups.RESTORE_ROLE_ATTRIBUTES == role.ROLE_ATTRIBUTES
    assert TargetShape("supabase") is TargetShape.SUPABASE


# Issue 24 item 7, the review's findings (tests/backup/test_toc.py holds the decisions by tables).

# A production project runs a fuller GoTrue than the stand-in's hand-written tables: more columns, more
# tables, empty ones among them (pg_dump writes a TABLE DATA entry for each).
GOTRUE_SQL = """
ALTER TABLE auth.users ADD COLUMN email_confirmed_at timestamptz;
CREATE TABLE auth.refresh_tokens (
    id bigserial PRIMARY KEY, token varchar(255), user_id varchar(255), revoked bool, created_at timestamptz
);
CREATE TABLE auth.audit_log_entries (instance_id uuid, id uuid PRIMARY KEY, payload json);
CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2');
CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE, aal auth.aal_level
);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
ALTER TABLE auth.refresh_tokens OWNER TO supabase_auth_admin;
ALTER TABLE auth.audit_log_entries OWNER TO supabase_auth_admin;
ALTER TABLE auth.sessions OWNER TO supabase_auth_admin;
ALTER TYPE auth.aal_level OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
GRANT ALL ON auth.refresh_tokens, auth.audit_log_entries, auth.sessions, auth.refresh_tokens_id_seq TO restore_postgres;
-- Storage's own trigger (0010-add-trigger-to-auto-update-updated_at-column.sql).
CREATE FUNCTION storage.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
ALTER FUNCTION storage.update_updated_at_column() OWNER TO supabase_storage_admin;
CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects
FOR EACH ROW EXECUTE FUNCTION storage.update_updated_at_column();
"""
GOTRUE_ROWS_SQL = """
UPDATE auth.users SET email_confirmed_at = created_at;
INSERT INTO auth.refresh_tokens (token, user_id) SELECT 't' || i, 'u' FROM generate_series(1, 7) AS i;
INSERT INTO auth.sessions (id, user_id, aal) SELECT gen_random_uuid(), id, 'aal1' FROM auth.users;
"""


def test_the_drill_builds_the_platform_tables_from_the_backup_so_a_fuller_gotrue_drills_green(
    pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    source = project_with(pg_server, GOTRUE_SQL)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(GOTRUE_ROWS_SQL)
    backup(source, bucket, "directory")
    # Into the hand-written stand-in it is refused, naming the tables with rows only.
    _, role_dsn = supabase_database(pg_server)
    refused = restore(cli, bucket, role_dsn, tmp_path)
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "the dump has table auth.refresh_tokens (7 rows), which the target lacks" in refused.stderr
    assert "the dump has table auth.sessions (5 rows), which the target lacks" in refused.stderr
    assert "audit_log_entries" not in refused.stderr, "an empty table is nothing to load"
    scratch = pg_server.dsn("chefchatz_drill_gotrue")
    stack = f"drill-{bucket[-8:]}"

    result = cli(
        "drill",
        "--bucket",
        bucket,
        "--scratch-url",
        scratch,
        "--scratch-dir",
        str(tmp_path),
        "--target-shape",
        "supabase",
        "--extension",
        "citext",
        "--stack",
        stack,
        "--json",
    )

    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] is True, result.stdout + result.stderr
    checked = {t["table"]: (t["status"], t["restored"]) for t in report["tables"]}
    assert checked["auth.refresh_tokens"] == ("ok", 7) and checked["auth.audit_log_entries"] == ("ok", 0), checked
    assert checked["auth.sessions"] == ("ok", 5) and checked["auth.users"] == ("ok", 5), checked
    assert drill_metrics(stack) == [1.0]
    assert report["restore"]["prepare_seconds"] >= 0
    tables = ("auth.users", "auth.refresh_tokens", "auth.sessions", "public.profiles", "storage.objects")
    assert rows(scratch, tables) == rows(source, tables)
    with psycopg.connect(scratch) as conn:
        # The stand-in as Supabase has it: the platform's roles own its objects, the restoring role may
        # not create in auth, not read the migration history, and is no member of the owners.
        assert conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'auth'::regnamespace"
        ).fetchall() == [("supabase_auth_admin",)]
        assert conn.execute("SELECT pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'aal_level'").fetchone() == (
            "supabase_auth_admin",
        )
        assert conn.execute(
            "SELECT has_schema_privilege(%(r)s, 'auth', 'CREATE'), has_table_privilege(%(r)s, 'auth.schema_migrations',"
            " 'SELECT'), pg_has_role(%(r)s, 'supabase_auth_admin', 'MEMBER'), has_table_privilege(%(r)s,"
            " 'auth.refresh_tokens', 'INSERT')",
            {"r": RESTORE_ROLE},
        ).fetchone() == (False, False, False, True)
        assert conn.execute("SELECT count(*) FROM auth.schema_migrations").fetchone() == (3,)
        assert conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'storage.objects'::regclass AND NOT tgisinternal"
        ).fetchall() == [("update_objects_updated_at",)], "the platform's trigger is the stand-in's, not restored"


def drill_metrics(stack: str) -> list[float]:
    from .test_drill import drill_metrics as metrics

    return metrics(stack)["RestoreDrillSucceeded"]


def test_a_target_the_restore_refuses_is_a_failed_drill_published_as_such(
    supabase_source: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    backup(supabase_source, bucket, "directory")
    stack = f"drill-{bucket[-8:]}"
    args = ["--bucket", bucket, "--scratch-url", pg_server.dsn("chefchatz_drill_refused"), "--stack", stack]

    result = cli("drill", *args, "--scratch-dir", str(tmp_path), "--target-shape", "supabase")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "FAILED: restore refused: refusing to restore into" in result.stderr
    assert "enable citext in schema extensions first" in result.stderr and "--extension citext" in result.stderr
    assert drill_metrics(stack) == [0.0]
    bad = cli("drill", *args, "--target-shape", "supabase", "--extension", "citext:")
    assert bad.exit_code == 2 and "invalid --extension 'citext:'" in bad.stderr, bad.stderr


# Storage 0044-prefix-ref-counting.sql made these; 0052-drop-not-used-indexes-and-functions.sql drops them.
OLD_STORAGE_SQL = """
CREATE FUNCTION storage.objects_set_level() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
ALTER FUNCTION storage.objects_set_level() OWNER TO supabase_storage_admin;
CREATE TRIGGER objects_insert_set_level BEFORE INSERT ON storage.objects
FOR EACH ROW EXECUTE FUNCTION storage.objects_set_level();
CREATE INDEX idx_objects_bucket_id_name ON storage.objects (bucket_id, name COLLATE "C");
CREATE INDEX objects_owner_old ON storage.objects (owner);
"""


def test_a_platform_trigger_of_the_old_storage_version_is_left_out_by_its_function_not_restored(
    pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    backup(project_with(pg_server, OLD_STORAGE_SQL), bucket, "directory")
    admin_dsn, role_dsn = supabase_database(pg_server)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX objects_owner_idx ON storage.objects (owner)")  # the same index, renamed

    result = restore(cli, bucket, role_dsn, tmp_path, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert [w for w in warnings if "index" in w] == [
        "not restored: index storage.idx_objects_bucket_id_name "
        '(ON storage.objects USING btree (bucket_id, name COLLATE "C")): the target has no index with this '
        "definition; if the application made it, re-create it in the new project"
    ]
    assert not [w for w in warnings if "objects_insert_set_level" in w], warnings
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'storage.objects'::regclass AND NOT tgisinternal"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM storage.objects").fetchone() == (6,)


# Storage 0026 to 0045: an AFTER INSERT trigger on storage.objects keeps folder rows in storage.prefixes.
PREFIXES_SQL = """
CREATE TABLE storage.prefixes (
    bucket_id text REFERENCES storage.buckets (id), name text, PRIMARY KEY (bucket_id, name)
);
ALTER TABLE storage.prefixes OWNER TO supabase_storage_admin;
GRANT ALL ON storage.prefixes TO restore_postgres;
CREATE FUNCTION storage.add_prefix() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF position('/' in NEW.name) > 0 THEN
    INSERT INTO storage.prefixes VALUES (NEW.bucket_id, regexp_replace(NEW.name, '/[^/]+$', '')) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NEW;
END $$;
ALTER FUNCTION storage.add_prefix() OWNER TO supabase_storage_admin;
CREATE TRIGGER objects_insert_prefix AFTER INSERT ON storage.objects FOR EACH ROW EXECUTE FUNCTION storage.add_prefix();
"""


def test_auth_and_storage_rows_load_with_the_platforms_triggers_off_as_supabase_loads_them(
    pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    source = project_with(pg_server, PREFIXES_SQL)
    backup(source, bucket, "stream")
    admin_dsn, role_dsn = supabase_database(pg_server)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(PREFIXES_SQL)

    result = restore(cli, bucket, role_dsn, tmp_path, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["supabase"]["platform_tables"] == [
        "auth.users",
        "auth.identities",
        "storage.buckets",
        "storage.objects",
        "storage.prefixes",
    ]
    tables = ("auth.users", "storage.objects", "storage.prefixes", "public.profiles")
    assert rows(admin_dsn, tables) == rows(source, tables)
    # The application's own trigger on auth.users came after the rows (pass 3): it fires for new users.
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        assert conn.execute("SHOW session_replication_role").fetchone() == ("origin",)
        conn.execute("INSERT INTO auth.users (id, email) VALUES ('00000000-0000-0000-0000-000000000009', 'n@x.org')")
        assert conn.execute("SELECT count(*) FROM public.profiles").fetchone() == (6,)


def test_an_extension_in_another_schema_than_the_dumps_is_refused_saying_where_to_enable_it(
    pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    source = project_with(pg_server, app_sql=APP_SQL.replace("extensions.citext", "public.citext"), schema="public")
    backup(source, bucket, "directory")
    admin_dsn, role_dsn = supabase_database(pg_server)  # the dashboard's default: schema extensions

    result = restore(cli, bucket, role_dsn, tmp_path)

    assert result.exit_code == 2, result.stdout + result.stderr
    assert "extension citext is enabled in schema extensions in the target but in schema public" in result.stderr
    assert "enable citext in schema public (a drill: --extension citext:public)" in result.stderr
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.recipes'), count(*) FROM auth.users").fetchone() == (None, 0)
    drilled = cli(
        "drill",
        "--bucket",
        bucket,
        "--scratch-url",
        pg_server.dsn("chefchatz_drill_public_citext"),
        "--scratch-dir",
        str(tmp_path),
        "--target-shape",
        "supabase",
        "--extension",
        "citext:public",
    )
    assert drilled.exit_code == 0, drilled.stdout + drilled.stderr


def test_policies_on_policy_grants_tables_are_created_when_the_project_allows_and_reported_when_not(
    supabase_source: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    with psycopg.connect(supabase_source, autocommit=True) as conn:
        conn.execute('CREATE POLICY "public buckets are listed" ON storage.buckets FOR SELECT TO anon USING (public)')
    backup(supabase_source, bucket, "directory")
    admin_dsn, role_dsn = supabase_database(pg_server)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        # What supautils' policy_grants gives `postgres` on Supabase, for this one table.
        conn.execute(f"ALTER TABLE storage.buckets OWNER TO {RESTORE_ROLE}")

    result = restore(cli, bucket, role_dsn, tmp_path, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["supabase"]["policies"] == ["policy 'public buckets are listed' on storage.buckets"]
    assert [w.split(";")[0] for w in report["warnings"]] == [
        "not restored: policy 'cooks read recipe images' on storage.objects: ERROR:  must be owner of table objects"
    ]
    with open(report["supabase"]["policies_sql"]) as fh:
        sql_text = fh.read()
    assert "cooks read recipe images" in sql_text and "public buckets are listed" not in sql_text
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("SELECT policyname FROM pg_policies WHERE schemaname = 'storage'").fetchall() == [
            ("public buckets are listed",)
        ]


def test_superuser_only_entries_and_internal_schema_rows_are_named_not_restored_and_the_rest_restores(
    pg_server: PgServer, s3: Any, bucket: str, cli: Any, tmp_path: Any
) -> None:
    source = project_with(pg_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA timescaledb_reports; CREATE TABLE timescaledb_reports.daily (d date PRIMARY KEY, n int);"
            "INSERT INTO timescaledb_reports.daily VALUES ('2026-01-01', 3);"
            # The application's migrations create it as Supabase's postgres, which the backup runs as.
            "ALTER SCHEMA timescaledb_reports OWNER TO restore_postgres;"
            "ALTER TABLE timescaledb_reports.daily OWNER TO restore_postgres;"
            "ALTER PUBLICATION supabase_realtime ADD TABLES IN SCHEMA chat"
        )
    backup(source, bucket, "directory")
    admin_dsn, role_dsn = supabase_database(pg_server)

    result = restore(cli, bucket, role_dsn, tmp_path, "--json")

    assert result.exit_code == 0, result.stdout + result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert (
        "not restored: publication supabase_realtime: TABLES IN SCHEMA chat takes a superuser: add the schema's "
        "tables one by one in the new project (ALTER PUBLICATION supabase_realtime ADD TABLE …)"
    ) in warnings
    assert any(
        w.startswith("not restored: rows of schema timescaledb_reports") and "daily (1 row)" in w for w in warnings
    )
    assert rows(admin_dsn) == rows(source)
