"""The collector's own counters (otelcol_*), read from its Prometheus endpoint
(COLLECTOR_TELEMETRY_PORT). Used by `make doctor`, `make bench` and the fault tests."""

from __future__ import annotations

import re

import httpx

from stackctl.settings import endpoints

# Component names in infra/collector/config.yaml and infra/jaeger/config.yaml whose
# counters the tools read (label values of the otelcol_* metrics).
TO_JAEGER = "otlp_grpc/jaeger"  # the collector's exporter to Jaeger
TRACES_BATCH = "batch/traces"  # the collector's batch in the traces pipeline
JAEGER_STORE = "jaeger_storage_exporter"  # Jaeger's exporter into its storage


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of every series of `name` (with or without `_total`) in Prometheus text; with
    `labels` (exporter="otlp_grpc/jaeger"), of the series that carry all of them."""
    pattern = rf"^{name}(?:_total)?(?:{{([^}}]*)}})?\s+([0-9.e+-]+)$"
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    return sum(float(m.group(2)) for m in re.finditer(pattern, text, re.M)
               if wanted <= set(re.findall(r'\w+="[^"]*"', m.group(1) or "")))


def scrape() -> str:
    return httpx.get(endpoints().collector_metrics, timeout=5).text


def collector_metric(name: str) -> float:
    return metric_sum(scrape(), name)
