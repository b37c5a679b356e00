#!/usr/bin/env bash
# `make images-offline`: local stand-ins for the official images docker-compose.yml runs,
# for a Docker engine that can reach no image registry (this project's CI). Built from
# Debian 12 and the binaries `make tools` builds, each binary and config at the path the
# official image uses; named as infra/builds/offline-images/images.env says
# (haptitalk-offline/*), never tagged with an official name. `IMAGES=offline make up`
# runs them. What differs from the official images: docs/offline-images.md.
#
#   haptitalk-offline/debian      mmdebstrap --variant=minbase + busybox-static (wget)
#   haptitalk-offline/python      + Debian's python3.11        (for services/Dockerfile)
#   haptitalk-offline/prometheus  + Debian's prometheus        (exactly PROMETHEUS_VERSION)
#   haptitalk-offline/postgres    + Debian's postgresql-<major> (POSTGRES_VERSION), with
#                                 infra/postgres/entrypoint.sh (SESSION_DB=postgres)
#   haptitalk-offline/rabbitmq    + Debian's rabbitmq-server (exactly RABBITMQ_VERSION, its
#                                 management plugin), with infra/rabbitmq/entrypoint.sh
#   haptitalk-offline/jaeger      + .tools/jaeger-*  + .tools/jaeger-ui-* (when built)
#   haptitalk-offline/otelcol     .tools/otelcol-*, FROM scratch like the official one
#   haptitalk-offline/victoria-logs  .tools/victorialogs-*, FROM scratch + CA bundle like the
#                                 official (distroless/static) one
#
# Needs: a Docker engine, root (mmdebstrap), `make tools`. The Debian base is built once
# (~40 s); the rest is docker's build cache after the first run.
set -euo pipefail
cd "$(dirname "$0")/../.."
set -a; . ./.env; . infra/builds/offline-images/images.env; set +a

say() { printf '[images] %s\n' "$*"; }
fail() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-default})"
jaeger_bin=".tools/jaeger-${JAEGER_VERSION}/jaeger"
otelcol_bin=".tools/otelcol-${OTELCOL_VERSION}/otelcol"
victorialogs_bin=".tools/victorialogs-${VICTORIALOGS_VERSION}/victorialogs"
ui_dir=".tools/jaeger-ui-${JAEGER_UI_VERSION:-none}"
for bin in "$jaeger_bin" "$otelcol_bin" "$victorialogs_bin"; do
  [ -x "$bin" ] || fail "$bin is missing: run \`make tools\` first"
done
# The stand-in serves the UI from files (JAEGER_IMAGE_UI_ASSETS in images.env), as a
# Jaeger built from Go modules needs; a release binary embeds its own and has none.
if grep -qs '^release' ".tools/jaeger-${JAEGER_VERSION}/ORIGIN"; then
  fail "$jaeger_bin is the release binary; the offline images need the build (and its UI files): rm -r .tools/jaeger-${JAEGER_VERSION} && make tools TOOLS=build"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# Each image gets its own small build context: the Dockerfile's files and nothing else.
build() {  # $1 image, $2 Dockerfile, then build args; files are already in $work/ctx
  local image=$1 dockerfile=$2; shift 2
  local t=$SECONDS
  # network=host: no NAT on a machine whose engine runs with --iptables=false, and apt
  # must reach the Debian mirror.
  docker build --quiet --network host --file "infra/builds/offline-images/$dockerfile" \
    --build-arg "BASE_IMAGE=$OFFLINE_BASE_IMAGE" "$@" --tag "$image" "$work/ctx" >/dev/null \
    || fail "building $image failed (see the output above)"
  say "$image ready ($((SECONDS - t)) s)"
  rm -rf "$work/ctx"
}

if docker image inspect "$OFFLINE_BASE_IMAGE" >/dev/null 2>&1; then
  say "$OFFLINE_BASE_IMAGE: already built"
else
  command -v mmdebstrap >/dev/null || fail "mmdebstrap is missing: apt-get install mmdebstrap"
  [ "$(id -u)" = 0 ] || fail "mmdebstrap needs root to build $OFFLINE_BASE_IMAGE"
  say "building $OFFLINE_BASE_IMAGE from Debian bookworm (mmdebstrap, ~40 s)"
  t=$SECONDS
  # busybox-static's wget is what the compose healthchecks call (the official Jaeger and
  # Prometheus images are Alpine/busybox-based and have one); no docs, no man pages.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,busybox-static \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='ln -s /bin/busybox "$1/usr/local/bin/wget"' \
    bookworm - \
    | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$OFFLINE_BASE_IMAGE" >/dev/null
  say "$OFFLINE_BASE_IMAGE ready ($((SECONDS - t)) s)"
fi

mkdir -p "$work/ctx"
cp /etc/ssl/certs/ca-certificates.crt "$work/ctx/"
build "$PYTHON_IMAGE" python.Dockerfile

mkdir -p "$work/ctx"
build "$PROMETHEUS_IMAGE" prometheus.Dockerfile --build-arg "PROMETHEUS_VERSION=$PROMETHEUS_VERSION"

mkdir -p "$work/ctx"
cp infra/postgres/entrypoint.sh "$work/ctx/"
build "$POSTGRES_IMAGE" postgres.Dockerfile --build-arg "POSTGRES_VERSION=$POSTGRES_VERSION"

mkdir -p "$work/ctx"
cp infra/rabbitmq/entrypoint.sh "$work/ctx/"
build "$RABBITMQ_IMAGE" rabbitmq.Dockerfile --build-arg "RABBITMQ_VERSION=$RABBITMQ_VERSION"

mkdir -p "$work/ctx/ui"
cp "$jaeger_bin" "$work/ctx/jaeger"
if [ -f "$ui_dir/index.html" ]; then
  cp -R "$ui_dir/." "$work/ctx/ui/"
else
  say "WARNING: no Jaeger UI in $ui_dir (make tools): the offline Jaeger serves a placeholder page"
fi
build "$JAEGER_IMAGE" jaeger.Dockerfile

mkdir -p "$work/ctx"
cp "$otelcol_bin" "$work/ctx/otelcol-contrib"
cp infra/collector/config.yaml "$work/ctx/config.yaml"
build "$COLLECTOR_IMAGE" otelcol.Dockerfile

mkdir -p "$work/ctx"
cp "$victorialogs_bin" "$work/ctx/victoria-logs-prod"
build "$VICTORIALOGS_IMAGE" victorialogs.Dockerfile

say "all offline images ready in $((SECONDS - started)) s; run them: IMAGES=offline make up"
