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
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stackctl.jaeger import MONITOR_RATE_WINDOW_S, Jaeger, Span, Trace, complete
from stackctl.jaeger_ui import (
    MANUAL_SPAN,
    JaegerUI,
    TimelineRow,
    prometheus_up,
    traffic_until_monitored,
)
from stackctl.sample import NEW_SESSION, SEGMENT, send
from stackctl.settings import ROOT, Endpoints
from stackctl.topology import BROKER_EDGES, EDGES, SERVICES, WATCH
from stackctl.wait import wait_until

# The segment calls the Monitor tab's test sends at once: enough that their own share of
# the mean rate (over Jaeger's MONITOR_RATE_WINDOW_S) the operations table shows is over
# 0.1 req/s, which the table prints as a figure.
MONITOR_BURST = 480


@pytest.fixture
def segment_trace(endpoints: Endpoints, jaeger: Jaeger, user_id: str) -> Trace:
    """One segment call, complete in Jaeger: all three services, the manual span, and the
    cue's trip through RabbitMQ (SEGMENT earns a buzz): the watch's CONSUMER span."""
    trace_id = send(endpoints.gateway, user_id)
    return jaeger.wait_for_trace(
        trace_id, lambda t: complete(t) and bool(t.find(operation=MANUAL_SPAN))
        and bool(t.find(service=WATCH, kind="consumer")),
        "the whole segment trace with the feedback rules span and the watch's CONSUMER span")


def root_span(trace: Trace) -> Span:
    (root,) = [s for s in trace.spans if s.parent_id is None]
    return root


def test_search_finds_the_segment_call_this_test_made(
        ui: JaegerUI, segment_trace: Trace) -> None:
    assert set(SERVICES) | {WATCH} <= set(ui.service_options())
    # The gateway's span of this call, by its own path (the session id in it): the search
    # a person makes to find one request, answered by Jaeger's tag search. This call is
    # the only one on that path, so its trace is the one result.
    root = root_span(segment_trace)
    path = root.tags["url.path"]
    found = ui.search("gateway", tags=f"url.path={path}")
    assert list(found) == [segment_trace.trace_id], (
        f"the search for url.path={path} should list trace {segment_trace.trace_id} "
        f"alone; it lists {found or 'nothing'}")
    title = found[segment_trace.trace_id]
    assert title.startswith(f"gateway: {root.operation}"), title


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


def drawn(rows: list[TimelineRow]) -> str:
    return "\n".join(f"  {'  ' * r.depth}{r.service}: {r.operation}" for r in rows)


def test_trace_page_draws_the_watchs_consumer_span_under_feedbacks_producer_span(
        ui: JaegerUI, segment_trace: Trace) -> None:
    (producer,) = segment_trace.find(service="feedback", kind="producer")
    (consumer,) = segment_trace.find(service=WATCH, kind="consumer")
    ui.trace(segment_trace.trace_id)
    rows = ui.timeline()

    def row_of(service: str, operation: str) -> int:
        at = [i for i, r in enumerate(rows) if (r.service, r.operation) == (service, operation)]
        assert len(at) == 1, (f"{len(at)} rows '{service}: {operation}' in the timeline, "
                              f"not 1:\n{drawn(rows)}")
        return at[0]

    p = row_of("feedback", producer.operation)
    c = row_of(WATCH, consumer.operation)
    # The row the watch's row hangs from in the drawn tree: the nearest row above it one
    # level further out (rows are drawn depth first, each under its parent).
    hangs_from = next((i for i in range(c - 1, -1, -1) if rows[i].depth < rows[c].depth), None)
    assert hangs_from == p and rows[c].depth == rows[p].depth + 1, (
        f"the watch's row '{rows[c].operation}' is not drawn under feedback's PRODUCER row "
        f"'{producer.operation}':\n{drawn(rows)}")
    assert rows[c].name_x > rows[p].name_x, (rows[p], rows[c])  # indented further right
    # Its innermost indent guide is the PRODUCER span (the id the query API gives it).
    assert rows[c].parent_id == producer.span_id, (rows[c], producer)


