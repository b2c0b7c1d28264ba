"""A stand-in for a new Supabase project's database: what a restore into one meets, on plain PostgreSQL.

The restore drill (`drill --target-shape supabase`) and the tests build it in a scratch database, so
the region-failover path (a dump restored into a *new* Supabase project) is exercised without a
Supabase project. Everything in it is taken from supabase/postgres, the image every project runs
(github.com/supabase/postgres, ``migrations/db``):

- platform roles, none a superuser here and none able to log in (nobody connects as them):
  ``supabase_admin`` owns the platform schemas, ``supabase_auth_admin``, ``supabase_storage_admin`` and
  ``supabase_functions_admin`` the `auth`, `storage` and `supabase_functions` objects (``PLATFORM_OWNERS``);
  ``anon``, ``authenticated``, ``service_role`` (``BYPASSRLS``) and ``authenticator`` are the API roles
  (``init-scripts/00000000000000-initial-schema.sql``, ``migrations/20211115181400_update-auth-permissions.sql``,
  ``migrations/20240822021428_enable_webhooks_by_default.sql``);
- the role the restore connects as, ``RESTORE_ROLE``: Supabase's `postgres` after
  ``migrations/10000000000000_demote-postgres.sql`` (``NOSUPERUSER CREATEDB CREATEROLE LOGIN
  REPLICATION BYPASSRLS``, the attributes `ops.migrate`'s rehearsal role has too), a member of
  ``anon``, ``authenticated`` and ``service_role`` with the admin option
  (``20230201083204_grant_auth_roles_to_postgres.sql``,
  ``20250605172253_grant_with_admin_to_postgres_16_and_above.sql``) and of ``supabase_functions_admin``
  (20240822021428). It owns the database and the ``supabase_realtime`` publication (the init scripts
  run as `postgres` before the demotion, ``migrate.sh``), has all privileges on the `auth` and
  `storage` tables, sequences and routines but not on their migration tables nor CREATE on those
  schemas (``20240319072844_lock_down_postgres_access_to_auth_and_storage.sql``,
  ``20250421084701_revoke_admin_roles_from_postgres.sql``), may enter `realtime` but not read
  ``realtime.schema_migrations`` (``init-scripts/00000000000003-realtime-schema.sql``, the same
  20250421084701), and is no member of the roles owning them.
  It may ``SET session_replication_role``: supautils lets Supabase's `postgres` set it
  (``ansible/files/postgresql_config/supautils.conf.j2``, ``privileged_role_allowed_configs``), which
  PostgreSQL 15's ``GRANT SET ON PARAMETER`` models here;
- schemas ``auth``, ``storage``, ``extensions`` (``pgcrypto`` and ``uuid-ossp`` in it), ``realtime``,
  ``graphql_public``, ``supabase_functions``, ``supabase_migrations``, owned by ``supabase_admin``;
- their tables, two ways. The tests' projects get hand-written ones: ``auth.users``,
  ``auth.identities``, ``auth.schema_migrations``, ``storage.buckets``, ``storage.objects`` (row-level
  security on) and ``storage.migrations``, with a subset of their columns
  (``init-scripts/00000000000001-auth-schema.sql``, ``00000000000002-storage-schema.sql``). The drill
  builds them from the backup it restores (`build_platform_from_archive`): every table, type,
  function, index, constraint and platform trigger of those schemas, at production's GoTrue and
  Storage version, as a new project on the same version has them; the migration tables hold rows;
- the event trigger ``pgrst_ddl_watch``, which fires on the restore's own DDL
  (``migrations/20220321174452_fix-postgrest-alter-type-event-trigger.sql``): owned by
  ``supabase_admin`` there, a superuser (``20250402065937_alter_internal_event_triggers_owner_to_supabase_admin.sql``),
  here by the scratch server's superuser, since an event trigger's owner must be one; and the empty
  publication ``supabase_realtime``.

What it does not reproduce: the rest of supautils (``policy_grants``, which lets `postgres` create
policies on some platform tables: the restore reports those it cannot create; ``privileged_extensions``;
the reserved roles), the platform's other extensions and schemas (pg_net, pg_cron, vault, pgsodium,
graphql), and the platform roles' attributes (``supabase_admin`` is a superuser there). Built from a
backup, the stand-in also has the indexes the application put on `auth`/`storage` tables (the dump
cannot tell them from the platform's), so the drill does not warn about those.

Roles are cluster-wide: `shape_database` creates the missing ones on the scratch server (the drill's
scratch server must be one the drill may change) and gives ``RESTORE_ROLE`` a new password each run,
sent already hashed so it never appears in the server's statement log.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from ops.backup.errors import BackupError, UsageError
from ops.backup.postgres import describe_dsn, redact, run_pg_restore, split_dsn
from ops.backup.supabase_plan import PLATFORM_FUNCTION_SCHEMAS, trigger_function_schema
from ops.backup.supabase_restore import list_entries, render_entries
from ops.backup.toc import DATA_SCHEMAS, EXCLUDED_DATA_TABLES

__all__ = [
    "PLATFORM_OWNERS",
    "PLATFORM_ROLES",
    "RESTORE_ROLE",
    "RESTORE_ROLE_ATTRIBUTES",
    "SHAPE_SCHEMAS",
    "build_platform_from_archive",
    "parse_extension",
    "shape_database",
]

# Not called `postgres`: the scratch server's own superuser usually is.
RESTORE_ROLE = "restore_postgres"
# Supabase's `postgres` after demote-postgres.sql; the same as ops.migrate's rehearsal role (a test pins it).
RESTORE_ROLE_ATTRIBUTES = "NOSUPERUSER INHERIT CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS"
RESTORE_ROLE_SEARCH_PATH = '"$user", public, extensions'

# (name, attributes). NOLOGIN everywhere: the stand-in needs owners and grantees, not logins.
PLATFORM_ROLES: tuple[tuple[str, str], ...] = (
    ("supabase_admin", "NOLOGIN NOINHERIT"),
    ("supabase_auth_admin", "NOLOGIN NOINHERIT"),
    ("supabase_storage_admin", "NOLOGIN NOINHERIT"),
    ("anon", "NOLOGIN NOINHERIT"),
    ("authenticated", "NOLOGIN NOINHERIT"),
    ("service_role", "NOLOGIN NOINHERIT BYPASSRLS"),
    ("authenticator", "NOLOGIN NOINHERIT"),
    ("supabase_functions_admin", "NOLOGIN NOINHERIT"),
)

SHAPE_SCHEMAS = (
    "auth",
    "storage",
    "extensions",
    "realtime",
    "graphql_public",
    "supabase_functions",
    "supabase_migrations",
)

# Run as the scratch server's superuser in the new database; {restore} is RESTORE_ROLE.
_SHAPE_SQL = """
GRANT anon, authenticated, service_role TO authenticator;
CREATE SCHEMA auth AUTHORIZATION supabase_admin;
CREATE SCHEMA storage AUTHORIZATION supabase_admin;
CREATE SCHEMA extensions AUTHORIZATION supabase_admin;
CREATE SCHEMA realtime AUTHORIZATION supabase_admin;
CREATE SCHEMA graphql_public AUTHORIZATION supabase_admin;
CREATE SCHEMA supabase_functions AUTHORIZATION supabase_admin;
CREATE SCHEMA supabase_migrations AUTHORIZATION supabase_admin;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO {restore}, anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

