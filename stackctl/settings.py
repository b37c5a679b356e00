"""The values in .env (versions and ports) and every URL built from them, for the Python
tools: the same file compose and the Makefile read. A variable set in the environment
wins, as it does for compose.

    from stackctl.settings import endpoints
    endpoints().gateway        # http://127.0.0.1:8000 (GATEWAY_URL overrides it)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_env(path: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """KEY=value lines; `${NAME}` in a value is replaced as compose and make do (from the
    lines above it, then from `known`)."""
    values: dict[str, str] = {}
    context = dict(known or {})
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            value = re.sub(r"\$\{(\w+)\}", lambda m: context.get(m[1], ""), value.strip())
            values[key.strip()] = context[key.strip()] = value
    return values


def dotenv() -> dict[str, str]:
    """The file's values alone (no environment overrides)."""
    return read_env(ROOT / ".env")


def settings() -> dict[str, str]:
    """The file's values, each overridden by the environment variable of the same name."""
    return {key: os.environ.get(key) or value for key, value in dotenv().items()}


def setting(name: str) -> str:
    return os.environ.get(name) or dotenv()[name]


@dataclass(frozen=True)
class Endpoints:
    """Every URL of the stack. GATEWAY_URL, SESSION_URL, FEEDBACK_URL, JAEGER_URL, WATCH_URL and
    VICTORIALOGS_URL override theirs (a stack elsewhere); STACK_HOST the host of all."""

    gateway: str
    session: str
    feedback: str
    jaeger: str
    otlp_http: str
    otlp_grpc: str
    collector_health: str
    collector_metrics: str  # the collector's own counters (otelcol_*)
    jaeger_metrics: str  # Jaeger's own counters (its receiver and storage exporter)
    exporter_metrics: str  # what Prometheus scrapes: span metrics, services' metrics
    zpages: str
    prometheus: str
    victorialogs: str  # the log store: its query API and web UI
    watch: str  # the watch app's cue stream (SSE) and its admin API
    rabbitmq_management: str  # the broker's management UI and HTTP API (queues, consumers)

    def service(self, name: str) -> str:
        return getattr(self, name)


def endpoints() -> Endpoints:
    env = settings()
    host = os.environ.get("STACK_HOST", "127.0.0.1")

    def url(port: str, path: str = "", override: str | None = None) -> str:
        given = os.environ.get(override) if override else None
        return given.rstrip("/") if given else f"http://{host}:{env[port]}{path}"

    return Endpoints(
        gateway=url("GATEWAY_PORT", override="GATEWAY_URL"),
        session=url("SESSION_PORT", override="SESSION_URL"),
        feedback=url("FEEDBACK_PORT", override="FEEDBACK_URL"),
        jaeger=url("JAEGER_UI_PORT", override="JAEGER_URL"),
        otlp_http=url("OTLP_HTTP_PORT"),
        otlp_grpc=url("OTLP_GRPC_PORT"),
        collector_health=url("COLLECTOR_HEALTH_PORT", "/"),
        collector_metrics=url("COLLECTOR_TELEMETRY_PORT", "/metrics"),
        jaeger_metrics=url("JAEGER_TELEMETRY_PORT", "/metrics"),
        exporter_metrics=url("COLLECTOR_PROMETHEUS_PORT", "/metrics"),
        zpages=url("ZPAGES_PORT"),
        prometheus=url("PROMETHEUS_PORT"),
        victorialogs=url("VICTORIALOGS_PORT", override="VICTORIALOGS_URL"),
        watch=url("WATCH_PORT", override="WATCH_URL"),
        rabbitmq_management=url("RABBITMQ_MANAGEMENT_PORT"),
    )
