#!/usr/bin/env bash
# A stand-in for the official rabbitmq image's `rabbitmq-server`, on Debian's
# rabbitmq-server package (the same release, RABBITMQ_VERSION). Two users:
# - local mode (x-local-programs in docker-compose.yml), under supervisord like every
#   other local process, with its data under var/;
# - the offline image (infra/builds/offline-images/rabbitmq.Dockerfile), as its entrypoint.
#
#   infra/rabbitmq/entrypoint.sh rabbitmq-server
#
# No systemd: the server runs in the foreground, configured only by the environment that
# docker-compose.yml sets (RABBITMQ_NODE_PORT, RABBITMQ_NODE_IP_ADDRESS, RABBITMQ_NODENAME,
# RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_CONFIG_FILE, HOME for the Erlang
# cookie, ERL_EPMD_ADDRESS so that epmd listens on loopback, not on 0.0.0.0:4369).
set -euo pipefail

server=/usr/lib/rabbitmq/bin/rabbitmq-server
[ -x "$server" ] || {
  echo "RabbitMQ is not installed ($server): sudo apt-get install rabbitmq-server" >&2
  exit 1
}
: "${RABBITMQ_MNESIA_BASE:?}" "${RABBITMQ_LOG_BASE:?}" "${HOME:?}"
[ "${1:-}" = rabbitmq-server ] && shift  # the image's command name
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE" "$HOME"
exec "$server" "$@"
