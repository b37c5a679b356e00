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

build_jaeger() {
  local bin=".tools/jaeger-${JAEGER_VERSION}/jaeger"
  # One source of truth: the version in .env must be the one the Go module pins.
  grep -qE "github.com/jaegertracing/jaeger ${JAEGER_GO_MODULE_VERSION}( |$)" infra/builds/jaeger/go.mod \
    || fail "infra/builds/jaeger/go.mod does not pin jaeger ${JAEGER_GO_MODULE_VERSION} (.env JAEGER_GO_MODULE_VERSION)"
  if [ -x "$bin" ]; then say "jaeger ${JAEGER_VERSION}: already built ($bin)"; return; fi
  need_go jaeger
  say "building jaeger ${JAEGER_VERSION} (module ${JAEGER_GO_MODULE_VERSION}); first time takes ~5 min"
  local start=$SECONDS
  # Static (no cgo) and with the version `jaeger version` prints, as Jaeger's release
  # build makes it.
  CGO_ENABLED=0 go -C infra/builds/jaeger build -trimpath -ldflags="-s -w \
    -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v${JAEGER_VERSION}" \
    -o "$PWD/$bin" github.com/jaegertracing/jaeger/cmd/jaeger
  say "jaeger built in $((SECONDS - start)) s"
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
  local bin=".tools/helm-${HELM_VERSION}/helm"
  grep -qE "helm.sh/helm/v4 v${HELM_VERSION}( |$)" infra/builds/helm/go.mod \
    || fail "infra/builds/helm/go.mod does not pin helm v${HELM_VERSION} (.env HELM_VERSION)"
  if [ -x "$bin" ]; then say "helm ${HELM_VERSION}: already built ($bin)"; return; fi
  need_go helm
  say "building helm ${HELM_VERSION}; first time takes ~2 min"
  local start=$SECONDS
  # The version stamp `helm version` prints, as Helm's own release build sets it (a plain
  # `go build` leaves it empty). Helm 4 reads the Kubernetes release it assumes without
  # --kube-version from its client-go module's version in the binary's build info.
  CGO_ENABLED=0 go -C infra/builds/helm build -trimpath -ldflags="-s -w \
    -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION} \
    -X helm.sh/helm/v4/internal/version.metadata=" \
    -o "$PWD/$bin" helm.sh/helm/v4/cmd/helm
  say "helm built in $((SECONDS - start)) s"
}

build_actionlint() {
  local bin=".tools/actionlint-${ACTIONLINT_VERSION}/actionlint"
  grep -qE "github.com/rhysd/actionlint v${ACTIONLINT_VERSION}( |$)" infra/builds/actionlint/go.mod \
    || fail "infra/builds/actionlint/go.mod does not pin actionlint v${ACTIONLINT_VERSION} (.env ACTIONLINT_VERSION)"
  if [ -x "$bin" ]; then say "actionlint ${ACTIONLINT_VERSION}: already built ($bin)"; return; fi
  need_go actionlint
  say "building actionlint ${ACTIONLINT_VERSION}"
  local start=$SECONDS
  # The version `actionlint -version` prints: built as a dependency of our module, its
  # build info would name our module's version ("(devel)") instead.
  CGO_ENABLED=0 go -C infra/builds/actionlint build -trimpath -ldflags="-s -w \
    -X github.com/rhysd/actionlint.version=v${ACTIONLINT_VERSION}" \
    -o "$PWD/$bin" github.com/rhysd/actionlint/cmd/actionlint
  say "actionlint built in $((SECONDS - start)) s"
}

build_victorialogs() {
  local bin=".tools/victorialogs-${VICTORIALOGS_VERSION}/victorialogs"
  grep -qE "github.com/VictoriaMetrics/VictoriaLogs v${VICTORIALOGS_VERSION}( |$)" infra/builds/victorialogs/go.mod \
    || fail "infra/builds/victorialogs/go.mod does not pin VictoriaLogs v${VICTORIALOGS_VERSION} (.env VICTORIALOGS_VERSION)"
  if [ -x "$bin" ]; then say "victorialogs ${VICTORIALOGS_VERSION}: already built ($bin)"; return; fi
  need_go victorialogs
  say "building victorialogs ${VICTORIALOGS_VERSION}; first time takes ~2 min"
  local start=$SECONDS
  # Static (no cgo: zstd in pure Go instead of the C library; the arm64 and darwin
  # releases are built so too), with the version its /metrics and -version print, as
  # its release build stamps it.
  CGO_ENABLED=0 go -C infra/builds/victorialogs build -trimpath -ldflags="-s -w \
    -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-v${VICTORIALOGS_VERSION}" \
    -o "$PWD/$bin" github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
  say "victorialogs built in $((SECONDS - start)) s"
}

[ $# -gt 0 ] || set -- jaeger otelcol helm actionlint victorialogs
for tool in "$@"; do
  case "$tool" in
    jaeger|otelcol|helm|actionlint|victorialogs) "build_$tool" ;;
    *) fail "unknown program '$tool' (jaeger, otelcol, helm, actionlint or victorialogs)" ;;
  esac
done
