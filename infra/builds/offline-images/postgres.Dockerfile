# Stand-in for postgres:<POSTGRES_VERSION>-bookworm: Debian 12's postgresql-<major> (the
# same major; the official image builds the latest minor from the PostgreSQL project's
# apt repository), with the official image's user (postgres, uid/gid 999), data folder
# (/var/lib/postgresql/data, PGDATA below it) and entrypoint contract (POSTGRES_USER,
# POSTGRES_DB, POSTGRES_PASSWORD or POSTGRES_HOST_AUTH_METHOD=trust; `postgres` + server
# options as the command). The entrypoint is local mode's: infra/postgres/entrypoint.sh.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG POSTGRES_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The user first, so the package keeps uid/gid 999; no cluster made by the package (the
# entrypoint runs initdb into PGDATA on the first start, as the official one does).
# Unpinned on purpose: bookworm carries one minor of each major.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash \
      postgres \
 && mkdir -p /etc/postgresql-common \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "postgresql-${POSTGRES_VERSION}" \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 999:999 /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/${POSTGRES_VERSION}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    POSTGRES_VERSION=${POSTGRES_VERSION}
USER 999:999
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
