#!/usr/bin/env bash
# Stop only the tracing backend started by start-monitoring.sh (Jaeger + collector).
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${STACK:-$(docker info >/dev/null 2>&1 && echo compose || echo local)}
if [ "$stack" = compose ]; then
  "${VENV:-.venv}/bin/python" -m stackctl.compose stop otel-collector victorialogs jaeger
else
  "${VENV:-.venv}/bin/python" -m stackctl.local down --only otel-collector,victorialogs,jaeger
fi
