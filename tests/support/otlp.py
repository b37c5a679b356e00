"""One span posted straight to the collector's OTLP/HTTP receiver (JSON), for tests that
need a span with known ids or attributes without going through a service."""

from __future__ import annotations

import time
from typing import Any

import httpx

from stackctl.settings import endpoints


def post_span(trace_id: str, span_id: str, *, parent_id: str | None = None,
              service: str = "probe", name: str = "probe",
              attributes: dict[str, str] | None = None,
              otlp_http: str | None = None) -> None:
    """A 1 ms INTERNAL span ending now; the collector's 200 means accepted. `otlp_http`:
    another OTLP/HTTP receiver than the stack's collector (a test's private Jaeger)."""
    now = time.time_ns()
    span: dict[str, Any] = {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}}
                       for k, v in (attributes or {}).items()]}
    if parent_id:
        span["parentSpanId"] = parent_id
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [span]}]}]}
    response = httpx.post(f"{otlp_http or endpoints().otlp_http}/v1/traces", json=body,
                          timeout=5)
    assert response.status_code == 200, response.text
