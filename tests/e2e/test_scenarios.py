"""Each planted bottleneck has a trace signature: its shape in Jaeger, on and off.

Switch a scenario through the gateway's admin API (what `make scenario` does), drive the
affected call, read the trace from Jaeger, check the shape. Every test switches its
scenario back off, whatever happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from statistics import median

import httpx
import pytest

from stackctl.jaeger import Jaeger, Span, Trace, complete
from stackctl.sample import CALM_SEGMENT
from stackctl.settings import setting
from tests.support.signatures import client_calls, end, overlapping, root, sequential
from tests.support.stack import start_service, stop_service


@contextmanager
def scenario(gateway: httpx.Client, name: str, enabled: bool, **params: float) -> Iterator[None]:
    """The scenario on with `params`, or off (parameters tune the broken path only: off
    runs the fixed path as shipped, and the admin API refuses parameters with it)."""
    body = {"enabled": enabled, "params": params if enabled else {}}
    response = gateway.put(f"/admin/scenarios/{name}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    try:
        yield
    finally:
        gateway.put(f"/admin/scenarios/{name}", json={"enabled": False}, timeout=30)


def new_session(gateway: httpx.Client, segments: int = 0) -> str:
    sid = gateway.post("/api/sessions", json={"user_id": "sig", "mode": "presentation"}
                       ).json()["session_id"]
    for _ in range(segments):
        assert gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT
                            ).status_code == 200
    return sid


def scenario_tags(*traces: Trace) -> set[str]:
    """Every `demo.scenario` value in these traces (docs/scenarios.md: the tag is on
    exactly the affected traces, so an "off" trace has none)."""
    return {s.tags["demo.scenario"] for t in traces for s in t.spans if "demo.scenario" in s.tags}


def wait(jaeger: Jaeger, trace_id: str, until, what: str) -> Trace:
    """Wait for `until` *and* the gateway's root span (spans arrive in any order)."""
    def complete(t: Trace) -> bool:
        return any(s.parent_id is None and s.service == "gateway" for s in t.spans) and until(t)

    return jaeger.wait_for_trace(trace_id, complete, what + " and the gateway's root span")


def test_admin_api_rejects_unknown_scenarios_and_params(gateway: httpx.Client) -> None:
    response = gateway.put("/admin/scenarios/nope", json={"enabled": True})
    assert response.status_code == 404
    assert "n_plus_one" in response.json()["error"]["message"]
    response = gateway.put("/admin/scenarios/error_injection",
                           json={"enabled": True, "params": {"ratio": 1}})
    assert response.status_code == 422
    assert "rate" in response.json()["error"]["message"]
    names = {s["name"] for s in gateway.get("/admin/scenarios").json()}
    assert len(names) == 8
    assert not any(s["enabled"] for s in gateway.get("/admin/scenarios").json())


def test_a_restarted_service_comes_back_with_its_switches_off(gateway: httpx.Client) -> None:
    """docs/scenarios.md: the owner is the only process that holds a switch's state."""
    def enabled(name: str) -> bool:
        response = gateway.get("/admin/scenarios")
        assert response.status_code == 200, response.text
        return next(s["enabled"] for s in response.json() if s["name"] == name)

    with scenario(gateway, "pool_of_one", True):
        assert enabled("pool_of_one")
        stop_service("feedback")
        start_service("feedback")
        assert not enabled("pool_of_one"), "feedback restarted with pool_of_one still on"


# --- 1. N+1 ------------------------------------------------------------------------------

