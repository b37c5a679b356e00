#!/usr/bin/env bash
# Start only the tracing backend (Jaeger, VictoriaLogs for the logs, and the OpenTelemetry
# Collector), like the original HaptiTalk start-monitoring.sh, so services running
# elsewhere (your IDE, another repo) can send to it:
# OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 (gRPC) or :4318 (HTTP).
# Uses compose when a Docker engine answers, otherwise local processes (STACK=local forces).
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . ./.env; set +a
stack=${STACK:-$(docker info >/dev/null 2>&1 && echo compose || echo local)}
py=${VENV:-.venv}/bin/python

if [ "$stack" = compose ]; then
  echo "Starting Jaeger, VictoriaLogs and the OpenTelemetry Collector with docker compose"
  "$py" -m stackctl.compose up --build --detach --wait jaeger victorialogs otel-collector
else
  echo "Starting Jaeger, VictoriaLogs and the OpenTelemetry Collector as local processes"
  make --no-print-directory tools >/dev/null
  "$py" -m stackctl.local up --only jaeger,victorialogs,otel-collector
fi
cat <<INFO

  Jaeger UI / query API  http://localhost:${JAEGER_UI_PORT}
  VictoriaLogs (logs)    http://localhost:${VICTORIALOGS_PORT}/select/vmui/
  OTLP gRPC              http://localhost:${OTLP_GRPC_PORT}
  OTLP HTTP              http://localhost:${OTLP_HTTP_PORT}
  Prometheus metrics     http://localhost:${COLLECTOR_PROMETHEUS_PORT}/metrics
  zPages                 http://localhost:${ZPAGES_PORT}/debug/tracez
INFO
