"""Unit tests run the services in-process, traced into an in-memory exporter.

This is the one place where tracing is set up in code: the services themselves never do
it (`opentelemetry-instrument` does, in the real stack). Here we install the same
instrumentations by hand so that tests can look at span details without a backend.
Service-to-service calls go through httpx's ASGITransport into the real apps, so the
gateway really calls session and feedback, just without sockets: each app is wired with
`wire`, the function its own lifespan uses, given in-process parts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.telemetry.distro import (
    BEFORE_INSTRUMENT,
    INSTRUMENT_KWARGS,
    set_up_fastapi_telemetry,
)
from stackctl.settings import ROOT

# The stack's settings that decide what is recorded (docker-compose.yml's x-otel-env),
# applied before any instrumentor starts and before the services' apps are made (FastAPI
# reads its telemetry settings when an app is created): the attribute names and the
# server spans below are the ones Jaeger shows.
STACK_OTEL = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-otel-env"]
for _name in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
              "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS"):
    os.environ[_name] = STACK_OTEL[_name]
FASTAPIS_OWN_TELEMETRY = set_up_fastapi_telemetry()  # as the distro does at start-up

from services.common.app import wire  # noqa: E402
from services.common.downstream import Downstream  # noqa: E402
from services.feedback.api import app as feedback_app  # noqa: E402
from services.feedback.cues import CueSender  # noqa: E402
from services.gateway.api import app as gateway_app  # noqa: E402
from services.session.api import app as session_app  # noqa: E402
from services.session.sqlite import SqliteSessionStore  # noqa: E402
from services.watch.client import CuePublisher  # noqa: E402

# No broker for the services in these tests: feedback's lifespan starts its publisher,
# whose cues then wait in the outbox, as when RabbitMQ is down (tests/unit/test_watch.py
# runs a real RabbitMQ).
NO_BROKER = "amqp://guest:guest@127.0.0.1:9/"
os.environ.setdefault("BROKER_URL", NO_BROKER)

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)
SQLite3Instrumentor().instrument()
# aio-pika as the distro instruments it: PRODUCER and CONSUMER spans, and summaries that
# start a new trace linked to their segments' (services/telemetry/links.py).
BEFORE_INSTRUMENT["aio-pika"]()
AioPikaInstrumentor().instrument(**INSTRUMENT_KWARGS["aio-pika"])
# httpx is instrumented per client (in _asgi below), never globally: pytest imports this
# file even when it runs only the e2e tests, whose own httpx calls must stay untraced so
# that the traceparent a test sends is the one the gateway sees.
# The server spans: FastAPI's own telemetry, as in the stack (the SDK provider above is
# all it needs); or contrib's, with the arguments the distro gives it (no send/receive
# spans), when compose brings it back.
if not FASTAPIS_OWN_TELEMETRY:
    for _app in (gateway_app, session_app, feedback_app):
        FastAPIInstrumentor.instrument_app(_app, **INSTRUMENT_KWARGS["fastapi"])


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER


@pytest.fixture
def store(tmp_path: Path) -> SqliteSessionStore:
    return SqliteSessionStore(tmp_path / "session.db")


@pytest.fixture
def session_api(store: SqliteSessionStore) -> Iterator[TestClient]:
    with TestClient(session_app) as client:
        client.portal.call(store.init)
        wire(session_app, store=store)
        yield client


class NetworkHopTransport(httpx.ASGITransport):
    """Calls an app in-process, but like a network hop: the callee starts from an empty
    context and only sees the `traceparent` header, so it opens a SERVER span, as it
    would behind a real socket."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = otel_context.attach(otel_context.Context())
        try:
            return await super().handle_async_request(request)
        finally:
            otel_context.detach(token)


def _asgi(app, name: str, timeout_s: float = 2.0) -> Downstream:
    client = httpx.AsyncClient(transport=NetworkHopTransport(app=app))
    # The hook the stack's distro gives the httpx instrumentor: client spans named for
    # their route (`POST /sessions/{session_id}/segments`).
    HTTPXClientInstrumentor.instrument_client(
        client, request_hook=INSTRUMENT_KWARGS["httpx"]["async_request_hook"])
    return Downstream(name, f"http://{name}", client, timeout_s)


@pytest.fixture
def wired(session_api: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The gateway wired to the real session and feedback apps (in-process)."""
    # The lifespans read where the other services are (compose sets these); `wire` below
    # replaces what they connect with in-process calls before any request is made.
    for name in ("session", "feedback"):
        monkeypatch.setenv(f"{name.upper()}_URL", f"http://{name}")
    with TestClient(feedback_app), TestClient(gateway_app) as gateway:
        wire(feedback_app, session=_asgi(session_app, "session"),
             cues=CueSender(CuePublisher(NO_BROKER)))
        wire(gateway_app, session=_asgi(session_app, "session"),
             feedback=_asgi(feedback_app, "feedback"))
        yield gateway
