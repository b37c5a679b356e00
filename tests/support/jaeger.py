"""The tests read Jaeger with the same client as `make trace` (infra/jaeger/query.py)."""

from infra.jaeger.query import Jaeger, Span, Trace, parse_trace

__all__ = ["Jaeger", "Span", "Trace", "parse_trace"]
