"""W3C baggage made searchable: allow-listed entries copied onto the server span.

The load generator sets `session.id` and `synthetic_request` as baggage on every request
of a journey; the instrumentation propagates baggage to every service already (it is in
the default OTEL_PROPAGATORS), and this middleware turns the entries into span attributes,
so Jaeger's tag search finds them.
"""

from opentelemetry import baggage, trace
from starlette.types import ASGIApp, Receive, Scope, Send

# Baggage keys worth seeing on every span of a request (set by the load generator; see
# loadtest/locustfile.py). An allow-list: baggage comes from outside and must not flood
# spans with arbitrary attributes.
BAGGAGE_TO_ATTRIBUTES = ("session.id", "synthetic_request")
MAX_BAGGAGE_VALUE = 128


class BaggageToSpanMiddleware:
    """Copies allow-listed W3C baggage entries onto the server span.

    The instrumentation already extracts and forwards `baggage` (it is in the default
    OTEL_PROPAGATORS); this makes it *searchable*: Jaeger's tag search
    `synthetic_request=true` finds every trace the load test produced, in every service.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            entries = baggage.get_all()
            if entries:
                span = trace.get_current_span()
                for key in BAGGAGE_TO_ATTRIBUTES:
                    value = entries.get(key)
                    if isinstance(value, str):
                        span.set_attribute(key, value[:MAX_BAGGAGE_VALUE])
        await self.app(scope, receive, send)