CREATE FUNCTION extensions.pgrst_ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF cmd.command_tag IN ('CREATE SCHEMA', 'ALTER SCHEMA', 'CREATE TABLE', 'ALTER TABLE', 'CREATE VIEW',
                           'ALTER VIEW', 'CREATE FUNCTION', 'ALTER FUNCTION', 'CREATE TRIGGER', 'CREATE TYPE',
                           'ALTER TYPE', 'CREATE RULE', 'COMMENT')
       AND cmd.schema_name IS DISTINCT FROM 'pg_temp' THEN
      NOTIFY pgrst, 'reload schema';
    END IF;
  END LOOP;
END $$;
ALTER FUNCTION extensions.pgrst_ddl_watch() OWNER TO supabase_admin;
CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end EXECUTE FUNCTION extensions.pgrst_ddl_watch();

GRANT USAGE ON SCHEMA realtime TO {restore}, anon, authenticated, service_role;
-- Realtime's Ecto migration history, unreadable to `postgres` (20250421084701).
CREATE TABLE realtime.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp(0));
INSERT INTO realtime.schema_migrations
VALUES (20211116024918, '2021-11-16 02:49:18'), (20211116045059, '2021-11-16 04:50:59');
ALTER TABLE realtime.schema_migrations OWNER TO supabase_admin;

