"""The project's OpenTelemetry distro: the stock one, with the settings that only code can
give.

1. Contrib's FastAPI instrumentation, when it is used (the stack uses FastAPI's own, 3.
   below; OTEL_PYTHON_DISABLED_INSTRUMENTATIONS without `fastapi` brings it back): no ASGI
   `http send` / `http receive` spans. The FastAPI instrumentation opens
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

3. FastAPI's own telemetry, when contrib's FastAPI instrumentation is switched off
   (`fastapi` in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS). FastAPI 0.165 makes the server
   span itself whenever an SDK tracer provider is installed, with the same name and
   `http.route`, and records its two HTTP metrics, without re-matching the route on every
   request as contrib's middleware does. Its settings exist only as a constructor argument,
   `FastAPI(telemetry={...})`, so the distro gives every FastAPI app these defaults (an
   app's own `telemetry=` wins): no operation spans (`fastapi.dependencies`,
   `fastapi.endpoint`, `fastapi.serialization`: three more spans per request, saying what
   the server span says), no FastAPI log records (the logging instrumentation already
   exports the services' own error lines), and the requests that the standard variable
   OTEL_PYTHON_FASTAPI_EXCLUDED_URLS (or OTEL_PYTHON_EXCLUDED_URLS) names left untraced,
   matched against the path. The server span then has no `user_agent.original`,
   `client.address` or `client.port`.

A distro is the hook `opentelemetry-instrument` gives for passing instrumentor arguments,
so the services keep no tracing code. Selected with OTEL_PYTHON_DISTRO=haptitalk (entry
point in pyproject.toml); everything else (exporters, sampler, resource) is the stock
distro's, configured by OTEL_* variables. What each choice saves is measured in
docs/benchmarks.md.
"""

import functools
import os

from opentelemetry.distro import OpenTelemetryDistro
from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
)
from opentelemetry.util.http import get_excluded_urls

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


# FastAPI's own telemetry (3. above): the settings every app gets unless it says otherwise.
FASTAPI_TELEMETRY = {"operation_spans": False, "logs": False}


def fastapi_telemetry_defaults() -> dict:
    """FASTAPI_TELEMETRY, and `exclude` from the standard excluded-URLs variable."""
    excluded = get_excluded_urls("FASTAPI")
    return {**FASTAPI_TELEMETRY,
            "exclude": lambda scope: excluded.url_disabled(scope.get("path", ""))}


def give_fastapi_apps_telemetry_defaults() -> None:
    """Every FastAPI() made from now on gets fastapi_telemetry_defaults() under its own
    `telemetry=` (FastAPI reads the settings only from its constructor)."""
    import fastapi

    made = fastapi.FastAPI.__init__
    if getattr(made, "telemetry_defaults", None) is not None:
        return
    defaults = fastapi_telemetry_defaults()

    @functools.wraps(made)
    def __init__(self, *args, telemetry=None, **kwargs):
        made(self, *args, telemetry={**defaults, **(telemetry or {})}, **kwargs)

    __init__.telemetry_defaults = defaults
    fastapi.FastAPI.__init__ = __init__


def disabled_instrumentations() -> set[str]:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, read as opentelemetry-instrument reads it."""
    value = os.environ.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def set_up_fastapi_telemetry() -> bool:
    """With contrib's FastAPI instrumentation disabled, FastAPI's own telemetry makes the
    server spans: give it the defaults above. Whether it does."""
    if "fastapi" not in disabled_instrumentations():
        return False
    give_fastapi_apps_telemetry_defaults()
    return True


class HaptiTalkDistro(OpenTelemetryDistro):
    def _configure(self, **kwargs):
        super()._configure(**kwargs)
        # Runs before the service is imported, so its FastAPI() already gets them.
        set_up_fastapi_telemetry()

    def load_instrumentor(self, entry_point, **kwargs):
        if entry_point.name in BEFORE_INSTRUMENT:
            BEFORE_INSTRUMENT[entry_point.name]()
        kwargs.update(INSTRUMENT_KWARGS.get(entry_point.name, {}))
        super().load_instrumentor(entry_point, **kwargs)
