"""The collector's own counters (otelcol_*), read from its Prometheus endpoint
(COLLECTOR_TELEMETRY_PORT), and the spans it has seen per service (its span_metrics
connector, on the Prometheus exporter). Used by `make doctor`, `make bench` and the fault
tests."""

from __future__ import annotations

import re
import time

import httpx

from stackctl.settings import ROOT, endpoints
from stackctl.wait import wait_until

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


SPAN_METRIC = "traces_span_metrics_calls"


def spans_made(leave_out: str | None = None) -> dict[str, float]:
    """Spans per service that reached the collector, from its span_metrics connector
    (cumulative counters on the Prometheus exporter, every span kind and status), but
    those whose span name `leave_out` (a regular expression) finds. They live in the
    collector's memory: a restarted collector counts from 0."""
    text = httpx.get(endpoints().exporter_metrics, timeout=5).text
    out: dict[str, float] = {}
    # Line by line, not metric_sum: span names hold braces (`.../{session_id}`).
    for line in text.splitlines():
        found = re.match(rf"{SPAN_METRIC}(?:_total)?{{(.*)}}\s+(\S+)$", line)
        if not found:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found[1]))
        if "service_name" not in labels or (
                leave_out and re.search(leave_out, labels.get("span_name", ""))):
            continue
        service = labels["service_name"]
        out[service] = out.get(service, 0) + float(found[2])
    return out


def span_metrics_flush_s() -> float:
    """The span_metrics connector's flush interval, from the collector's config."""
    config = (ROOT / "infra/collector/config.yaml").read_text()
    found = re.search(r"metrics_flush_interval:\s*(\d+)s", config)
    assert found, "metrics_flush_interval not found in infra/collector/config.yaml"
    return float(found.group(1))


def spans_made_settled(timeout_s: float = 60, leave_out: str | None = None
                       ) -> dict[str, float]:
    """spans_made() once its counts have stayed the same across a whole flush interval
    of span_metrics: every span the collector had received is counted by then (and the
    SDKs, exporting every 200 ms, have sent what the last requests made)."""
    quiet_s = span_metrics_flush_s() + 1
    last = {"counts": spans_made(leave_out), "since": time.monotonic()}

    def settled() -> tuple[dict[str, float]] | None:
        counts = spans_made(leave_out)
        if counts != last["counts"]:
            last.update(counts=counts, since=time.monotonic())
            return None
        # In a tuple: no span counted yet ({}, a collector just restarted) is an answer too.
        return (counts,) if time.monotonic() - last["since"] >= quiet_s else None

    return wait_until(settled, "span_metrics' counts to stop moving", timeout_s, 0.5,
                      seen=lambda: str(last["counts"]))[0]
