"""The tests read Jaeger with the same client as `make trace` (stackctl/jaeger.py)."""

from stackctl.jaeger import Jaeger, Span, Trace, parse_trace

__all__ = ["Jaeger", "Span", "Trace", "parse_trace"]
