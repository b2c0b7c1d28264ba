"""The role the rehearsal migrates as: shaped like Supabase's `postgres`, which is not a superuser.

`supabase db push --db-url` connects as the project's `postgres` role. Supabase demotes it at
project creation: ``ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION
BYPASSRLS`` with ``search_path`` defaulting to ``"$user", public, extensions`` (github.com/supabase/postgres,
``migrations/db/migrations/10000000000000_demote-postgres.sql`` and
``migrations/db/init-scripts/00000000000003-post-setup.sql``), and documents what it cannot do
(supabase.com/docs/guides/database/postgres/roles-superuser: e.g. ``COPY ... FROM PROGRAM``,
``ALTER USER ... WITH SUPERUSER``). A rehearsal as the scratch server's superuser would pass
migrations that fail there.

The scratch server's own superuser is usually called `postgres`, so the rehearsal's role has a name
of its own, ``MIGRATION_ROLE``, created (or re-shaped) on every run. It gets what Supabase's
`postgres` has on the application's database: all privileges on the database and on schema
``public``, and the ownership of the application objects (a restore as the superuser makes the
superuser their owner; on Supabase `postgres` owns what its migrations created), and the role
memberships Supabase gives `postgres` (``SUPABASE_MEMBERSHIPS``) of those roles the scratch server has.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

MIGRATION_ROLE = "rehearsal_postgres"
ROLE_ATTRIBUTES = "NOSUPERUSER INHERIT CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS"
ROLE_SEARCH_PATH = '"$user", public, extensions'

# The roles Supabase's `postgres` is a member of, WITH ADMIN OPTION and inheriting: the API roles
# (`SET ROLE authenticated` in a migration, `GRANT anon TO ...`, `ALTER DEFAULT PRIVILEGES FOR ROLE
# service_role`), PostgreSQL's predefined roles and two platform admin roles. Source: the role
# memberships of Supabase's PostgreSQL 17 image as `pg_dumpall --roles-only` shows them
# (github.com/supabase/postgres, `migrations/schema-17.sql`; introduced by the migrations
# 20230201083204 (API roles), 20230306081037 (pg_monitor), 20240606060239 (pg_read_all_data,
# pg_signal_backend)). `session_manager` (SET FALSE) is left out: it grants nothing to use. A role
# the scratch server lacks is skipped (the pipeline creates the three API roles; predefined roles
# exist on every server, pg_create_subscription from PostgreSQL 16).
SUPABASE_MEMBERSHIPS = (
    "anon",
    "authenticated",
    "authenticator",
    "service_role",
    "pg_create_subscription",
    "pg_monitor",
    "pg_read_all_data",
    "pg_signal_backend",
    "supabase_functions_admin",
    "supabase_realtime_admin",
)

# What a restore as the superuser left owned by it, as (object kind, name) for ALTER ... OWNER TO:
# outside the system schemas, not a member of an extension (pg_depend 'e').
_OWNED_OBJECTS_SQL = """
WITH app_schema AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
), in_extension AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
)
SELECT 'SCHEMA', quote_ident(n.nspname) FROM app_schema n JOIN pg_namespace s ON s.oid = n.oid
WHERE s.nspowner = current_user::regrole AND n.nspname <> 'public'
  AND ('pg_namespace'::regclass::oid, n.oid) NOT IN (SELECT * FROM in_extension)
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
         WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       c.oid::regclass::text
FROM pg_class c JOIN app_schema n ON n.oid = c.relnamespace
WHERE c.relowner = current_user::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND ('pg_class'::regclass::oid, c.oid) NOT IN (SELECT * FROM in_extension)
  -- a serial or identity sequence follows its table's owner and refuses one of its own
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                       AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       p.oid::regprocedure::text
FROM pg_proc p JOIN app_schema n ON n.oid = p.pronamespace
WHERE p.proowner = current_user::regrole AND p.prokind IN ('f', 'p', 'a')
  AND ('pg_proc'::regclass::oid, p.oid) NOT IN (SELECT * FROM in_extension)
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
FROM pg_type t JOIN app_schema n ON n.oid = t.typnamespace
WHERE t.typowner = current_user::regrole
  AND ('pg_type'::regclass::oid, t.oid) NOT IN (SELECT * FROM in_extension)
  AND (t.typtype IN ('d', 'e', 'r')
       OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
"""


def prepare(superuser_url: str, database: str) -> str:
    """Create or re-shape ``MIGRATION_ROLE``, hand it the database's application objects; its DSN.

    Runs as the scratch server's superuser. The password is new on every run and sent already
    hashed (libpq's PQencryptPasswordConn), so it never appears in the server's statement log.
    """
    password = secrets.token_urlsafe(24)
    role = sql.Identifier(MIGRATION_ROLE)
    with psycopg.connect(superuser_url, autocommit=True, connect_timeout=15) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (MIGRATION_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(f"{verb} ROLE {{}} {ROLE_ATTRIBUTES}").format(role))
        hashed = conn.pgconn.encrypt_password(password.encode(), MIGRATION_ROLE.encode()).decode()
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(hashed)))
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path TO {}").format(role, sql.SQL(ROLE_SEARCH_PATH)))
        conn.execute(sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(database), role))
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(role))
        present = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname", (list(SUPABASE_MEMBERSHIPS),)
        ).fetchall()
        for (name,) in present:
            conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(name), role))
        with conn.transaction():
            for kind, name in conn.execute(_OWNED_OBJECTS_SQL).fetchall():
                conn.execute(sql.SQL(f"ALTER {kind} {{}} OWNER TO {{}}").format(sql.SQL(name), role))
    return pg_conninfo.make_conninfo(superuser_url, user=MIGRATION_ROLE, password=password)


def attributes(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The role's attributes as the report shows them."""
    row = conn.execute(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None  # the connected role exists
    name, superuser, createdb, createrole, replication, bypassrls = row
    return {
        "name": name,
        "superuser": superuser,
        "createdb": createdb,
        "createrole": createrole,
        "replication": replication,
        "bypassrls": bypassrls,
        "member_of": memberships(conn),
    }


def memberships(conn: psycopg.Connection[Any]) -> list[str]:
    """The roles the connected role is a direct member of, by name."""
    rows = conn.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "WHERE m.member = current_user::regrole ORDER BY r.rolname"
    ).fetchall()
    return [name for (name,) in rows]
