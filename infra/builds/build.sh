#!/usr/bin/env bash
# Builds the programs local mode runs from Go modules, once each, into .tools/ (gitignored),
# keyed by version so a version bump in .env builds afresh:
#   jaeger   .tools/jaeger-<JAEGER_VERSION>/jaeger    from github.com/jaegertracing/jaeger
#   otelcol  .tools/otelcol-<OTELCOL_VERSION>/otelcol with the OpenTelemetry Collector Builder
#   helm     .tools/helm-<HELM_VERSION>/helm          from helm.sh/helm/v4 (make deploy-check)
#   actionlint .tools/actionlint-<ACTIONLINT_VERSION>/actionlint  from github.com/rhysd/actionlint
#            (make test: the GitHub workflow checked, tests/infra/test_workflow.py)
#   victorialogs .tools/victorialogs-<VICTORIALOGS_VERSION>/victorialogs  from
#            github.com/VictoriaMetrics/VictoriaLogs (the log store; its web UI is embedded
#            in the module, app/vlselect/vmui, so the build serves it as the release does)
# Usage: infra/builds/build.sh [jaeger] [otelcol] [helm] [actionlint] [victorialogs]
#        (none: all five)
# `make tools` runs it when the release download is not possible (stackctl/tools.py).
# Each is a separate Go module (infra/builds/<name>/go.mod): Jaeger and our collector pin
# different collector releases. `go install jaeger@version` cannot work: Jaeger's go.mod
# has replace directives, so it is a `go tool` of our own module instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
set -a; . ./.env; set +a

say() { printf '[tools] %s\n' "$*"; }
fail() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null \
    || fail "Go is not installed; building $1 needs go >= 1.26 (https://go.dev/dl/)"
}

# go_tool NAME VERSION MODULE MODULE_VERSION PACKAGE X_FLAGS: .tools/NAME-VERSION/NAME built
# once, static (no cgo, as the projects' releases are), from our module
# infra/builds/NAME, which must pin MODULE at MODULE_VERSION (.env is the one source of
# truth: a drifted go.mod is refused). X_FLAGS: the -X stamps of its release build.
go_tool() {
  local name=$1 version=$2 module=$3 module_version=$4 package=$5 stamps=$6
  local bin=".tools/${name}-${version}/${name}" mod="infra/builds/${name}/go.mod"
  grep -qE "${module} ${module_version}( |$)" "$mod" \
    || fail "$mod does not pin ${module} ${module_version} (.env)"
  if [ -x "$bin" ]; then say "${name} ${version}: already built ($bin)"; return; fi
  need_go "$name"
  say "building ${name} ${version} from ${module} ${module_version}"
  local start=$SECONDS
  CGO_ENABLED=0 go -C "infra/builds/${name}" build -trimpath -ldflags="-s -w ${stamps}" \
    -o "$PWD/$bin" "$package"
  say "${name} built in $((SECONDS - start)) s"
}

build_jaeger() {
  # The version `jaeger version` prints, as Jaeger's release build stamps it.
  go_tool jaeger "$JAEGER_VERSION" github.com/jaegertracing/jaeger "$JAEGER_GO_MODULE_VERSION" \
    github.com/jaegertracing/jaeger/cmd/jaeger \
    "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v${JAEGER_VERSION}"
}

build_otelcol() {
  local bin=".tools/otelcol-${OTELCOL_VERSION}/otelcol"
  grep -qE "go.opentelemetry.io/collector/cmd/builder v${OTELCOL_VERSION}( |$)" infra/builds/otelcol/go.mod \
    || fail "infra/builds/otelcol/go.mod does not pin the builder at v${OTELCOL_VERSION} (.env OTELCOL_VERSION)"
  if grep -E 'gomod: .* v[0-9.]+' infra/builds/otelcol/manifest.yaml | grep -vq " v${OTELCOL_VERSION}\$"; then
    fail "infra/builds/otelcol/manifest.yaml lists a component not at v${OTELCOL_VERSION}"
  fi
  # Rebuilt when its component list changes, not only its version.
  local manifest_sum stamp="$bin.manifest-sha256"
  manifest_sum="$(sha256sum infra/builds/otelcol/manifest.yaml | cut -d' ' -f1)"
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$manifest_sum" ]; then
    say "otelcol ${OTELCOL_VERSION}: already built ($bin)"; return
  fi
  need_go otelcol
  say "building the OpenTelemetry Collector ${OTELCOL_VERSION} with OCB; first time takes ~4 min"
  local start=$SECONDS ocb=".tools/ocb-${OTELCOL_VERSION}/ocb"
  go -C infra/builds/otelcol build -trimpath -o "$PWD/$ocb" go.opentelemetry.io/collector/cmd/builder
  "$ocb" --config infra/builds/otelcol/manifest.yaml --ldflags="-s -w"
  mkdir -p "$(dirname "$bin")"
  mv .tools/otelcol-src/otelcol-haptitalk "$bin"
  echo "$manifest_sum" > "$stamp"
  say "otelcol built in $((SECONDS - start)) s"
}

build_helm() {
  # The version stamp `helm version` prints, as Helm's own release build sets it (a plain
  # `go build` leaves it empty). Helm 4 reads the Kubernetes release it assumes without
  # --kube-version from its client-go module's version in the binary's build info.
  go_tool helm "$HELM_VERSION" helm.sh/helm/v4 "v${HELM_VERSION}" helm.sh/helm/v4/cmd/helm \
    "-X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION} -X helm.sh/helm/v4/internal/version.metadata="
}

build_actionlint() {
  # The version `actionlint -version` prints: built as a dependency of our module, its
  # build info would name our module's version ("(devel)") instead.
  go_tool actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint "v${ACTIONLINT_VERSION}" \
    github.com/rhysd/actionlint/cmd/actionlint \
    "-X github.com/rhysd/actionlint.version=v${ACTIONLINT_VERSION}"
}

build_victorialogs() {
  # zstd in pure Go instead of the C library (no cgo; the arm64 and darwin releases are
  # built so too), and the version its /metrics and -version print, as its release build
  # stamps it.
  go_tool victorialogs "$VICTORIALOGS_VERSION" github.com/VictoriaMetrics/VictoriaLogs \
    "v${VICTORIALOGS_VERSION}" github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs \
    "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-v${VICTORIALOGS_VERSION}"
}

[ $# -gt 0 ] || set -- jaeger otelcol helm actionlint victorialogs
for tool in "$@"; do
  case "$tool" in
    jaeger|otelcol|helm|actionlint|victorialogs) "build_$tool" ;;
    *) fail "unknown program '$tool' (jaeger, otelcol, helm, actionlint or victorialogs)" ;;
  esac
done
