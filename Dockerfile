# The image the backup schedules run (config chefchatz:backupImage): the chefchatz tool plus a
# pg_dump/pg_restore at least as new as the Supabase server (PostgreSQL 17).
#   docker build -t ghcr.io/chefchatz/chefchatz-infra:0.1.0 . && docker push ...
# Then pin the pushed digest: pulumi config set chefchatz:backupImage ghcr.io/...@sha256:<digest>
FROM python:3.11-slim-bookworm

ARG PG_MAJOR=17
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl gnupg; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y curl gnupg; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*

WORKDIR /opt/chefchatz
COPY requirements/main.txt requirements/main.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/main.txt
COPY pyproject.toml ./
COPY ops ops
COPY components components
COPY policies policies
RUN pip install --no-cache-dir --no-deps .

# No root needed: the tool only streams between PostgreSQL, S3 and CloudWatch.
RUN useradd --uid 10001 --no-create-home chefchatz
USER 10001
# No default command: a run that names no command (a scheduler that dropped its overrides) exits 2,
# a failure, instead of printing help and "succeeding" without a backup.
ENTRYPOINT ["chefchatz"]
