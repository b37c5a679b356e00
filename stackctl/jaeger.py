"""Reading traces the way a user sees them in the Jaeger UI: through Jaeger's query API.

Used by the tests, `make trace` and `make load`'s summary. Every wait polls with a
deadline: spans are exported asynchronously (SDK batch -> collector batch -> Jaeger), so a
trace fills in over a few hundred milliseconds. No test sleeps and hopes; each one says
what it waits for and fails with what it last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_DEADLINE_S = 15.0


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


class Jaeger:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=5.0)

    def services(self) -> list[str]:
        return self.http.get("/api/services").json()["data"] or []

    def get_trace(self, trace_id: str) -> Trace | None:
        response = self.http.get(f"/api/traces/{trace_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json()["data"]
        return parse_trace(data[0]) if data else None

    def wait_for_trace(
        self,
        trace_id: str,
        until: Callable[[Trace], bool],
        what: str,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> Trace:
        """Poll until the trace satisfies `until`; fail naming `what` was awaited."""
        end = time.monotonic() + deadline_s
        last: Trace | None = None
        while time.monotonic() < end:
            last = self.get_trace(trace_id)
            if last is not None and until(last):
                return last
            time.sleep(0.2)
        seen = last.describe() if last else "  (trace not found)"
        raise AssertionError(
            f"trace {trace_id}: waited {deadline_s:g}s for {what}; last seen:\n{seen}"
        )

    def find_traces(self, service: str, **params: Any) -> list[Trace]:
        """Jaeger's search (the UI's left panel): service, operation, tags, minDuration..."""
        response = self.http.get("/api/traces", params={"service": service, **params})
        response.raise_for_status()
        return [parse_trace(t) for t in response.json()["data"] or []]
