"""Reading traces the way a user sees them in the Jaeger UI: through Jaeger's query API.

The one Jaeger client: the tests, `make trace`, `make doctor` and `make bench` use it.
Spans are exported asynchronously (SDK batch -> collector batch -> Jaeger), so a trace
fills in over a few hundred milliseconds: `wait_for_trace(s)` poll with a deadline, say
what they wait for, and fail with what they last saw. `complete` is the one definition
of "the whole segment trace is there".

A trace can satisfy a test's condition before all of it has arrived (a late retry, an
extra call), so a wait returns the trace only once it has *settled*, by span counts, not
by time: after the condition holds, every span the collector had accepted by then has
left it for Jaeger and every span Jaeger had accepted has been stored (their own
counters), and a re-read finds the same number of spans. Each service's SDK exports its
spans in the order they ended, so a settled trace also holds every span that ended
before its last one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from stackctl.collector_metrics import JAEGER_STORE, TO_JAEGER, TRACES_BATCH, metric_sum
from stackctl.settings import endpoints, setting
from stackctl.topology import EDGES, SEGMENT_SERVER_SPANS_MIN, SERVICES
from stackctl.wait import WaitTimeout, wait_until

DEFAULT_DEADLINE_S = 15.0
# Tail sampling drops spans on purpose, so the collector's counters never balance then:
# past this, a settle goes on without them (and says so nowhere: the re-read still counts).
BARRIER_LIMIT_S = 5.0
# The Monitor tab's rate window (its `ratePer`: PromQL rate() over 10 minutes).
MONITOR_RATE_WINDOW_S = 600
# Jaeger's search depth when a search names no `limit` (its query_parser.go).
JAEGER_DEFAULT_LIMIT = 100
# `held` looks up this many trace ids at most (one request each per round).
HELD_MAX_IDS = 20


def jaeger_max_traces() -> int:
    """The memory store's bound (JAEGER_MAX_TRACES in .env): it keeps the newest this
    many traces, evicts the oldest, and answers a search deeper than that with a 500
    ("search depth must be greater than 0 and less than max traces")."""
    return int(setting("JAEGER_MAX_TRACES"))


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    kind: str
    start_us: int
    duration_us: int
    tags: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def error(self) -> bool:
        return self.tags.get("error") is True or self.tags.get("otel.status_code") == "ERROR"

    @property
    def exception_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "exception"]


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: list[Span]

    @property
    def services(self) -> set[str]:
        return {s.service for s in self.spans}

    def by_id(self, span_id: str | None) -> Span | None:
        return next((s for s in self.spans if s.span_id == span_id), None)

    def parent(self, span: Span) -> Span | None:
        return self.by_id(span.parent_id)

    def find(self, *, service: str | None = None, kind: str | None = None,
             operation: str | None = None) -> list[Span]:
        return [
            s for s in self.spans
            if (service is None or s.service == service)
            and (kind is None or s.kind == kind)
            and (operation is None or s.operation == operation)
        ]

    def children(self, span: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span.span_id]

    def describe(self) -> str:
        return "\n".join(
            f"  {s.service:<9} {s.kind:<8} {s.operation} (parent {s.parent_id})"
            for s in sorted(self.spans, key=lambda s: s.start_us)
        )


def parse_trace(data: dict[str, Any]) -> Trace:
    processes = {pid: p["serviceName"] for pid, p in data["processes"].items()}
    spans = []
    for raw in data["spans"]:
        tags = {t["key"]: t["value"] for t in raw.get("tags", [])}
        parent = next(
            (r["spanID"] for r in raw.get("references", []) if r["refType"] == "CHILD_OF"), None
        )
        events = [{f["key"]: f["value"] for f in log["fields"]} for log in raw.get("logs", [])]
        spans.append(Span(
            span_id=raw["spanID"],
            parent_id=parent,
            service=processes[raw["processID"]],
            operation=raw["operationName"],
            kind=str(tags.get("span.kind", "internal")),
            start_us=raw["startTime"],
            duration_us=raw["duration"],
            tags=tags,
            events=events,
        ))
    return Trace(trace_id=data["traceID"], spans=spans)


def edges(trace: Trace) -> set[tuple[str, str]]:
    """(caller, callee) of every CLIENT span whose child SERVER span is in another service."""
    return {
        (parent.service, span.service)
        for span in trace.spans
        if span.kind == "server" and (parent := trace.parent(span)) is not None
        and parent.kind == "client" and parent.service != span.service
    }


def complete(trace: Trace, server_spans: int = SEGMENT_SERVER_SPANS_MIN) -> bool:
    """A segment call's whole trace is in Jaeger: every service, every call edge of the
    topology, and at least `server_spans` SERVER spans (5 when feedback buzzes)."""
    return (set(SERVICES) <= trace.services and set(EDGES) <= edges(trace)
            and len(trace.find(kind="server")) >= server_spans)


def through_the_watch(trace: Trace) -> bool:
    """A segment call's whole trace, on through RabbitMQ: the watch's CONSUMER span is in
    (a segment that earns a buzz)."""
    return complete(trace) and bool(trace.find(service="watch", kind="consumer"))


def _scrape(url: str) -> str | None:
    """A hop's own metrics (Prometheus text); None when they cannot be read (a deployment
    that does not expose them: that hop is then not waited for)."""
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


def _accepted(text: str) -> float:
    return metric_sum(text, "otelcol_receiver_accepted_spans")


# The two hops between the services' SDKs and Jaeger's store, each judged by its own
# counters. A hop has passed on the spans it had accepted at a mark when:
# - the collector: its traces batch has sent at least that many spans on, and after that
#   its exporter to Jaeger has nothing queued or being sent. Not "exporter sent >=
#   accepted": the exporter's queue lives on disk, and spans an earlier run left in it
#   are sent (and counted) after a restart without this run having accepted them, so that
#   sum balances early while a span still waits in the batch;
# - Jaeger: its storage exporter has stored (or failed) as many spans as its receiver had
#   accepted (its queue is in memory: nothing carries over a restart).
def _left_batch(text: str, mark: float) -> bool:
    return metric_sum(text, "otelcol_processor_batch_batch_send_size_sum",
                      processor=TRACES_BATCH) >= mark


def _exporter_idle(text: str) -> bool:
    return (metric_sum(text, "otelcol_exporter_queue_size", exporter=TO_JAEGER) == 0
            and metric_sum(text, "otelcol_exporter_in_flight_requests", exporter=TO_JAEGER) == 0)


def _stored(text: str, mark: float) -> bool:
    return sum(metric_sum(text, name, exporter=JAEGER_STORE) for name in
               ("otelcol_exporter_sent_spans", "otelcol_exporter_send_failed_spans")) >= mark


class Jaeger:
    def __init__(self, base_url: str, max_traces: int | None = None) -> None:
        """`max_traces`: how many traces this Jaeger keeps (default: JAEGER_MAX_TRACES)."""
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=5.0)
        self.max_traces = jaeger_max_traces() if max_traces is None else max_traces

    def search_limit(self, wanted: int = JAEGER_DEFAULT_LIMIT) -> int:
        """The `limit` a search sends: `wanted`, kept below the number of traces Jaeger
        keeps (the one clamp: a deeper search is a 500, and there is no more to find)."""
        return max(1, min(wanted, self.max_traces - 1))

    def trace_url(self, trace_id: str) -> str:
        """Where the Jaeger UI shows this trace: the link `make up`, `make load` and
        `make slowest` print (same host and port as the API)."""
        return f"{self.base_url}/trace/{trace_id}"

    def barrier(self, limit_s: float = BARRIER_LIMIT_S) -> None:
        """Return once every span the collector had accepted when called has left it, and
        then every span Jaeger had accepted by that point is stored (marks on their
        counters; under a steady load the queue is seen empty between two sends). A step
        still waiting after `limit_s` ends it: spans dropped on purpose (tail sampling)
        never arrive."""
        urls = endpoints()
        steps: list[tuple[str, str, Callable[[str, float], bool]]] = [
            (urls.collector_metrics, "the collector's batch to pass on the spans it had "
                                     "accepted", _left_batch),
            (urls.collector_metrics, "the collector's queue to Jaeger to empty",
             lambda text, _mark: _exporter_idle(text)),
            (urls.jaeger_metrics, "Jaeger to store the spans it had accepted", _stored),
        ]
        for url, what, done in steps:
            text = _scrape(url)
            if text is None:
                continue
            mark = _accepted(text)

            def passed(url: str = url, mark: float = mark,
                       done: Callable[[str, float], bool] = done) -> bool:
                now = _scrape(url)
                return now is None or done(now, mark)

            try:
                wait_until(passed, f"{what} ({url})", limit_s, 0.05)
            except WaitTimeout:
                return  # spans dropped on purpose (tail sampling): nothing to wait for

    def get_trace(self, trace_id: str) -> Trace | None:
        response = self.http.get(f"/api/traces/{trace_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json()["data"]
        return parse_trace(data[0]) if data else None

    def held(self, trace_ids: Iterable[str], deadline_s: float = 5.0) -> set[str]:
        """Which of these traces Jaeger holds: each looked up by id (the first
        HELD_MAX_IDS only), the missing ones again until the deadline, for the newest may
        still be on their way. Still missing then: evicted, or never exported."""
        wanted = list(dict.fromkeys(trace_ids))[:HELD_MAX_IDS]
        found: set[str] = set()

        def all_held() -> bool:
            for trace_id in wanted:
                if trace_id not in found and self.get_trace(trace_id) is not None:
                    found.add(trace_id)
            return len(found) == len(wanted)

        try:
            wait_until(all_held, f"{len(wanted)} trace(s) in Jaeger at {self.base_url}",
                       deadline_s, 0.5)
        except WaitTimeout:
            pass
        return found

    def wait_for_trace(
        self,
        trace_id: str,
        until: Callable[[Trace], bool] = complete,
        what: str = "the complete segment trace",
        deadline_s: float = DEFAULT_DEADLINE_S,
        settle: bool = True,
    ) -> Trace:
        """Poll until the trace satisfies `until` (and has settled, unless `settle` is
        False: for figures of when it first did); fail naming `what` was awaited."""
        return self.wait_for_traces([trace_id], until, what, deadline_s,
                                    settle=settle)[trace_id]

    def wait_for_traces(
        self,
        trace_ids: Iterable[str],
        until: Callable[[Trace], bool] = complete,
        what: str = "the complete segment traces",
        deadline_s: float = DEFAULT_DEADLINE_S,
        interval_s: float = 0.2,
        settle: bool = True,
    ) -> dict[str, Trace]:
        """Poll until every trace satisfies `until`; fail naming `what` and the traces
        still missing (the first one as last seen)."""
        found: dict[str, Trace] = {}
        last: dict[str, Trace | None] = {}
        wanted = list(trace_ids)

        def all_found() -> bool:
            for trace_id in wanted:
                if trace_id in found:
                    continue
                try:
                    trace = self.get_trace(trace_id)
                except httpx.HTTPError:
                    trace = None
                last[trace_id] = trace
                if trace is not None and until(trace):
                    found[trace_id] = trace
            return len(found) == len(wanted)

        def seen() -> str:
            missing = [t for t in wanted if t not in found]
            first = last.get(missing[0])
            return (f"{len(missing)} of {len(wanted)} not there yet; trace {missing[0]}:\n"
                    + (first.describe() if first else "  (trace not found)"))

        description = f"{what} ({len(wanted)} trace(s)) in Jaeger at {self.base_url}"
        wait_until(all_found, description, deadline_s, interval_s, seen)
        return self._settled(found, until, description, deadline_s) if settle else found

    def _settled(self, found: dict[str, Trace], until: Callable[[Trace], bool],
                 what: str, deadline_s: float) -> dict[str, Trace]:
        """Re-read the traces after a barrier until no span count changes across one."""
        def unchanged() -> bool:
            self.barrier()
            changed = False
            for trace_id, trace in list(found.items()):
                again = self.get_trace(trace_id)
                if again is not None and until(again) and len(again.spans) != len(trace.spans):
                    found[trace_id] = again
                    changed = True
            return not changed

        wait_until(unchanged, f"{what}: span counts to settle", deadline_s, 0.0)
        return found

    def count_found(self, trace_ids: Iterable[str], deadline_s: float,
                    until: Callable[[Trace], bool] = complete) -> int:
        """How many of the traces satisfy `until` by the deadline (for figures: losses
        are counted, not raised)."""
        wanted = list(trace_ids)
        try:
            return len(self.wait_for_traces(wanted, until, deadline_s=deadline_s,
                                            interval_s=0.5, settle=False))
        except AssertionError:
            return sum(1 for t in wanted
                       if (trace := self.get_trace(t)) is not None and until(trace))

    def span_counts(self, trace_ids: Iterable[str]) -> tuple[dict[str, int], int]:
        """The spans Jaeger holds for these traces, per service, and how many of the
        traces it does not hold at all (`make bench`'s completeness, the fault tests)."""
        stored: dict[str, int] = {}
        missing = 0
        for trace_id in trace_ids:
            trace = self.get_trace(trace_id)
            if trace is None:
                missing += 1
                continue
            for span in trace.spans:
                stored[span.service] = stored.get(span.service, 0) + 1
        return stored, missing

    def call_rates(self, service: str, lookback_ms: int = 300_000,
                   operation: str | None = None) -> list[float]:
        """The Monitor tab's request rate of `service` (server spans, per second), or of
        one of its operations (the tab's operations table): what Jaeger reads back from
        Prometheus. Empty until span metrics have been scraped. Asked as the UI asks:
        one point a minute; `ratePer` is the PromQL rate() window (not a unit)."""
        params = {"service": service, "spanKind": "server", "step": 60_000,
                  "ratePer": MONITOR_RATE_WINDOW_S * 1000, "lookback": lookback_ms}
        if operation is not None:
            params["groupByOperation"] = "true"
        response = self.http.get("/api/metrics/calls", params=params)
        response.raise_for_status()
        return [value for metric in response.json().get("metrics", [])
                if operation is None
                or {"name": "operation", "value": operation} in metric.get("labels", [])
                for point in metric.get("metricPoints", [])
                if (value := point.get("gaugeValue", {}).get("doubleValue", 0)) > 0]

    def find_traces(self, service: str, **params: Any) -> list[Trace]:
        """Jaeger's search (the UI's left panel): service, operation, tags, minDuration...
        and `limit` (Jaeger's default when absent), clamped by `search_limit`."""
        params["limit"] = self.search_limit(int(params.get("limit", JAEGER_DEFAULT_LIMIT)))
        response = self.http.get("/api/traces", params={"service": service, **params})
        response.raise_for_status()
        return [parse_trace(t) for t in response.json()["data"] or []]
