"""Trace signatures the scenario tests and the bench-scenario test both read: the
root span, the CLIENT calls under a span, and whether calls ran one after another or
side by side."""

from __future__ import annotations

from stackctl.jaeger import Span, Trace


def end(span: Span) -> int:
    return span.start_us + span.duration_us


def sequential(spans: list[Span]) -> bool:
    ordered = sorted(spans, key=lambda s: s.start_us)
    return all(end(a) <= b.start_us for a, b in zip(ordered, ordered[1:], strict=False))


def overlapping(spans: list[Span]) -> bool:
    ordered = sorted(spans, key=lambda s: s.start_us)
    return any(b.start_us < end(a) for a, b in zip(ordered, ordered[1:], strict=False))


def client_calls(trace: Trace, parent: Span, to_route: str | None = None) -> list[Span]:
    """CLIENT spans under `parent` (optionally only those whose callee served `to_route`)."""
    calls = [s for s in trace.children(parent) if s.kind == "client"]
    if to_route is None:
        return calls
    return [c for c in calls
            if any(srv.tags.get("http.route") == to_route for srv in trace.children(c))]


def root(trace: Trace) -> Span:
    (span,) = [s for s in trace.spans if s.parent_id is None]
    return span
