"""What a person sees in the Jaeger UI, in a real browser: start the stack, call the
gateway, open the UI, check what it shows against Jaeger's query API.

Each test leaves a screenshot in reports/ui/. `make screenshots` takes the README's
pictures with the same code (stackctl/jaeger_ui.py).
"""

from __future__ import annotations

import httpx
import pytest

from stackctl.jaeger_ui import JaegerUI
from tests.e2e.conftest import FAST_SEGMENT
from tests.e2e.test_observability import _prometheus_up, poll, traffic
from tests.e2e.test_trace_propagation import _complete_segment_trace
from tests.support.jaeger import Jaeger, Trace

SERVICES = {"gateway", "session", "feedback"}
MANUAL_SPAN = "evaluate feedback rules"


@pytest.fixture
def segment_trace(gateway: httpx.Client, jaeger: Jaeger, user_id: str) -> Trace:
    """One segment call, complete in Jaeger (all three services, the manual span)."""
    sid = gateway.post("/api/sessions", json={"user_id": user_id, "mode": "presentation"}
                       ).json()["session_id"]
    response = gateway.post(f"/api/sessions/{sid}/segments", json=FAST_SEGMENT)
    assert response.status_code == 200, response.text
    return jaeger.wait_for_trace(response.headers["x-trace-id"], _complete_segment_trace,
                                 "5 server spans and the feedback rules span")


def test_search_lists_the_services_and_finds_gateway_traces(
        ui: JaegerUI, segment_trace: Trace) -> None:
    assert SERVICES <= set(ui.service_options())
    titles = ui.search("gateway")
    assert titles and all(t.startswith("gateway: ") for t in titles), titles


def test_trace_page_shows_a_segment_call_across_the_three_services(
        ui: JaegerUI, segment_trace: Trace) -> None:
    view = ui.trace(segment_trace.trace_id)
    assert view.services >= SERVICES
    # The same spans the query API returns: the header's count and one row each.
    assert view.total_spans == len(segment_trace.spans)
    assert sorted(view.rows) == sorted((s.service, s.operation) for s in segment_trace.spans)

    # The manual span's attributes, as the UI lists them when the span is expanded.
    (manual,) = segment_trace.find(service="feedback", operation=MANUAL_SPAN)
    shown = ui.expand_span(MANUAL_SPAN)
    assert shown["haptitalk.mode"] == manual.tags["haptitalk.mode"] == "presentation"
    assert shown["haptitalk.feedback.pattern"] == "slow_down"
    assert "pace_too_fast" in shown["haptitalk.rules_fired"]


def test_monitor_tab_shows_gateways_request_rate(
        ui: JaegerUI, gateway: httpx.Client, endpoints) -> None:
    if not _prometheus_up():
        pytest.skip("Prometheus is not running (local mode without Debian's prometheus "
                    "package: sudo apt-get install prometheus); .ci/run installs it")
    traffic(gateway)

    def call_rate() -> list:
        body = httpx.get(f"{endpoints.jaeger}/api/metrics/calls", timeout=10, params={
            "service": "gateway", "spanKind": "server", "step": 15000, "ratePer": 60000,
            "lookback": 300000}).json()
        return [p for m in body.get("metrics", []) for p in m.get("metricPoints", [])
                if p.get("gaugeValue", {}).get("doubleValue", 0) > 0]

    # Span metrics reach Prometheus on its scrape interval: wait until Jaeger has them.
    poll(call_rate, "gateway's call rate in Jaeger's metrics API", 60)
    areas = ui.monitor("gateway")
    assert any(d.count("L") >= 1 for d in areas), f"request-rate chart is empty: {areas}"


def test_system_architecture_draws_the_call_edges(ui: JaegerUI, segment_trace: Trace) -> None:
    # Jaeger's memory store derives these from the stored traces' parent/child spans.
    edges = ui.architecture_edges()
    assert {("gateway", "session"), ("gateway", "feedback"), ("feedback", "session")} <= edges
