"""Fixtures for the backup tool: a real PostgreSQL server and a moto S3/CloudWatch server, both on 127.0.0.1.

PostgreSQL: `initdb` into a temporary directory and `pg_ctl start` on a free loopback port, trust
auth, once per session. initdb refuses to run as root, so under root the server runs as the
`postgres` system user (created if missing). Missing binaries FAIL the tests: CI installs them.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import itertools
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
import typer
from botocore.exceptions import ClientError
from psycopg import sql
from typer.testing import CliRunner

from ops import backup as backups
from ops.backup import Kind, Location
from ops.backup import cli as backup_cli

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres", "pg_dump", "pg_restore")
SERVER_USER = "postgres"
# moto (like S3) rejects parts under 5 MiB; tests use 64 KiB parts to get several parts from small data.
TEST_PART_SIZE = 64 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def find_pg_bindir() -> str:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if bindir and all(os.access(os.path.join(bindir, b), os.X_OK) for b in SERVER_BINARIES):
            return bindir
    pytest.fail(
        f"PostgreSQL server binaries {', '.join(SERVER_BINARIES)} not found (looked in `pg_config --bindir` "
        f"and /usr/lib/postgresql/*/bin: {candidates or 'nothing'}). Install them, e.g. "
        "`apt-get install postgresql` — these tests need a real server and never skip.",
        pytrace=False,
    )


def _server_user() -> str | None:
    """The unprivileged account that runs the server when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
        )
    return SERVER_USER


@dataclass
class PgServer:
    bindir: str
    port: int
    base: str

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(), autocommit=True)

    def create_database(self, template: str = "template0") -> str:
        name = f"db_{uuid.uuid4().hex[:10]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_pg_bindir()
    user = _server_user()
    base = tempfile.mkdtemp(prefix="chefchatz-pg-")
    data = os.path.join(base, "data")
    prefix: list[str] = []
    if user:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    port = free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)

    run(
        f"{bindir}/initdb",
        "-D",
        data,
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off"
    )
    run(
        f"{bindir}/pg_ctl",
        "-D",
        data,
        "-l",
        os.path.join(base, "server.log"),
        "-w",
        "-t",
        "30",
        "-o",
        options,
        "start",
    )
    # The tool finds pg_dump/pg_restore through PG_BINDIR: same version as the server.
    previous = os.environ.get("PG_BINDIR")
    os.environ["PG_BINDIR"] = bindir
    try:
        yield PgServer(bindir=bindir, port=port, base=base)
    finally:
        if previous is None:
            os.environ.pop("PG_BINDIR", None)
        else:
            os.environ["PG_BINDIR"] = previous
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# A realistic little schema: several schemas and types, a view, sequences, FKs, incompressible bytea.

SCHEMA_SQL = """
CREATE TABLE public.profiles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username text UNIQUE NOT NULL,
    created_at timestamptz NOT NULL,
    settings jsonb
);
CREATE TABLE public.recipes (
    id bigserial PRIMARY KEY,
    author uuid NOT NULL REFERENCES public.profiles(id),
    title text NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    rating numeric(3, 2),
    published boolean NOT NULL,
    body text
);
CREATE TABLE public.recipe_images (
    id serial PRIMARY KEY,
    recipe_id bigint NOT NULL REFERENCES public.recipes(id),
    image bytea NOT NULL
);
CREATE SCHEMA chat;
CREATE TABLE chat.messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sent_at timestamptz NOT NULL,
    content text NOT NULL,
    tokens integer
);
CREATE INDEX messages_sent_at ON chat.messages (sent_at);
CREATE VIEW public.recipe_titles AS SELECT id, title FROM public.recipes WHERE published;
"""

WORDS = [
    "basil",
    "tomato",
    "garlic",
    "simmer",
    "whisk",
    "fold",
    "knead",
    "roast",
    "braise",
    "saute",
    "zest",
    "lemon",
    "butter",
    "flour",
    "pepper",
    "sear",
    "glaze",
    "chili",
    "cumin",
    "ginger",
    "miso",
    "noodle",
    "dough",
    "crust",
    "broth",
]

TABLES = ("public.profiles", "public.recipes", "public.recipe_images", "chat.messages")


def seed(conn: psycopg.Connection[Any], rng: random.Random) -> None:
    conn.execute(SCHEMA_SQL)
    authors = []
    for i in range(40):
        author = uuid.UUID(int=rng.getrandbits(128))
        authors.append(author)
        conn.execute(
            "INSERT INTO profiles (id, username, created_at, settings) VALUES (%s, %s, %s, %s::jsonb)",
            (
                author,
                f"cook{i}",
                f"2026-0{1 + i % 9}-1{i % 10}T12:00:00Z",
                f'{{"theme": "dark", "units": "metric", "n": {i}}}',
            ),
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO recipes (author, title, tags, rating, published, body) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    rng.choice(authors),
                    " ".join(rng.choices(WORDS, k=3)),
                    rng.sample(WORDS, 2),
                    round(rng.uniform(1, 5), 2),
                    rng.random() > 0.3,
                    " ".join(rng.choices(WORDS, k=60)),
                )
                for _ in range(300)
            ],
        )
        # ~240 KiB of random bytes: several 64 KiB parts even after zstd.
        cur.executemany(
            "INSERT INTO recipe_images (recipe_id, image) VALUES (%s, %s)",
            [(rng.randint(1, 300), rng.randbytes(8 * 1024)) for _ in range(30)],
        )
        cur.executemany(
            "INSERT INTO chat.messages (sent_at, content, tokens) VALUES (%s, %s, %s)",
            [
                (
                    f"2026-11-{1 + i % 27:02d}T{i % 24:02d}:00:00Z",
                    "é🍜 " + " ".join(rng.choices(WORDS, k=12)),
                    None if i % 7 == 0 else rng.randint(1, 4000),
                )
                for i in range(500)
            ],
        )
    conn.execute("ANALYZE")


