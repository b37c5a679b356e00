#!/usr/bin/env bash
# Jaeger UI: the web app Jaeger serves on JAEGER_UI_PORT. The compose image and the release
# binary embed it; a Jaeger built from Go modules does not (it serves a placeholder page),
# so for that one (stackctl/tools.py runs this script after the build) it puts the same release, jaeger-ui v${JAEGER_UI_VERSION} (the one Jaeger
# ${JAEGER_VERSION} ships), into .tools/jaeger-ui-${JAEGER_UI_VERSION}/ once, from the first of:
#   1. JAEGER_UI_ASSETS=<dir>         an already built UI (a dir holding index.html)
#   2. the release's assets.tar.gz    downloaded; checked against JAEGER_UI_ASSETS_SHA256
#   3. JAEGER_UI_SRC=<tarball|dir>    the UI's source at that tag, built with the machine's
#                                     Node (>= 20) and npm ${JAEGER_UI_NPM_VERSION} (npx)
# Local mode points Jaeger's `extensions.jaeger_query.ui.assets_path` at the result.
# Exit status: 0 when the assets are in place, 1 (with what to do) when no source worked.
set -euo pipefail
cd "$(dirname "$0")/../.."
set -a; . ./.env; set +a

say() { printf '[jaeger-ui] %s\n' "$*"; }
fail() { printf '[jaeger-ui] ERROR: %s\n' "$*" >&2; exit 1; }

dest=".tools/jaeger-ui-${JAEGER_UI_VERSION}"
release_url="https://github.com/jaegertracing/jaeger-ui/releases/download/v${JAEGER_UI_VERSION}/assets.tar.gz"

if [ -f "$dest/index.html" ]; then
  say "v${JAEGER_UI_VERSION}: already in place ($dest)"
  exit 0
fi
mkdir -p .tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Assembled beside the destination and renamed in one step: Jaeger (or another make)
# never sees a half-copied directory.
staging=$(mktemp -d ".tools/.jaeger-ui-${JAEGER_UI_VERSION}.XXXXXX")
trap 'rm -rf "$work" "$staging"' EXIT

install_from() {  # $1: a directory holding index.html + static/
  [ -f "$1/index.html" ] || fail "$1 has no index.html: not a built Jaeger UI"
  cp -R "$1/." "$staging/"
  chmod 755 "$staging"
  mv -T "$staging" "$dest"
  say "v${JAEGER_UI_VERSION} in place: $dest ($(du -sh "$dest" | cut -f1), from $2)"
  exit 0
}

# 1. A directory someone already has (another checkout, a Jaeger release tarball's UI).
if [ -n "${JAEGER_UI_ASSETS:-}" ]; then
  install_from "$JAEGER_UI_ASSETS" "JAEGER_UI_ASSETS=$JAEGER_UI_ASSETS"
fi

# 2. The release asset: the fastest way online (~3 MB).
if curl --silent --show-error --fail --location --connect-timeout 10 --max-time 120 \
     --output "$work/assets.tar.gz" "$release_url" 2>"$work/curl.err"; then
  got=$(sha256sum "$work/assets.tar.gz" | cut -d' ' -f1)
  if [ -z "${JAEGER_UI_ASSETS_SHA256:-}" ]; then
    # The jaeger-ui project publishes no checksum for this file; see .env.
    say "WARNING: no JAEGER_UI_ASSETS_SHA256 in .env: trusting the HTTPS download"
    say "  its sha256 is $got; pin it in .env to check every later download"
  elif [ "$got" != "$JAEGER_UI_ASSETS_SHA256" ]; then
    fail "assets.tar.gz sha256 is $got, .env pins $JAEGER_UI_ASSETS_SHA256: refusing it"
  fi
  tar -xzf "$work/assets.tar.gz" -C "$work"
  install_from "$work/packages/jaeger-ui/build" "$release_url"
fi
say "no release asset (offline?):$(sed 's/^curl: ([0-9]*)//' "$work/curl.err" | head -n1 | cut -c1-40)"