CREATE PUBLICATION supabase_realtime;
ALTER PUBLICATION supabase_realtime OWNER TO {restore};
-- supautils lets `postgres` set it (supautils.conf.j2, privileged_role_allowed_configs); PostgreSQL 15
-- grants the same to a role: https://www.postgresql.org/docs/15/sql-grant.html, "SET ON PARAMETER".
GRANT SET ON PARAMETER session_replication_role TO {restore};
"""

# The hand-written platform tables (a subset of their columns): the tests' projects. The drill builds
# them from the backup instead (`build_platform_from_archive`).
_TABLES_SQL = """
CREATE TABLE auth.users (
    instance_id uuid,
    id uuid PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255) UNIQUE,
    encrypted_password varchar(255),
    raw_user_meta_data jsonb,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE auth.identities (
    id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
    provider_id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    created_at timestamptz,
    UNIQUE (provider_id, provider)
);
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
ALTER TABLE auth.schema_migrations OWNER TO supabase_auth_admin;

CREATE TABLE storage.buckets (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    owner uuid REFERENCES auth.users (id),
    public boolean DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
    bucket_id text REFERENCES storage.buckets (id),
    name text,
    owner uuid REFERENCES auth.users (id),
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    metadata jsonb,
    path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    UNIQUE (bucket_id, name)
);
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
ALTER TABLE storage.migrations OWNER TO supabase_storage_admin;
"""

# The platform's migration tables, with a new project's history, where they are missing: always for
# the hand-written tables (run before `_TABLES_SQL`, which gives them their owners), and for a
# backup taken as Supabase's `postgres`, which leaves them out (`ops.backup.access`).
_MIGRATION_TABLES_SQL = """
DO $$
BEGIN
  IF to_regclass('auth.schema_migrations') IS NULL THEN
    CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
    INSERT INTO auth.schema_migrations VALUES ('20171026211738'), ('20180103212743'), ('20240729123726');
  END IF;
  IF to_regclass('storage.migrations') IS NULL THEN
    CREATE TABLE storage.migrations (
      id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL, hash varchar(40) NOT NULL
    );
    INSERT INTO storage.migrations
    VALUES (0, 'create-migrations-table', 'e18db593'), (1, 'initialmigration', '6ab16121');
  END IF;
END $$;
"""

# Who owns each platform schema's objects on Supabase: 20211115181400_update-auth-permissions.sql,
# storage's own migrations (run as supabase_storage_admin), 20240822021428_enable_webhooks_by_default.sql.
PLATFORM_OWNERS = (
    ("auth", "supabase_auth_admin"),
    ("storage", "supabase_storage_admin"),
    ("supabase_functions", "supabase_functions_admin"),
)

# What Supabase grants on those objects, once they exist; run as the superuser.
_PLATFORM_GRANTS_SQL = """
GRANT ALL ON SCHEMA auth TO supabase_auth_admin;
GRANT ALL ON SCHEMA storage TO supabase_storage_admin;
GRANT ALL ON SCHEMA supabase_functions TO supabase_functions_admin;
-- 10000000000000_demote-postgres.sql and 20211115181400_update-auth-permissions.sql
GRANT USAGE ON SCHEMA auth TO {restore}, anon, authenticated, service_role;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO {restore};
GRANT ALL ON ALL TABLES IN SCHEMA storage TO {restore};
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO {restore};
GRANT ALL ON ALL SEQUENCES IN SCHEMA storage TO {restore};
GRANT ALL ON ALL ROUTINES IN SCHEMA auth TO {restore};
GRANT ALL ON ALL ROUTINES IN SCHEMA storage TO {restore};
-- 20250709135250_grant_storage_schema_to_postgres_with_grant_option.sql
GRANT USAGE ON SCHEMA storage TO {restore} WITH GRANT OPTION;
-- 20240822021428_enable_webhooks_by_default.sql
GRANT USAGE ON SCHEMA supabase_functions TO {restore}, anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA supabase_functions TO {restore}, anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA supabase_functions TO {restore}, anon, authenticated, service_role;
GRANT ALL ON ALL ROUTINES IN SCHEMA supabase_functions TO {restore}, anon, authenticated, service_role;
GRANT supabase_functions_admin TO {restore};
-- 20240319072844_lock_down_postgres_access_to_auth_and_storage.sql and
-- 20250421084701_revoke_admin_roles_from_postgres.sql: no CREATE on auth and storage, no membership in
-- their owners, nothing on their migration tables.
REVOKE CREATE ON SCHEMA auth, storage FROM {restore};
REVOKE supabase_auth_admin, supabase_storage_admin FROM {restore};
DO $$
BEGIN
  IF to_regclass('auth.schema_migrations') IS NOT NULL THEN
    REVOKE ALL ON auth.schema_migrations FROM {restore};
  END IF;
  IF to_regclass('storage.migrations') IS NOT NULL THEN
    REVOKE ALL ON storage.migrations FROM {restore}, anon, authenticated, service_role;
  END IF;
