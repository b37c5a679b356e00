"""The pitfalls of docs/instrumenting-a-service.md that are about the libraries, checked on
the pinned releases (the in-memory exporter of conftest.py, sqlite3 instrumented as the
stack instruments it): if a release changes the behaviour, the guide is wrong and this fails.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from opentelemetry import trace


def statements(spans) -> list[str]:
    return [s.attributes.get("db.query.text") for s in spans.get_finished_spans()
            if s.attributes.get("db.system.name") == "sqlite"]


def test_sqlite3_traces_cursor_execute_not_connection_execute(spans) -> None:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("SELECT 1 AS through_the_connection")
        connection.cursor().execute("SELECT 2 AS through_a_cursor")
    finally:
        connection.close()
    assert statements(spans) == ["SELECT 2 AS through_a_cursor"]


def test_asyncio_to_thread_keeps_the_trace_context_a_bare_thread_does_not(spans) -> None:
    tracer = trace.get_tracer(__name__)

    def work(name: str) -> None:
        with tracer.start_as_current_span(name):
            pass

    async def request() -> None:
        with tracer.start_as_current_span("request"):
            await asyncio.to_thread(work, "in asyncio.to_thread")
            thread = threading.Thread(target=work, args=("in threading.Thread",))
            thread.start()
            thread.join()

    asyncio.run(request())
    found = {s.name: s for s in spans.get_finished_spans()}
    parent = found["request"].context
    in_to_thread = found["in asyncio.to_thread"]
    assert in_to_thread.parent is not None and in_to_thread.parent.span_id == parent.span_id
    assert in_to_thread.context.trace_id == parent.trace_id
    in_thread = found["in threading.Thread"]
    assert in_thread.parent is None and in_thread.context.trace_id != parent.trace_id
