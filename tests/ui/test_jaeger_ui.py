"""What a person sees in the Jaeger UI, in a real browser: start the stack, call the
gateway, open the UI, check what it shows against Jaeger's query API.

Each test leaves a screenshot in reports/ui/. `make screenshots` takes the README's
pictures with the same code (stackctl/jaeger_ui.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from stackctl.jaeger import Jaeger, Trace, complete
from stackctl.jaeger_ui import MANUAL_SPAN, JaegerUI, prometheus_up, traffic_until_monitored
from stackctl.sample import send
from stackctl.settings import ROOT, Endpoints
from stackctl.topology import EDGES, SERVICES


@pytest.fixture
def segment_trace(endpoints: Endpoints, jaeger: Jaeger, user_id: str) -> Trace:
    """One segment call, complete in Jaeger (all three services, the manual span)."""
    trace_id = send(endpoints.gateway, user_id)
    return jaeger.wait_for_trace(
        trace_id, lambda t: complete(t) and bool(t.find(operation=MANUAL_SPAN)),
        "the whole segment trace with the feedback rules span")


def test_search_lists_the_services_and_finds_gateway_traces(
        ui: JaegerUI, segment_trace: Trace) -> None:
    assert set(SERVICES) <= set(ui.service_options())
    titles = ui.search("gateway")
    assert titles and all(t.startswith("gateway: ") for t in titles), titles


def test_trace_page_shows_a_segment_call_across_the_three_services(
        ui: JaegerUI, segment_trace: Trace) -> None:
    view = ui.trace(segment_trace.trace_id)
    assert view.services >= set(SERVICES)
    # The same spans the query API returns: the header's count, and one row each.
    assert view.total_spans == len(segment_trace.spans)
    assert sorted(view.rows) == sorted((s.service, s.operation) for s in segment_trace.spans)

    # The manual span's attributes, as the UI lists them once the span is expanded.
    (manual,) = segment_trace.find(service="feedback", operation=MANUAL_SPAN)
    shown = ui.expand_span(MANUAL_SPAN)
    assert shown["haptitalk.mode"] == manual.tags["haptitalk.mode"] == "presentation"
    assert shown["haptitalk.feedback.pattern"] == manual.tags["haptitalk.feedback.pattern"]
    assert "pace_too_fast" in shown["haptitalk.rules_fired"]


def test_monitor_tab_shows_gateways_request_rate(ui: JaegerUI) -> None:
    if not prometheus_up():
        message = ("Prometheus is not running (local mode without Debian's prometheus "
                   "package: sudo apt-get install prometheus)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs it)")
        pytest.skip(message)
    traffic_until_monitored("gateway")
    areas = ui.monitor("gateway")
    # An area path with at least one line segment: the chart drew the rate, not
    # "No Data" or "Could not fetch data".
    assert any("L" in d for d in areas), f"the request-rate chart drew nothing: {areas}"


def test_system_architecture_draws_the_call_edges(ui: JaegerUI, segment_trace: Trace) -> None:
    # Jaeger's memory store derives the graph from the stored traces' parent/child spans.
    assert set(EDGES) <= ui.architecture_edges()


def test_make_slowest_links_open_their_trace(ui: JaegerUI, jaeger: Jaeger,
                                             segment_trace: Trace) -> None:
    out = subprocess.run([sys.executable, "-m", "stackctl.waterfall", "slowest", "-n", "3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    links = re.findall(rf"{re.escape(jaeger.base_url)}/trace/([0-9a-f]{{32}})", out)
    assert len(links) == 3, out
    trace = jaeger.get_trace(links[0])
    assert trace is not None
    view = ui.trace(links[0])
    assert view.total_spans == len(trace.spans)
    assert ui.page.locator(".TraceIDLength").first.inner_text().strip() in links[0]


def test_make_ups_first_trace_link_opens_a_segment_call(ui: JaegerUI, jaeger: Jaeger) -> None:
    result = subprocess.run([sys.executable, "-m", "stackctl.sample"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (trace_id,) = re.findall(rf"{re.escape(jaeger.base_url)}/trace/([0-9a-f]{{32}})",
                             result.stdout)
    view = ui.trace(trace_id)
    assert view.services >= set(SERVICES)
    assert view.total_spans == len(jaeger.get_trace(trace_id).spans)
