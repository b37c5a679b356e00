"""The settle rule (stackctl/jaeger.py) checked from outside: a wait whose condition part
of a trace already meets returns the trace only once every span the collector had
accepted is stored. Probe spans go straight to the collector (OTLP/HTTP JSON)."""

from __future__ import annotations

import time
import uuid

import httpx

from stackctl.jaeger import Jaeger
from stackctl.settings import endpoints


def probe_span(trace_id: str, span_id: str, parent_id: str | None) -> None:
    """One span posted to the collector; its 200 means accepted."""
    now = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": "settle probe", "kind": 1,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
            **({"parentSpanId": parent_id} if parent_id else {})}
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "settle-probe"}}]},
        "scopeSpans": [{"spans": [span]}]}]}
    response = httpx.post(f"{endpoints().otlp_http}/v1/traces", json=body, timeout=5)
    assert response.status_code == 200, response.text


def assert_waits_return_whole_traces(jaeger: Jaeger, tries: int = 1) -> None:
    """Per try: a first span stored, a second one accepted and still on its way (the
    collector's batch holds it up to 200 ms); a wait for "any span" must return both.
    A barrier that passes too early returns one span in most tries (7 of 10 measured)."""
    for _ in range(tries):
        trace_id, first, second = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        probe_span(trace_id, first, None)
        jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "the first span", settle=False)
        probe_span(trace_id, second, first)
        trace = jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "any span")
        assert len(trace.spans) == 2, "the wait returned before the second span:\n" + \
            trace.describe()