def table_contents(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every seeded table plus sequence positions: what "data equality" means here."""
    with psycopg.connect(dsn) as conn:
        out: dict[str, list[tuple[Any, ...]]] = {
            t: conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(*t.split(".")))).fetchall()
            for t in TABLES
        }
        out["sequences"] = conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
        ).fetchall()
        out["view"] = conn.execute("SELECT * FROM recipe_titles ORDER BY 1").fetchall()
    return out


@pytest.fixture(scope="session")
def seeded_template(pg_server: PgServer) -> str:
    name = pg_server.create_database()
    with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
        seed(conn, random.Random(20261127))
    return name


@pytest.fixture
def source_db(pg_server: PgServer, seeded_template: str) -> str:
    """A fresh copy of the seeded database; returns its DSN."""
    return pg_server.dsn(pg_server.create_database(template=seeded_template))


@pytest.fixture
def empty_db(pg_server: PgServer) -> str:
    return pg_server.dsn(pg_server.create_database())


# ------------------------------------------------------------------------------------------------
# moto


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    # moto reads S3_UPLOAD_PART_MIN_SIZE when it is imported; the attribute covers an earlier import.
    previous_env = os.environ.get("S3_UPLOAD_PART_MIN_SIZE")
    os.environ["S3_UPLOAD_PART_MIN_SIZE"] = str(TEST_PART_SIZE)
    import moto.s3.models
    from moto.server import ThreadedMotoServer

    previous_min = moto.s3.models.S3_UPLOAD_PART_MIN_SIZE  # type: ignore[attr-defined]
    moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = TEST_PART_SIZE  # type: ignore[attr-defined]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = previous_min  # type: ignore[attr-defined]
        if previous_env is None:
            os.environ.pop("S3_UPLOAD_PART_MIN_SIZE", None)
        else:
            os.environ["S3_UPLOAD_PART_MIN_SIZE"] = previous_env


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Standard AWS configuration pointed at moto (fake credentials, loopback endpoint)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    return moto_endpoint


_bucket_ids = itertools.count()


@pytest.fixture
def s3(aws: str) -> Any:
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"chefchatz-test-{next(_bucket_ids)}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def object_sha256(s3: Any, bucket: str, key: str) -> str:
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def all_keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


# ------------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="session")
def cli_app() -> typer.Typer:
    app = typer.Typer()
    backup_cli.register(app)
    return app


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(cli_app: typer.Typer) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> CliResult:
        result = runner.invoke(cli_app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


# ------------------------------------------------------------------------------------------------
# Faults


class SpyS3:
    """Delegates to a real client; counts calls (and the keys they name) and can fail chosen calls: the
    `upload_part` of part `fail_part`, or the `fail_put`-th `put_object` of a dump's object."""

    def __init__(
        self,
        real: Any,
        fail_part: int | None = None,
        error: BaseException | None = None,
        times: int = 1,
        fail_put: int | None = None,
    ) -> None:
        self._real = real
        self._fail_part = fail_part
        self._fail_put = fail_put
        self._puts = 0
        self._error = error
        self._times = times
        self.calls: dict[str, int] = {}
        self.keys: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._real, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                self.keys.append((name, str(kwargs.get("Key", ""))))
                if name == "put_object" and "/dump/" in str(kwargs.get("Key", "")):
                    self._puts += 1
                fail = self._times > 0 and (
                    (name == "upload_part" and kwargs.get("PartNumber") == self._fail_part)
                    or (name == "put_object" and self._puts == self._fail_put and "/dump/" in str(kwargs.get("Key")))
                )
                if fail:
                    self._times -= 1
            if fail:
                assert self._error is not None
                raise self._error
            return target(*args, **kwargs)

        return call


def client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def live_children(name: str) -> list[int]:
    """PIDs of our non-zombie child processes called `name` (a leaked pg_dump would show here)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm == name and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry))
    return found


def user_table_names(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [f"{s}.{n}" for s, n, _, _ in backups.user_tables(conn)]


def nothing_counts(s3: Any, bucket: str) -> None:
    location = Location(bucket)
    assert [e for e in backups.list_backups(location, Kind.DB, s3=s3) if e.complete] == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "multipart upload left open"
    verdict = backups.verify_latest(location, Kind.DB, dt.timedelta(hours=6), s3=s3)
    assert not verdict.ok and "no complete db backup" in verdict.problems[0], verdict.problems
