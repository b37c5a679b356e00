#!/usr/bin/env bash
# Builds the two Go programs the local mode runs, once, into .tools/ (gitignored), keyed by
# version so a version bump in .env builds afresh:
#   .tools/jaeger-<JAEGER_VERSION>/jaeger            from github.com/jaegertracing/jaeger
#   .tools/otelcol-<OTELCOL_VERSION>/otelcol-haptitalk  with the OpenTelemetry Collector Builder
#   .tools/helm-<HELM_VERSION>/helm                     from helm.sh/helm/v3 (make deploy-check)
# Each is a separate Go module (infra/builds/jaeger, infra/builds/otelcol): Jaeger and our
# collector pin different collector releases. `go install jaeger@version` cannot work:
# Jaeger's go.mod has replace directives, so it is a `go tool` of our own module instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
set -a; . ./.env; set +a

say() { printf '[tools] %s\n' "$*"; }
fail() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "Go is not installed (needs go >= 1.26): https://go.dev/dl/"

# One source of truth: the versions in .env must be the ones the Go modules pin.
grep -qE "github.com/jaegertracing/jaeger ${JAEGER_GO_MODULE_VERSION}( |$)" infra/builds/jaeger/go.mod \
  || fail "infra/builds/jaeger/go.mod does not pin jaeger ${JAEGER_GO_MODULE_VERSION} (.env JAEGER_GO_MODULE_VERSION)"
grep -qE "go.opentelemetry.io/collector/cmd/builder v${OTELCOL_VERSION}( |$)" infra/builds/otelcol/go.mod \
  || fail "infra/builds/otelcol/go.mod does not pin the builder at v${OTELCOL_VERSION} (.env OTELCOL_VERSION)"
if grep -E 'gomod: .* v[0-9.]+' infra/builds/otelcol/manifest.yaml | grep -vq " v${OTELCOL_VERSION}\$"; then
  fail "infra/builds/otelcol/manifest.yaml lists a component not at v${OTELCOL_VERSION}"
fi

grep -qE "helm.sh/helm/v3 v${HELM_VERSION}( |$)" infra/builds/helm/go.mod \
  || fail "infra/builds/helm/go.mod does not pin helm v${HELM_VERSION} (.env HELM_VERSION)"

jaeger_bin=".tools/jaeger-${JAEGER_VERSION}/jaeger"
otelcol_bin=".tools/otelcol-${OTELCOL_VERSION}/otelcol-haptitalk"
helm_bin=".tools/helm-${HELM_VERSION}/helm"
# The collector is rebuilt when its component list changes, not only its version.
manifest_sum="$(sha256sum infra/builds/otelcol/manifest.yaml | cut -d' ' -f1)"
otelcol_stamp="$otelcol_bin.manifest-sha256"

if [ -x "$jaeger_bin" ]; then
  say "jaeger ${JAEGER_VERSION}: already built ($jaeger_bin)"
else
  say "building jaeger ${JAEGER_VERSION} (module ${JAEGER_GO_MODULE_VERSION}); first time takes ~5 min"
  start=$SECONDS
  go -C infra/builds/jaeger build -trimpath -ldflags="-s -w" \
    -o "$PWD/$jaeger_bin" github.com/jaegertracing/jaeger/cmd/jaeger
  say "jaeger built in $((SECONDS - start)) s"
fi

if [ -x "$otelcol_bin" ] && [ "$(cat "$otelcol_stamp" 2>/dev/null)" = "$manifest_sum" ]; then
  say "otelcol ${OTELCOL_VERSION}: already built ($otelcol_bin)"
else
  say "building the OpenTelemetry Collector ${OTELCOL_VERSION} with OCB; first time takes ~5 min"
  start=$SECONDS
  ocb=".tools/ocb-${OTELCOL_VERSION}/ocb"
  go -C infra/builds/otelcol build -trimpath -o "$PWD/$ocb" go.opentelemetry.io/collector/cmd/builder
  "$ocb" --config infra/builds/otelcol/manifest.yaml --ldflags="-s -w"
  mkdir -p "$(dirname "$otelcol_bin")"
  mv .tools/otelcol-src/otelcol-haptitalk "$otelcol_bin"
  echo "$manifest_sum" > "$otelcol_stamp"
  say "otelcol built in $((SECONDS - start)) s"
fi

if [ -x "$helm_bin" ]; then
  say "helm ${HELM_VERSION}: already built ($helm_bin)"
else
  say "building helm ${HELM_VERSION}; first time takes ~2 min"
  start=$SECONDS
  # The version stamp `helm version` prints (a plain `go build` leaves it empty).
  # And, like Helm's own release build, the Kubernetes release it assumes without
  # --kube-version: the one its client-go module speaks (v0.N.x is Kubernetes 1.N).
  k8s_minor="$(go -C infra/builds/helm list -f '{{.Version}}' -m k8s.io/client-go | cut -d. -f2)"
  go -C infra/builds/helm build -trimpath -ldflags="-s -w \
    -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor} \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${k8s_minor}" \
    -o "$PWD/$helm_bin" helm.sh/helm/v3/cmd/helm
  say "helm built in $((SECONDS - start)) s"
fi
