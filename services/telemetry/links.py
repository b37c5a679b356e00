"""Span links for messages that sum up others: the distro's one addition to aio-pika.

The aio-pika instrumentation makes each consumed message a CONSUMER span, the child of
the PRODUCER span whose `traceparent` the message carries: right for a cue, wrong for the
summary the watch gets at a session's end, which belongs to no single segment. Such a
message lists the traces it sums up in its `trace-links` header (W3C traceparents;
services/watch/client.py sets it). For it, the CONSUMER span has no parent (it starts a
new trace), a link to each listed trace, and a link to the PRODUCER span that sent it;
the Jaeger UI shows them as references.

The instrumentation has no hook for links, so the distro (distro.py) gives it a tracer
that adds them (`LinkingTracerProvider`, through the instrumentor's `tracer_provider`
argument), and reads the header just before the instrumentation starts the span
(`link_summaries`, around `Queue.consume`, installed before the instrumentation wraps
it). The services only set a header; no service makes a span for this.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# The message header that lists the traces a message sums up: the contract with the
# publisher (services/watch/client.py), as url_template is with Downstream.call.
TRACE_LINKS_HEADER = "trace-links"
# The links of the message being consumed, from link_summaries to _LinkingTracer.
_pending: ContextVar[list[Link] | None] = ContextVar("haptitalk_trace_links", default=None)


def links_of(header) -> list[Link]:
    """The header's traceparents as links; a malformed one is left out."""
    values = header if isinstance(header, list | tuple) else [header]
    links = []
    for value in values:
        text = value.decode() if isinstance(value, bytes) else str(value)
        parent = TraceContextTextMapPropagator().extract({"traceparent": text})
        context = trace.get_current_span(parent).get_span_context()
        if context.is_valid:
            links.append(Link(context, {"haptitalk.link": "summarised"}))
    return links


class _LinkingTracer:
    """The instrumentation's tracer, except for the CONSUMER span of a message with
    `trace-links`: no parent, and the links."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name, context=None, kind=SpanKind.INTERNAL, attributes=None,
                   links=None, *args, **kwargs):
        pending = _pending.get()
        if pending and kind is SpanKind.CONSUMER:
            _pending.set(None)  # this message's span only, not one started inside it
            sender = trace.get_current_span(context).get_span_context()
            links = [*(links or ()), *pending]
            if sender.is_valid:
                links.append(Link(sender, {"haptitalk.link": "sent by"}))
            context = Context()
        return self._tracer.start_span(name, context, kind, attributes, links, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tracer, name)


class LinkingTracerProvider:
    """The global tracer provider (read when asked), handing out _LinkingTracer."""

    def get_tracer(self, *args, **kwargs) -> _LinkingTracer:
        return _LinkingTracer(trace.get_tracer_provider().get_tracer(*args, **kwargs))


def link_summaries() -> None:
    """Wraps aio-pika's Queue.consume *before* the instrumentation wraps it, so that for
    each message this runs first and hands the header's links to the tracer above."""
    import aio_pika  # only imported where aio-pika is instrumented
    import wrapt

    if getattr(aio_pika.Queue.consume, "_haptitalk_links", False):
        return

    def consume(wrapped, instance, args, kwargs):
        callback, *rest = args

        async def with_links(message):
            links = links_of((message.headers or {}).get(TRACE_LINKS_HEADER) or [])
            token = _pending.set(links or None)
            try:
                return await callback(message)
            finally:
                _pending.reset(token)

        return wrapped(with_links, *rest, **kwargs)

    wrapt.wrap_function_wrapper(aio_pika.Queue, "consume", consume)
    aio_pika.Queue.consume._haptitalk_links = True
