"""Outages must break no requests, and lose no span past the services' SDKs (issue:
reliability).

Each test runs a steady load (tests/support/load.py), breaks one part of the stack for a
while, repairs it, and checks what users and traces saw, counted in spans. Each writes its
figures to reports/reliability/<test>.json; docs/reliability.md quotes them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from stackctl.collector_metrics import TO_JAEGER, metric_sum, scrape, spans_made_settled
from stackctl.jaeger import Jaeger, complete
from stackctl.local import Processes, compose_model, to_local
from stackctl.sample import CALM_SEGMENT, NEW_SESSION
from stackctl.topology import SERVICES, WATCH
from stackctl.wait import WaitTimeout, wait_until
from tests.support.load import Load, Outcome, p99, trace_ids
from tests.support.settle import assert_waits_return_whole_traces
from tests.support.stack import (
    ROOT,
    Endpoints,
    collector_metric,
    rss_mb,
    service_log,
    setting,
    stack_mode,
    start_service,
    stop_service,
)

OUTAGE_S = 20
# A new request's whole trace after the collector is back (OTLP/HTTP): 0.6-2.0 s measured.
# Not a hard second: the SDK's exporter may be asleep in a retry pause of the outage's
# last batch (1, 2, then 4 s, each +-20 %, inside its 10 s export timeout), and the next
# batch waits for it. The bound is that longest pause plus the export.
RECOVERY_BOUND_S = 5.0
# The SDKs' exporters back off between retries (1 s, 2 s, ... per batch): about one
# warning a second across traces, logs and metrics (21-24 in 20 s measured). One per
# request or per span, the flood this guards against, would be hundreds.
WARNINGS_PER_OUTAGE_SECOND = 1.5
# Resident memory may move by a megabyte or two as Python's allocator takes new arenas
# (measured: +0.1-0.5 MB); a leak of 1.5 KB per request grows it by ~4 MB in a 3-minute
# soak's last two minutes (~21 requests/s), ~17 MB in the 10-minute one.
RSS_GROWTH_BOUND_MB = 3.0


def report(name: str, figures: dict) -> None:
    out = ROOT / "reports" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(f"\n{name}: {json.dumps(figures)}")


def ok(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status == 200]


def export_warnings(service: str) -> int:
    return sum(1 for line in service_log(service).splitlines()
               if "export" in line.lower() and ("warn" in line.lower() or "error" in line.lower()
                                                or "Transient" in line))


# Counted in spans, per service: the spans the services made in a window (what the
# collector's span_metrics connector counted, its counters read before and after, each
# time once they have stopped moving) against the spans Jaeger holds for the window's
# traces (every request of the load, its session creations included). Only these
# services: the spans of anything else the collector sees (probes, other tools) are
# not the load's. The watch makes spans only for a cue, which a calm segment never earns.
COUNTED = (*SERVICES, WATCH)
# Spans no load makes: after every test, conftest's no_scenario_left_on reads the admin
# APIs (6 spans), and those spans were once counted 8 s later, inside the next window.
NOT_THE_LOAD = r"/admin/"


def spans_made_now() -> dict[str, float]:
    return spans_made_settled(leave_out=NOT_THE_LOAD)
# Jaeger has the spans the collector had queued within this (its retries wait up to 10 s).
DRAIN_DEADLINE_S = 60.0


def made_between(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {s: round(after.get(s, 0) - before.get(s, 0)) for s in COUNTED}


def spans_in_jaeger(jaeger: Jaeger, traces: list[str], made: dict[str, int]
                    ) -> tuple[dict[str, int], float]:
    """Spans per service Jaeger holds for `traces`, read until they are as many as were
    made or DRAIN_DEADLINE_S passes (a loss is then the caller's figure to report, not an
    error here); and how long that took."""
    started = time.monotonic()
    stored: dict[str, int] = {}

    def all_there() -> bool:
        counts, _missing = jaeger.span_counts(traces)
        stored.clear()
        stored.update({s: counts.get(s, 0) for s in sorted({*COUNTED, *counts})})
        return stored == {s: made.get(s, 0) for s in stored}

    try:
        wait_until(all_there, f"the spans of {len(traces)} traces in Jaeger",
                   DRAIN_DEADLINE_S, 1.0)
    except WaitTimeout:
        pass
    return stored, time.monotonic() - started


def spans_missing(made: dict[str, int], stored: dict[str, int]) -> str:
    """'' when Jaeger holds exactly the spans made; else which services differ."""
    return ", ".join(f"{s}: {made.get(s, 0)} made, {stored.get(s, 0)} in Jaeger"
                     for s in sorted({*made, *stored}) if made.get(s, 0) != stored.get(s, 0))


def sizes(jaeger: Jaeger, traces: list[str]) -> dict[int, int]:
    """How many of the traces hold each number of spans (0: not in Jaeger): where a
    difference in the counts lies, whole traces or a few spans of some."""
    seen = Counter(len(t.spans) if (t := jaeger.get_trace(i)) else 0 for i in traces)
    return dict(sorted(seen.items()))


def shapes(jaeger: Jaeger, outcomes: list[Outcome]) -> dict[str, int]:
    """The spans each kind of trace holds (a segment call with or without a buzz, a
    session creation), when every trace of a kind holds as many: the known shapes, read
    from the baseline's traces; fails naming the counts seen."""
    kinds = {"buzz": [o.trace_id for o in outcomes if o.trace_id and o.buzz],
             "no buzz": [o.trace_id for o in outcomes if o.trace_id and not o.buzz],
             "session": [o.setup_trace_id for o in outcomes if o.setup_trace_id]}
    found: dict[str, int] = {}
    for kind, traces in kinds.items():
        if not traces:
            continue
        counts = {len(t.spans) for t in jaeger.wait_for_traces(
            traces, lambda t: bool(t.spans), f"the baseline's traces ({kind})").values()}
        assert len(counts) == 1, f"traces of one kind ({kind}) with different span counts: " \
            f"{counts}"
        found[kind] = counts.pop()
    return found


