"""The project's OpenTelemetry distro: the stock one, with two instrumentor arguments that
only code can give.

1. FastAPI: no ASGI `http send` / `http receive` spans. The FastAPI instrumentation opens
   an INTERNAL span around every ASGI `send` and `receive` message: ~4 of the ~10 spans a
   session request makes, each created, exported and stored, while saying nothing a
   reader of the trace needs (the server span already has the status code and the
   duration). Contrib 0.66b1 turns them off only in code
   (`instrument_app(exclude_spans=[...])`), not through an environment variable.
2. httpx: CLIENT spans named for what they call. The instrumentation names a client span
   after its method alone (`POST`), since a URL is not a route: a reader of the trace sees
   "gateway POST" three times. The stable HTTP conventions name it `{method}
   {url.template}` when the template is known, and our clients know their routes:
   `Downstream.call` (services/common/downstream.py) passes the route it filled in as the
   request extension `url_template`, and the request hook below turns it into the span's
   name, `url.template` and `server.address` (the peer's host, whatever the semantic
   conventions mode). A request without the extension keeps the stock name.

A distro is the hook `opentelemetry-instrument` gives for passing instrumentor arguments,
so the services keep no tracing code. Selected with OTEL_PYTHON_DISTRO=haptitalk (entry
point in pyproject.toml); everything else (exporters, sampler, resource) is the stock
distro's, configured by OTEL_* variables. What 1. saves is measured in docs/benchmarks.md.
"""

from opentelemetry.distro import OpenTelemetryDistro

from services.telemetry.links import LinkingTracerProvider, link_summaries

# The request extension Downstream.call sets (services/common/downstream.py): the route
# template, e.g. "/sessions/{session_id}/segments". Its only contract with this file.
URL_TEMPLATE_EXTENSION = "url_template"


def name_client_span(span, request) -> None:
    """httpx request hook: `request` is the instrumentation's RequestInfo (method, url,
    headers, stream, extensions), called right after the CLIENT span starts."""
    template = (request.extensions or {}).get(URL_TEMPLATE_EXTENSION)
    if not template or not span.is_recording():
        return
    span.update_name(f"{request.method.decode()} {template}")
    span.set_attribute("url.template", template)
    if request.url.host:
        span.set_attribute("server.address", request.url.host)
    if request.url.port:
        span.set_attribute("server.port", request.url.port)


async def name_async_client_span(span, request) -> None:
    """The same for httpx.AsyncClient (the instrumentation awaits its async hooks)."""
    name_client_span(span, request)


# Per instrumentation entry point name: the keyword arguments its instrument() gets.
INSTRUMENT_KWARGS = {
    "fastapi": {"exclude_spans": ["send", "receive"]},
    "httpx": {"request_hook": name_client_span, "async_request_hook": name_async_client_span},
    # Summaries start a new trace linked to the ones they sum up (links.py).
    "aio-pika": {"tracer_provider": LinkingTracerProvider()},
}
# Per instrumentation entry point name: what runs just before it is instrumented.
BEFORE_INSTRUMENT = {"aio-pika": link_summaries}


class HaptiTalkDistro(OpenTelemetryDistro):
    def load_instrumentor(self, entry_point, **kwargs):
        if entry_point.name in BEFORE_INSTRUMENT:
            BEFORE_INSTRUMENT[entry_point.name]()
        kwargs.update(INSTRUMENT_KWARGS.get(entry_point.name, {}))
        super().load_instrumentor(entry_point, **kwargs)
