#!/usr/bin/env bash
# A stand-in for the official postgres image's entrypoint, on Debian's PostgreSQL (package
# postgresql, major POSTGRES_VERSION). Two users:
# - local mode (x-local-programs in docker-compose.yml), under supervisord like every
#   other local process;
# - the offline image (infra/builds/offline-images/postgres.Dockerfile), as its entrypoint.
#
#   infra/postgres/entrypoint.sh postgres [server options...]
#
# Like the image: on first start, initdb into PGDATA for POSTGRES_USER (authenticated by
# POSTGRES_PASSWORD, which compose and local mode generate: var/secrets/postgres-password;
# or not at all with POSTGRES_HOST_AUTH_METHOD=trust) and create POSTGRES_DB; then exec
# the server in the foreground (supervisord keeps it). Data initialised with trust by an
# earlier version is moved to the password when one is given.
# PostgreSQL refuses to run as root: as root (CI), it runs as Debian's `postgres` user.
set -euo pipefail

bin="/usr/lib/postgresql/${POSTGRES_VERSION:?}/bin"
[ -x "$bin/postgres" ] || {
  echo "PostgreSQL ${POSTGRES_VERSION} is not installed ($bin/postgres): sudo apt-get install postgresql" >&2
  exit 1
}
: "${PGDATA:?}" "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
[ "$auth" = trust ] || : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required unless POSTGRES_HOST_AUTH_METHOD=trust}"
shift  # "postgres": the image's command name; the server options follow

as_owner=()
if [ "$(id -u)" = 0 ]; then
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$(dirname "$PGDATA")"
  # A checkout under a private folder (/root is 0700): the postgres user cannot reach
  # var/. Keep the data in Debian's home for it instead, one folder per checkout.
  if ! "${as_owner[@]}" test -w "$PGDATA"; then
    PGDATA="/var/lib/postgresql/haptitalk-$(printf '%s' "$PGDATA" | sha256sum | cut -c1-12)"
    echo "postgres cannot reach the checkout's var/: data in $PGDATA"
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  fi
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  password=()
  if [ "$auth" != trust ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    password=(--pwfile="$pwfile")
  fi
  "${as_owner[@]}" "$bin/initdb" --pgdata="$PGDATA" --username="$POSTGRES_USER" \
    "${password[@]}" --auth-host="$auth" --auth-local=trust --encoding=UTF8 \
    --no-instructions >/dev/null
  [ "$auth" = trust ] || rm -f "$pwfile"
  # As the official image does: any host may connect, by password (or trust). initdb's
  # own entries cover loopback only, which local mode uses; containers connect from
  # the compose network. Who can reach the port at all is the network's business.
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  # The database, created by a server that listens on no TCP port yet.
  sock="$(mktemp -d)"
  [ "$(id -u)" = 0 ] && chown postgres "$sock"
  "${as_owner[@]}" "$bin/pg_ctl" --pgdata="$PGDATA" --silent --wait \
    -o "-c listen_addresses='' -k $sock" start
  "${as_owner[@]}" "$bin/psql" -h "$sock" -U "$POSTGRES_USER" -d postgres -q \
    -c "CREATE DATABASE \"$POSTGRES_DB\""
  "${as_owner[@]}" "$bin/pg_ctl" --pgdata="$PGDATA" --silent --wait stop
  rmdir "$sock" 2>/dev/null || true
elif [ "$auth" != trust ] && grep -Eq '^host[[:space:]].*[[:space:]]trust[[:space:]]*$' "$PGDATA/pg_hba.conf"; then
  # Initialised without a password (this suite's earlier default): give the user the
  # password and require it over TCP, rather than keep letting any local user in.
  echo "$PGDATA accepted TCP connections without a password: now $auth for $POSTGRES_USER"
  sock="$(mktemp -d)"
  [ "$(id -u)" = 0 ] && chown postgres "$sock"
  "${as_owner[@]}" "$bin/pg_ctl" --pgdata="$PGDATA" --silent --wait \
    -o "-c listen_addresses='' -k $sock" start
  # The password from the environment into a psql variable (:'pw' quotes it):
  # never on a command line, where `ps` would show it.
  printf '%s\n' '\getenv pw POSTGRES_PASSWORD' \
    "ALTER ROLE \"$POSTGRES_USER\" PASSWORD :'pw';" |
    "${as_owner[@]}" "$bin/psql" -h "$sock" -U "$POSTGRES_USER" -d postgres -q -v ON_ERROR_STOP=1
  "${as_owner[@]}" "$bin/pg_ctl" --pgdata="$PGDATA" --silent --wait stop
  rmdir "$sock" 2>/dev/null || true
  "${as_owner[@]}" sed -E -i "s/^(host[[:space:]].*[[:space:]])trust[[:space:]]*$/\1$auth/" "$PGDATA/pg_hba.conf"
fi

# No Unix socket: local processes connect over TCP on loopback, as containers do.
exec "${as_owner[@]}" "$bin/postgres" -D "$PGDATA" -c unix_socket_directories= "$@"