def by_shape(found: dict[str, int], outcomes: list[Outcome]) -> int:
    """The spans these requests made, from the known shape of each."""
    return sum(found["buzz" if o.buzz else "no buzz"] for o in outcomes if o.trace_id) \
        + sum(found["session"] for o in outcomes if o.setup_trace_id)


def test_collector_outage_breaks_no_request(endpoints: Endpoints, jaeger: Jaeger) -> None:
    warnings_before = export_warnings("gateway")
    made_at_start = spans_made_now()
    with Load(endpoints.gateway, workers=4) as load:
        baseline = load.between(*load.hold(5))
    # Every baseline span has reached the collector before it stops (its counters stopped
    # moving): what the restarted collector counts, from 0, is the window's alone.
    made_baseline = made_between(made_at_start, spans_made_now())
    recovery_traces: list[str] = []
    stop_service("otel-collector")
    with Load(endpoints.gateway, workers=4) as window:
        try:
            outage = window.between(*window.hold(OUTAGE_S))
        finally:
            start_service("otel-collector")
        # Spans flow again: a request made as the collector is back is whole in Jaeger
        # within RECOVERY_BOUND_S (OTLP/HTTP: the next export simply succeeds).
        recovered_s = recovery_s(endpoints.gateway, jaeger, time.monotonic(), 10,
                                 recovery_traces)
        after = window.between(*window.hold(3))
    # What reached the restarted collector: the spans the SDKs still held in their queues
    # when it came back, and everything made after.
    made_window = made_between({}, spans_made_now())

    everything = baseline + window.outcomes
    assert everything and all(o.status == 200 for o in everything), \
        sorted({o.status for o in everything})
    # Export is asynchronous: an unreachable collector must not slow requests down.
    bound = max(2 * p99(baseline), p99(baseline) + 0.15)
    assert p99(outage) <= bound, f"p99 {p99(outage):.3f}s in the outage, bound {bound:.3f}s"
    warnings = export_warnings("gateway") - warnings_before

    stored_baseline, _ = spans_in_jaeger(jaeger, trace_ids(load.outcomes), made_baseline)
    window_traces = trace_ids(window.outcomes) + recovery_traces
    stored_window, drain_s = spans_in_jaeger(jaeger, window_traces, made_window)
    window_sizes = sizes(jaeger, window_traces)
    # recovery_s's session creation and calm segment call (presentation mode: no buzz).
    recovery_spans = sum(len(t.spans) for t in jaeger.wait_for_traces(
        recovery_traces, lambda t: bool(t.spans), "recovery_s's traces").values())
    # What the SDKs made in the outage, from the known shape of each call (the baseline's
    # calls, all alike): the collector never saw what they dropped (a failed export's
    # batch, and the oldest spans once a queue of 2048 was full), so span_metrics cannot
    # count it. Reported, not bound: docs/reliability.md says why it is lost.
    known = shapes(jaeger, load.outcomes)
    made_by_shape = by_shape(known, window.outcomes) + recovery_spans
    after_traces = [o.trace_id for o in after if o.trace_id]
    after_stored, _missing = jaeger.span_counts(after_traces)
    after_by_shape = by_shape(known, [o for o in after if o.trace_id])
    report("collector_outage", {
        "requests": len(everything), "failed": 0,
        "baseline_p99_ms": round(p99(baseline) * 1000, 1),
        "outage_p99_ms": round(p99(outage) * 1000, 1),
        "gateway_export_warnings": warnings,
        "recovered_trace_s": round(recovered_s, 2),
        "baseline_spans_made": made_baseline, "baseline_spans_in_jaeger": stored_baseline,
        "window_spans_reaching_collector": made_window,
        "window_spans_in_jaeger": stored_window, "window_drain_s": round(drain_s, 1),
        "window_spans_by_shape": made_by_shape,
        "window_spans_dropped_by_sdks": made_by_shape - sum(made_window.values()),
        "spans_per_trace": known, "window_traces_by_span_count": window_sizes,
        "after_traces": len(after_traces),
        "after_spans_by_shape": after_by_shape,
        "after_spans_in_jaeger": sum(after_stored.values()),
    })
    assert warnings <= WARNINGS_PER_OUTAGE_SECOND * OUTAGE_S, \
        f"{warnings} export warnings from gateway in {OUTAGE_S}s"
    assert recovered_s <= RECOVERY_BOUND_S, \
        f"a new trace took {recovered_s:.2f}s to reach Jaeger after the collector was back"
    assert not spans_missing(made_baseline, stored_baseline), \
        "baseline spans lost: " + spans_missing(made_baseline, stored_baseline)
    # Every span that reached the collector once it was back, the ones the SDKs had
    # queued through the outage included, is in Jaeger.
    assert not spans_missing(made_window, stored_window), \
        "spans the restarted collector received are not in Jaeger: " \
        + spans_missing(made_window, stored_window)
    # And nothing is lost once it is back: the calls made after it are whole.
    assert sum(after_stored.values()) == after_by_shape, \
        (f"{after_by_shape - sum(after_stored.values())} spans of the "
         f"{len(after_traces)} calls after the outage missing in Jaeger")


