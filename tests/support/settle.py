"""The settle rule (stackctl/jaeger.py) checked from outside: a wait whose condition part
of a trace already meets returns the trace only once every span the collector had
accepted is stored. Probe spans go straight to the collector (tests/support/otlp.py)."""

from __future__ import annotations

import uuid

from stackctl.jaeger import Jaeger
from tests.support.otlp import post_span


def probe_span(trace_id: str, span_id: str, parent_id: str | None) -> None:
    post_span(trace_id, span_id, parent_id=parent_id, service="settle-probe",
              name="settle probe")


def assert_waits_return_whole_traces(jaeger: Jaeger, tries: int = 1) -> None:
    """Per try: a first span stored, a second one accepted and still on its way (the
    collector's batch holds it up to 200 ms); a wait for "any span" must return both.
    A barrier that passes too early returns one span in most tries, so several tries
    catch it."""
    for _ in range(tries):
        trace_id, first, second = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        probe_span(trace_id, first, None)
        jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "the first span", settle=False)
        probe_span(trace_id, second, first)
        trace = jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "any span")
        assert len(trace.spans) == 2, "the wait returned before the second span:\n" + \
            trace.describe()