# 3. Build from source: `npm ci` + vite (the times are printed),
#    640 MB of node_modules in a temporary directory (removed afterwards), 8.7 MB kept.
if [ -n "${JAEGER_UI_SRC:-}" ]; then
  if [ -d "$JAEGER_UI_SRC" ]; then
    src="$JAEGER_UI_SRC"
  elif [ -f "$JAEGER_UI_SRC" ]; then
    # A .sha256 beside the tarball (as `sha256sum` writes it) is checked when present.
    if [ -f "$JAEGER_UI_SRC.sha256" ]; then
      (cd "$(dirname "$JAEGER_UI_SRC")" && sha256sum --quiet -c "$(basename "$JAEGER_UI_SRC").sha256") \
        || fail "$JAEGER_UI_SRC does not match $JAEGER_UI_SRC.sha256"
    fi
    tar -xzf "$JAEGER_UI_SRC" -C "$work"
    src=$(find "$work" -mindepth 2 -maxdepth 2 -name package-lock.json -printf '%h\n' | head -n1)
    [ -n "$src" ] || fail "$JAEGER_UI_SRC holds no package-lock.json: not the jaeger-ui source"
  else
    fail "JAEGER_UI_SRC=$JAEGER_UI_SRC: no such file or directory"
  fi
  grep -q "\"version\": \"${JAEGER_UI_VERSION}\"" "$src/packages/jaeger-ui/package.json" \
    || fail "$JAEGER_UI_SRC is not jaeger-ui v${JAEGER_UI_VERSION} (.env JAEGER_UI_VERSION)"
  # The UI's package.json asks for Node >= 20 (engine-strict); its lock file needs npm 10
  # (the machine's npm 11 refuses it), which npx runs without replacing the system's.
  command -v node >/dev/null && command -v npx >/dev/null \
    || fail "Node.js >= 20 with npm is needed to build the UI from source"
  node_major="$(node --version | sed 's/^v\([0-9]*\).*/\1/')"
  [ "$node_major" -ge 20 ] || fail "Node $(node --version) is too old: the UI needs Node >= 20"
  npm_ci=(npx --yes "npm@${JAEGER_UI_NPM_VERSION}" ci --no-audit --no-fund --loglevel=error)
  # A copy: the build writes into the tree (node_modules, build/), the source stays clean.
  if [ "$src" = "$JAEGER_UI_SRC" ]; then
    mkdir -p "$work/src" && cp -R "$src/." "$work/src/"
    src="$work/src"
  fi
  # Outside any git checkout, the build's version probe (scripts/get-tracking-version.js)
  # would otherwise describe *this* repository.
  export GIT_CEILING_DIRECTORIES="$work"
  say "building from source with Node $(node --version): npm ci (npm ${JAEGER_UI_NPM_VERSION}), then vite build"
  start=$SECONDS
  (cd "$src" && "${npm_ci[@]}" >"$work/npm-ci.log" 2>&1) \
    || { tail -n 30 "$work/npm-ci.log" >&2; fail "npm ci failed (log above)"; }
  say "npm ci done in $((SECONDS - start)) s"
  (cd "$src/packages/jaeger-ui" && npm run build >"$work/build.log" 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; fail "vite build failed (log above)"; }
  say "built in $((SECONDS - start)) s"
  install_from "$src/packages/jaeger-ui/build" "JAEGER_UI_SRC=$JAEGER_UI_SRC"
fi

cat >&2 <<MSG
[jaeger-ui] no UI assets: local Jaeger serves its placeholder page (the query
[jaeger-ui] API works; the browser tests need the UI). Three ways to get them:
[jaeger-ui]   online:     make tools   (the v${JAEGER_UI_VERSION} release asset)
[jaeger-ui]   a built UI: make tools JAEGER_UI_ASSETS=<dir with index.html>
[jaeger-ui]   the source: make tools JAEGER_UI_SRC=<jaeger-ui-${JAEGER_UI_VERSION}-src.tar.gz>
MSG
exit 1