def segment_calls(gateway_url: str, calls: int, workers: int = 8) -> list[str]:
    """`calls` segment calls through the gateway, `workers` at a time, each worker in a
    session of its own: their trace ids."""
    def work(n: int) -> list[str]:
        with httpx.Client(base_url=gateway_url, timeout=10.0) as client:
            created = client.post("/api/sessions", json=dict(NEW_SESSION, user_id="ui-monitor"))
            created.raise_for_status()
            url = f"/api/sessions/{created.json()['session_id']}/segments"
            ids = []
            for _ in range(n):
                response = client.post(url, json=SEGMENT)
                response.raise_for_status()
                ids.append(response.headers["x-trace-id"])
            return ids

    shares = [calls // workers + (i < calls % workers) for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [t for ids in pool.map(work, shares) for t in ids]


def shown_figure(text: str) -> tuple[float, str]:
    """A figure of the operations table and its unit ("0.66 req/s", "12.3ms"); the table
    prints any value under 0.1 as "< 0.1", which is no figure."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(\S+)", text)
    assert match, f"{text!r} is not a figure (the table prints values under 0.1 as '< 0.1')"
    return float(match.group(1)), match.group(2)


def test_monitor_tab_lists_the_segment_route_at_the_rate_this_test_sent(
        ui: JaegerUI, jaeger: Jaeger, endpoints: Endpoints) -> None:
    if not prometheus_up():
        message = ("Prometheus is not running (local mode without Debian's prometheus "
                   "package: sudo apt-get install prometheus)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs it)")
        pytest.skip(message)
    traffic_until_monitored("gateway")  # the series exist: the burst below is all counted
    trace_ids = segment_calls(endpoints.gateway, MONITOR_BURST)
    # The operation the table should list: the gateway's server span of these calls.
    operation = root_span(jaeger.wait_for_trace(trace_ids[-1], settle=False)).operation
    # Alone, the burst adds BURST / window to each point of the rate for ten minutes:
    # wait until the newest point has it (span metrics flush, Prometheus scrape).
    ours = MONITOR_BURST / MONITOR_RATE_WINDOW_S
    def rates() -> list[float]:
        return jaeger.call_rates("gateway", lookback_ms=120_000, operation=operation)

    wait_until(lambda: (points := rates())
               and points[-1] >= 0.9 * ours,
               f"{operation}'s request rate in Jaeger's Monitor API to count the "
               f"{MONITOR_BURST} calls this test sent (>= {0.9 * ours:.2f} req/s)", 60, 1.0,
               seen=lambda: str(rates()))

    ui.monitor("gateway")
    table = ui.operations()
    assert operation in table, f"the operations table does not list {operation}: {table}"
    shown = table[operation]
    # The table shows the mean of the last 5 minutes' points (at most 6, one a minute);
    # the newest counts the burst, so the mean is at least a sixth of it.
    rate, unit = shown_figure(shown["Request rate"])
    assert unit == "req/s" and rate >= 0.9 * ours / 6, (
        f"{operation}: {shown['Request rate']} shown, under the {0.9 * ours / 6:.2f} req/s "
        f"this test's {MONITOR_BURST} calls alone make")
    # The route's P95 (these calls among those it counts): a duration the UI printed as a
    # figure, so not "< 0.1" of its unit.
    latency, unit = shown_figure(shown["P95 Latency"])
    assert unit in ("μs", "ms", "s") and latency > 0, shown


def test_system_architecture_draws_the_call_and_broker_edges(
        ui: JaegerUI, segment_trace: Trace) -> None:
    # Jaeger's memory store derives the graph from the stored traces' parent/child spans:
    # the broker edge from the watch's CONSUMER span, the child of feedback's PRODUCER.
    drawn_edges = ui.architecture_edges()
    missing = (set(EDGES) | set(BROKER_EDGES)) - drawn_edges
    assert not missing, f"System Architecture draws no {sorted(missing)}: {sorted(drawn_edges)}"


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
    # The whole call, through RabbitMQ to the watch, as `make up`'s note under it says.
    assert view.services >= {*SERVICES, "watch"}, view.services
    assert "RabbitMQ -> watch" in result.stdout, result.stdout
    assert view.total_spans == len(jaeger.get_trace(trace_id).spans)