def recovery_s(gateway_url: str, jaeger: Jaeger, healthy_at: float, deadline_s: float,
               made: list[str] | None = None) -> float:
    """Seconds from `healthy_at` until a request made now is whole in Jaeger (its two
    calls' trace ids appended to `made`)."""
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        created = client.post("/api/sessions", json=NEW_SESSION)
        sid = created.json()["session_id"]
        trace_id = client.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT
                               ).headers["x-trace-id"]
    if made is not None:
        made += [created.headers["x-trace-id"], trace_id]
    # No settle here: the figure is when the trace is first whole, not the barrier after.
    jaeger.wait_for_traces([trace_id], complete, "a trace after the collector came back",
                           deadline_s, 0.05, settle=False)
    return time.monotonic() - healthy_at


# How long the gRPC copy gets to deliver a whole trace after the outage.
GRPC_DEADLINE_S = 30.0


def test_otlp_http_export_recovers_much_faster_than_grpc(endpoints: Endpoints, jaeger: Jaeger,
                                                         tmp_path: Path) -> None:
    """Why docker-compose.yml sets OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf: through the
    same collector outage, copies of the services exporting over gRPC (the distro's
    default; BENCH_*_PORT) take several times longer to deliver a new trace."""
    if stack_mode() == "compose":
        pytest.skip("runs copies of the services as local processes (local mode)")
    ports = {f"{s.upper()}_PORT": setting(f"BENCH_{s.upper()}_PORT") for s in SERVICES}
    programs = [p for p in to_local(compose_model(ports)) if p.name in SERVICES]
    for p in programs:
        p.environment.update({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                              "OTEL_EXPORTER_OTLP_ENDPOINT": endpoints.otlp_grpc,
                              "SESSION_DB_PATH": str(tmp_path / "session.db")})
    grpc_gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    seconds: dict[str, float] = {}
    with Processes(programs, tmp_path / "logs"), Load(endpoints.gateway, workers=1) as load, \
            Load(grpc_gateway, workers=1):
        load.hold(3)
        stop_service("otel-collector")
        try:
            load.hold(OUTAGE_S)
        finally:
            start_service("otel-collector")
        healthy_at = time.monotonic()

        def measure(name: str, url: str) -> None:
            try:
                seconds[name] = recovery_s(url, jaeger, healthy_at, GRPC_DEADLINE_S)
            except WaitTimeout:
                # Not whole within the deadline: it took at least that long (gRPC did,
                # once in CI: its channel's reconnect backoff outlasted 30 s).
                seconds[name] = float("inf")

        threads = [threading.Thread(target=measure, args=(name, url))
                   for name, url in (("http", endpoints.gateway), ("grpc", grpc_gateway))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    report("export_protocol_recovery", {k: round(v, 2) if v != float("inf")
                                        else f">{GRPC_DEADLINE_S:g}" for k, v in seconds.items()})
    assert seconds["http"] <= RECOVERY_BOUND_S, seconds
    # Several times slower: 3.2x-11x measured (gRPC 6.5-8.7 s, once > 30 s).
    assert seconds["grpc"] > 2.5 * seconds["http"], seconds


def test_jaeger_outage_spans_wait_in_the_collector(endpoints: Endpoints, jaeger: Jaeger) -> None:
    # Jaeger's memory storage restarts empty, so the window opens with Jaeger stopped:
    # whatever it holds of the load's traces came from the collector's retrying queue.
    stop_service("jaeger")
    down = True
    try:
        made_before = spans_made_now()
        failed_before = collector_metric("otelcol_exporter_send_failed_spans")
        with Load(endpoints.gateway, workers=3) as load:
            outage = load.between(*load.hold(OUTAGE_S))
            start_service("jaeger")
            down = False
            load.hold(2)
    finally:
        if down:
            start_service("jaeger")
    made = made_between(made_before, spans_made_now())
    sent = [o.trace_id for o in ok(outage) if o.trace_id]
    assert sent and len(sent) == len(outage), "requests failed while Jaeger was down"
    assert all(o.status == 200 for o in load.outcomes), sorted({o.status for o in load.outcomes})
    stored, drain_s = spans_in_jaeger(jaeger, trace_ids(load.outcomes), made)
    found = jaeger.count_found(sent, deadline_s=10)
    figures = {"traces_sent_during_outage": len(sent), "found_after": found,
               "requests": len(load.outcomes), "spans_made": made,
               "spans_in_jaeger": stored, "drain_s": round(drain_s, 1),
               "collector_send_failed_spans": collector_metric(
                   "otelcol_exporter_send_failed_spans") - failed_before}
    if spans_missing(made, stored):
        figures["traces_by_span_count"] = sizes(jaeger, trace_ids(load.outcomes))
    report("jaeger_outage", figures)
    assert sum(made.values()) > 0, "span_metrics counted no span of the load"
    assert not spans_missing(made, stored), "spans lost: " + spans_missing(made, stored)
    assert found == len(sent), f"{len(sent) - found} of {len(sent)} traces not whole"


def test_collector_restart_keeps_queued_spans(endpoints: Endpoints, jaeger: Jaeger) -> None:
    stop_service("jaeger")  # nothing can leave the collector: spans queue on disk
    try:
        made_before = spans_made_now()
        with Load(endpoints.gateway, workers=2) as load:
            load.hold(8)
        # Once span_metrics' counts stop moving, the collector has taken in every span
        # the load made (and queued it for Jaeger): the restart comes after that.
        made = made_between(made_before, spans_made_now())
        queued = collector_metric("otelcol_exporter_queue_size")
        stop_service("otel-collector")
        start_service("otel-collector")
    finally:
        start_service("jaeger")
    sent = [o.trace_id for o in ok(load.outcomes) if o.trace_id]
    stored, drain_s = spans_in_jaeger(jaeger, trace_ids(load.outcomes), made)
    found = jaeger.count_found(sent, deadline_s=10)
    figures = {"traces_queued": len(sent), "queue_size_before_restart": queued,
               "spans_made": made, "spans_in_jaeger": stored, "drain_s": round(drain_s, 1),
               "found_after": found}
    if spans_missing(made, stored):
        figures["traces_by_span_count"] = sizes(jaeger, trace_ids(load.outcomes))
    report("collector_restart_with_queue", figures)
    assert sum(made.values()) > 0, "span_metrics counted no span of the load"
    assert not spans_missing(made, stored), \
        "spans lost in the restart: " + spans_missing(made, stored)
    assert found == len(sent), f"{len(sent) - found} of {len(sent)} traces lost in the restart"
    # What the restarted collector sent from its queue on disk it never accepted, so its
    # exporter's "sent" now runs ahead of its receiver's "accepted" (CI once met this in
    # a later stack: a wait returned a trace one span short). Waits must still settle.
    text = scrape()
    assert (metric_sum(text, "otelcol_exporter_sent_spans", exporter=TO_JAEGER)
            > metric_sum(text, "otelcol_receiver_accepted_spans")), "no replay to test against"
    assert_waits_return_whole_traces(jaeger, tries=5)


def test_slow_downstream_times_out_without_piling_up(endpoints: Endpoints) -> None:
    gateway = httpx.Client(base_url=endpoints.gateway, timeout=30)
    # feedback's scorer takes 5 s, longer than the gateway's 3 s budget for the call. A
    # planted delay is on only with its switch (pool_of_one: one slot, so the abandoned
    # calls queue in feedback; switched off, they finish at the 5 ms default).
    response = gateway.put("/admin/scenarios/pool_of_one",
                           json={"enabled": True, "params": {"scorer_ms": 5000}})
    assert response.status_code == 200, response.text
    try:
        with Load(endpoints.gateway, workers=6, timeout_s=15) as load:
            # Measured after a warm-up under the same load: what a process allocates once
            # (pools, caches; +2.9 MB in a fresh compose container) is not piling up.
            load.hold(5)
            rss_before = rss_mb("feedback"), rss_mb("gateway")
            slow = load.between(*load.hold(15))
    finally:
        gateway.put("/admin/scenarios/pool_of_one", json={"enabled": False})
    assert slow
    assert all(o.status == 503 for o in slow), sorted({o.status for o in slow})
    worst = max(o.seconds for o in slow)
    assert worst < 3.6, f"a call took {worst:.2f}s; the budget is 3 s"

    # No backlog: once feedback is fast again, calls are fast at once (the abandoned
    # calls finished in feedback within their 5 s).
    sid = gateway.post("/api/sessions", json=NEW_SESSION).json()["session_id"]

    def fast_call() -> bool:
        started = time.monotonic()
        response = gateway.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
        return response.status_code == 200 and time.monotonic() - started < 1.0

    wait_until(fast_call, "a fast call once the downstream recovered", 10, 0.5)
    rss_after = rss_mb("feedback"), rss_mb("gateway")
    report("slow_downstream", {
        "requests": len(slow), "all_503": True, "worst_s": round(worst, 2),
        "rss_mb_before": [round(x, 1) for x in rss_before],
        "rss_mb_after": [round(x, 1) for x in rss_after]})
    # Flat: what the abandoned calls held is freed (80.5 -> 80.5 and 80.9 -> 81.5 MB measured).
    growth = max(rss_after[0] - rss_before[0], rss_after[1] - rss_before[1])
    assert growth <= RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB: {rss_before} -> {rss_after}"


@pytest.mark.soak
def test_soak(endpoints: Endpoints) -> None:
    """Steady load for SOAK_MINUTES (10 in `make test-soak`, 3 in .ci/run): zero errors,
    and resident memory flat after the first minute."""
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    with Load(endpoints.gateway, workers=3, pause_s=0.1) as load:
        load.hold(60)
        early = {s: rss_mb(s) for s in SERVICES}
        load.hold(minutes * 60 - 60)
        late = {s: rss_mb(s) for s in SERVICES}
    errors = [o for o in load.outcomes if o.status != 200]
    report("soak", {"minutes": minutes, "requests": len(load.outcomes), "errors": len(errors),
                    "rss_mb_at_1_min": early, "rss_mb_at_end": late})
    assert not errors
    for service in SERVICES:
        assert late[service] - early[service] <= RSS_GROWTH_BOUND_MB, (service, early, late)


def test_report_folder_is_gitignored() -> None:
    assert "reports/" in Path(ROOT / ".gitignore").read_text()