END $$;
"""


def _ensure_role(conn: psycopg.Connection[Any], name: str, attributes: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes}").format(sql.Identifier(name)))


def parse_extension(value: str) -> tuple[str, str]:
    """`drill --extension NAME[:SCHEMA]` -> (name, schema); the schema defaults to `extensions`, where the
    dashboard enables them."""
    name, _, schema = value.partition(":")
    if not name or ":" in schema or (not schema and value.endswith(":")):
        raise UsageError(f"invalid --extension {value!r}: expected NAME or NAME:SCHEMA, e.g. citext:public")
    return name, schema or "extensions"


def shape_database(
    superuser_url: str,
    database: str,
    extensions: tuple[tuple[str, str], ...] = (),
    *,
    platform_tables: bool = True,
) -> str:
    """Give the new, empty `database` the shape of a new Supabase project; return RESTORE_ROLE's DSN.

    Runs as the server's superuser (`superuser_url`, any database on the server), PostgreSQL 15 or newer
    (``GRANT SET ON PARAMETER``). The database must have been created just before (the drill recreates
    it): the schemas are created, not replaced. `extensions` ((name, schema) pairs) are then enabled, as
    the dashboard enables them in a new project before a restore
    (supabase.com/docs/guides/platform/migrating-within-supabase/backup-restore). Without
    `platform_tables` the `auth`/`storage` tables are left for `build_platform_from_archive`.
    """
    password = secrets.token_urlsafe(24)
    restore = sql.Identifier(RESTORE_ROLE)
    target = pg_conninfo.make_conninfo(superuser_url, dbname=database)
    try:
        with psycopg.connect(superuser_url, autocommit=True, connect_timeout=15) as conn:
            if conn.info.server_version < 150000:
                raise BackupError(
                    f"the Supabase stand-in needs PostgreSQL 15 or newer on {describe_dsn(superuser_url)} "
                    "(GRANT SET ON PARAMETER stands in for supautils)"
                )
            for name, attributes in PLATFORM_ROLES:
                _ensure_role(conn, name, attributes)
            _ensure_role(conn, RESTORE_ROLE, RESTORE_ROLE_ATTRIBUTES)
            conn.execute(sql.SQL("GRANT anon, authenticated, service_role TO {} WITH ADMIN OPTION").format(restore))
            hashed = conn.pgconn.encrypt_password(password.encode(), RESTORE_ROLE.encode()).decode()
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(restore, sql.Literal(hashed)))
            conn.execute(
                sql.SQL("ALTER ROLE {} SET search_path TO {}").format(restore, sql.SQL(RESTORE_ROLE_SEARCH_PATH))
            )
            # On Supabase `postgres` owns the database (migrate.sh: ALTER DATABASE postgres OWNER TO postgres).
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), restore))
        with psycopg.connect(target, autocommit=True, connect_timeout=15) as conn, conn.transaction():
            conn.execute(sql.SQL(_SHAPE_SQL).format(restore=restore))
            if platform_tables:
                conn.execute(_MIGRATION_TABLES_SQL)
                conn.execute(_TABLES_SQL)
                conn.execute(sql.SQL(_PLATFORM_GRANTS_SQL).format(restore=restore))
            for extension, schema in extensions:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
                        sql.Identifier(extension), sql.Identifier(schema)
                    )
                )
    except psycopg.Error as exc:
        raise BackupError(
            f"cannot give {describe_dsn(target)} the Supabase shape: {redact(str(exc), superuser_url).strip()}"
        ) from None
    return pg_conninfo.make_conninfo(target, user=RESTORE_ROLE, password=password)


# The objects of each platform schema and the statement giving one to its owner: tables first (their
# indexes and owned sequences follow them), then free-standing sequences, views, routines and types.
_OWNERSHIP_SQL = """
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
              c.oid::regclass, %(owner)s::text)
FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                       AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  AND NOT c.relispartition
ORDER BY c.relkind = 'S', c.relkind
"""
_ROUTINES_OWNERSHIP_SQL = """
SELECT format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %(owner)s::text)
FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace AND p.prokind IN ('f', 'p')
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype,
              %(owner)s::text)
FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = %(schema)s::regnamespace AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typrelid = 0 OR c.relkind = 'c') AND NOT EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)
"""


def build_platform_from_archive(
    superuser_url: str, database: str, pg_restore: str, archive: str, archive_format: str, workdir: str
) -> None:
    """Create the `auth`, `storage` and `supabase_functions` objects of the backup in the stand-in.

    A new project runs the platform's current GoTrue and Storage, whose tables a backup of production
    has too (pg_dump writes every one of them): the drill builds them from the archive itself, so the
    stand-in matches production's version rather than the hand-written subset. As the scratch server's
    superuser, `pg_restore --no-owner --no-acl` of those schemas' objects (not their policies or comments,
    the application's; not the triggers calling functions outside `auth`/`storage`, the application's
    too: `ops.backup.supabase_plan`), the rows of the migration tables (a new project's history;
    created with a history of their own when the backup left them out, as one taken as `postgres`
    does), then each schema's objects handed to its owner (``PLATFORM_OWNERS``) and Supabase's grants applied.
    """
    entries = list_entries(pg_restore, archive)
    triggers = [e for e in entries if e.schema in DATA_SCHEMAS and e.kind == "TRIGGER"]
    rendered = render_entries(pg_restore, archive, archive_format, triggers, workdir)
    platform_triggers = {
        e.dump_id for e in triggers if trigger_function_schema(rendered.get(e.dump_id, "")) in PLATFORM_FUNCTION_SCHEMAS
    }
    chosen = [
        e
        for e in entries
        if e.schema in DATA_SCHEMAS
        and (
            (e.kind == "TABLE DATA" and (e.schema, e.tag) in EXCLUDED_DATA_TABLES)
            or e.dump_id in platform_triggers
            or e.kind not in ("TABLE DATA", "SEQUENCE SET", "TRIGGER", "POLICY", "ACL", "DEFAULT ACL", "COMMENT")
        )
    ]
    listing = os.path.join(workdir, "stand-in.list")
    with open(listing, "w") as fh:
        fh.writelines(e.line + "\n" for e in chosen)
    target = pg_conninfo.make_conninfo(superuser_url, dbname=database)
    conninfo, password = split_dsn(target)
    run_pg_restore(
        [
            pg_restore,
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--format={archive_format}",
            f"--use-list={listing}",
            f"--dbname={conninfo}",
            archive,
        ],
        target,
        password,
        f"building the stand-in's platform tables from the backup in {describe_dsn(target)}",
    )
    try:
        with psycopg.connect(target, autocommit=True, connect_timeout=15) as conn, conn.transaction():
            conn.execute(_MIGRATION_TABLES_SQL)
            for schema, owner in PLATFORM_OWNERS:
                for query in (_OWNERSHIP_SQL, _ROUTINES_OWNERSHIP_SQL):
                    for (statement,) in conn.execute(query, {"schema": schema, "owner": owner}).fetchall():
                        conn.execute(statement)
            conn.execute(sql.SQL(_PLATFORM_GRANTS_SQL).format(restore=sql.Identifier(RESTORE_ROLE)))
    except psycopg.Error as exc:
        raise BackupError(
            f"cannot hand the stand-in's platform objects to their owners in {describe_dsn(target)}: "
            f"{redact(str(exc), superuser_url).strip()}"
        ) from None