@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_n_plus_one(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    segments = 4
    sid = new_session(gateway, segments)
    with scenario(gateway, "n_plus_one", enabled):
        response = gateway.post(f"/api/sessions/{sid}/end")
    assert response.status_code == 200
    assert response.json()["average_fluency"] is not None

    # The real endpoints only: one /report call either way; the N+1 is inside it.
    trace = wait(
        jaeger, response.headers["x-trace-id"],
        lambda t: len(t.find(service="feedback", operation="score segment"))
        == (segments if enabled else 1),
        "feedback's score segment spans")
    assert len(client_calls(trace, root(trace), "/report")) == 1
    (report_server,) = trace.find(service="feedback", kind="server")
    scoring = sorted(trace.find(service="feedback", operation="score segment"),
                     key=lambda s: s.start_us)
    assert client_calls(trace, root(trace), "/assess") == [], "no endpoint of its own"
    if enabled:
        # Broken: one model call per segment, one after another, under feedback's /report.
        assert report_server.tags["demo.scenario"] == "n_plus_one"
        assert [s.tags["haptitalk.scorer.batch"] for s in scoring] == [1] * segments
        assert sequential(scoring), "the N model calls form a staircase"
        assert all(report_server.start_us <= s.start_us and end(s) <= end(report_server)
                   for s in scoring)
    else:
        assert scenario_tags(trace) == set()
        # Fixed: feedback's `score segment` scored all of them at once.
        assert [s.tags["haptitalk.scorer.batch"] for s in scoring] == [segments]


# --- 2. sequential fan-out -------------------------------------------------------------

@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_sequential_fanout(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sid = new_session(gateway, 2)
    with scenario(gateway, "sequential_fanout", enabled):
        response = gateway.get(f"/api/sessions/{sid}")
    assert response.status_code == 200
    trace = wait(
        jaeger, response.headers["x-trace-id"],
        lambda t: len(t.find(service="session", kind="server")) == 3,
        "the three fan-out calls and feedback's history read")
    calls = client_calls(trace, root(trace))
    assert len(calls) == 3
    if enabled:
        assert sequential(calls)
        assert root(trace).tags["demo.scenario"] == "sequential_fanout"
    else:
        assert overlapping(calls), "concurrent calls overlap in time"
        assert scenario_tags(trace) == set()


# --- 3. slow query -----------------------------------------------------------------------

def _history_db_spans(jaeger: Jaeger, trace_ids: list[str]) -> tuple[list[Span], list[Trace]]:
    spans, traces = [], []
    for trace_id in trace_ids:
        trace = wait(
            jaeger, trace_id,
            lambda t: any("ORDER BY seq DESC" in s.tags.get("db.query.text", "")
                          for s in t.spans),
            "the history query's DB span")
        spans += [s for s in trace.spans if "ORDER BY seq DESC" in s.tags.get("db.query.text", "")]
        traces.append(trace)
    return spans, traces


def test_slow_query(gateway: httpx.Client, jaeger: Jaeger) -> None:
    sid = new_session(gateway, 1)
    with scenario(gateway, "slow_query", True, seed_rows=100_000):
        slow_ids = [gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
                    .headers["x-trace-id"] for _ in range(3)]
    fast_ids = [gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
                .headers["x-trace-id"] for _ in range(3)]

    slow, _ = _history_db_spans(jaeger, slow_ids)
    fast, fast_traces = _history_db_spans(jaeger, fast_ids)
    assert scenario_tags(*fast_traces) == set(), "switched off: no trace is tagged"
    # The planted full scan, as each store writes it (services/session/sqlite.py, postgres.py).
    scan = {"sqlite": "FROM segments NOT INDEXED WHERE",
            "postgres": "FROM segments WHERE lower(session_id) = lower(%s)"}[setting("SESSION_DB")]
    assert all(scan in s.tags["db.query.text"] for s in slow)
    assert all(scan not in s.tags["db.query.text"] for s in fast)
    ratio = median(s.duration_us for s in slow) / median(s.duration_us for s in fast)
    assert ratio > 5, f"full scan only {ratio:.1f}x slower than the index lookup"
    history_server = jaeger.wait_for_trace(
        slow_ids[0], lambda t: t.parent(slow[0]) is not None, "the history server span",
    ).parent(slow[0])
    assert history_server.tags["demo.scenario"] == "slow_query"


# --- 4. pool of one, 5. blocking call: both need concurrency -----------------------------

async def _concurrent_segments(base_url: str, sessions: list[str]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        responses = await asyncio.gather(*(
            client.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT) for sid in sessions))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.headers["x-trace-id"] for r in responses]


def _traces_with(jaeger: Jaeger, trace_ids: list[str], name: str) -> list[Trace]:
    return [wait(jaeger, trace_id, lambda t: bool(t.find(operation=name)), f"the {name!r} span")
            for trace_id in trace_ids]


def _spans_named(jaeger: Jaeger, trace_ids: list[str], name: str) -> list[Span]:
    return [s for t in _traces_with(jaeger, trace_ids, name) for s in t.find(operation=name)]


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_pool_of_one(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sessions = [new_session(gateway) for _ in range(6)]
    with scenario(gateway, "pool_of_one", enabled, scorer_ms=40):
        trace_ids = asyncio.run(_concurrent_segments(str(gateway.base_url), sessions))
    waits = sorted(s.duration_us / 1000 for s in _spans_named(jaeger, trace_ids,
                                                               "wait for scorer slot"))
    scoring = _spans_named(jaeger, trace_ids, "score segment")
    if enabled:
        # Six requests through one slot of >= 40 ms: the last waits for the others.
        assert waits[-1] > 100, waits
        assert sequential(scoring), "one slot: scoring never overlaps"
        assert all(s.tags["demo.scenario"] == "pool_of_one" for s in scoring)
    else:
        assert waits[-1] < 30, waits
        assert overlapping(scoring)
        assert scenario_tags(*_traces_with(jaeger, trace_ids, "score segment")) == set()


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_blocking_call(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sessions = [new_session(gateway) for _ in range(5)]
    with scenario(gateway, "blocking_call", enabled, block_ms=60):
        trace_ids = asyncio.run(_concurrent_segments(str(gateway.base_url), sessions))
    lookups = _spans_named(jaeger, trace_ids, "load speaker profile")
    if enabled:
        # The event loop is frozen during each lookup: no two can overlap.
        assert sequential(lookups)
        assert all(s.tags["demo.scenario"] == "blocking_call" for s in lookups)
    else:
        assert overlapping(lookups), "in a worker thread, lookups run side by side"
        assert scenario_tags(*_traces_with(jaeger, trace_ids, "load speaker profile")) == set()


# --- 6. retry storm ------------------------------------------------------------------------

@pytest.mark.parametrize("enabled", [True, False], ids=["storm", "backoff"])
def test_retry_storm(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sid = new_session(gateway)
    # flaky_history at failure_rate 1: session's history always fails, so every attempt
    # is visible; retry_storm changes only the retry policy.
    with scenario(gateway, "flaky_history", True, failure_rate=1.0), \
            scenario(gateway, "retry_storm", enabled):
        response = gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
    assert response.status_code == 503
    error = response.json()["error"]
    # feedback's 503 names session; the gateway's names feedback and quotes it
    # (docs/reliability.md: each service names the dependency it called).
    assert error["dependency"] == "feedback"
    assert error["message"].startswith("feedback service unavailable: answered 503: "
                                       "session service unavailable: answered 503"), error

    attempts = 5 if enabled else 3
    trace = wait(
        jaeger, response.headers["x-trace-id"],
        lambda t: len([s for s in t.find(service="session", kind="server")
                       if s.tags.get("http.route") == "/sessions/{session_id}/history"])
        == attempts and bool(t.find(service="feedback", kind="server")),
        f"{attempts} history attempts")
    (evaluate,) = trace.find(service="feedback", kind="server")
    tries = sorted(client_calls(trace, evaluate), key=lambda s: s.start_us)
    assert len(tries) == attempts and all(t.error for t in tries)
    gaps_ms = [(b.start_us - end(a)) / 1000 for a, b in zip(tries, tries[1:], strict=False)]
    # Each retry is an event on feedback's span (docs/scenarios.md), in both policies.
    assert [e.get("attempt") for e in evaluate.events if e.get("event") == "retry"] \
        == list(range(2, attempts + 1)), evaluate.events
    if enabled:
        assert max(gaps_ms) < 20, f"retries back to back: {gaps_ms}"
        assert evaluate.tags["demo.scenario"] == "retry_storm"
        assert scenario_tags(trace) == {"retry_storm", "flaky_history"}
    else:
        assert 25 <= gaps_ms[0] and 50 <= gaps_ms[1], f"backoff with jitter: {gaps_ms}"
        # Only flaky_history (on in both) is tagged; the fixed policy tags nothing.
        assert scenario_tags(trace) == {"flaky_history"}


# --- 6b. flaky history (session's half of the retry storm) ---------------------------------

def _history_reads(trace: Trace) -> list[Span]:
    return [s for s in trace.find(service="session", kind="server")
            if s.tags.get("http.route") == "/sessions/{session_id}/history"]


@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_flaky_history(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sid = new_session(gateway)
    with scenario(gateway, "flaky_history", enabled, failure_rate=1.0):
        response = gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
    if not enabled:
        assert response.status_code == 200, response.text
        trace = wait(jaeger, response.headers["x-trace-id"], complete,
                     "the whole segment trace")
        (read,) = _history_reads(trace)
        assert not read.error and not read.exception_events
        assert scenario_tags(trace) == set(), trace.describe()
        return
    # Every read fails; feedback's fixed policy tries three times, then gives up.
    assert response.status_code == 503
    trace = wait(jaeger, response.headers["x-trace-id"],
                 lambda t: len(_history_reads(t)) == 3, "three failing history reads")
    for read in _history_reads(trace):
        assert read.error and read.tags["http.response.status_code"] == 503
        assert read.tags["demo.scenario"] == "flaky_history"
        assert "injected flakiness" in read.exception_events[0]["exception.message"]
    assert scenario_tags(trace) == {"flaky_history"}


# --- 7. error injection ----------------------------------------------------------------------

@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_error_injection(gateway: httpx.Client, jaeger: Jaeger, enabled: bool) -> None:
    sid = new_session(gateway)
    with scenario(gateway, "error_injection", enabled, rate=1.0):
        response = gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
    if not enabled:
        assert response.status_code == 200
        # Off: the whole trace is there, and nothing in it is an error or tagged.
        trace = wait(jaeger, response.headers["x-trace-id"], complete,
                     "the whole segment trace")
        (stored,) = [s for s in trace.find(service="session", kind="server")
                     if s.tags.get("http.route") == "/sessions/{session_id}/segments"]
        assert not stored.exception_events
        assert not [s for s in trace.spans if s.error or "demo.scenario" in s.tags], \
            trace.describe()
        return
    assert response.status_code == 503
    assert response.json()["error"]["dependency"] == "session"
    trace = wait(
        jaeger, response.headers["x-trace-id"],
        lambda t: bool(t.find(service="session", kind="server")), "the failing session span")
    (failing,) = trace.find(service="session", kind="server")
    assert failing.error and failing.tags["demo.scenario"] == "error_injection"
    assert "injected failure" in failing.exception_events[0]["exception.message"]
    assert root(trace).error
