"""watch service HTTP API (WATCH_PORT in .env): what the watch app reads.

Run: opentelemetry-instrument uvicorn services.watch.api:app --port $WATCH_PORT

    GET /watch/{session_id}/cues        the session's cues as Server-Sent Events: those
                                        delivered so far, then each new one; the stream
                                        ends with the session's summary
    GET /watch/{session_id}/delivered   the same as one JSON document (for tests)

Cues arrive from RabbitMQ (consumer.py), not over HTTP. While the broker is unreachable
both routes answer 503 naming it at once: the watch could only serve a stale list, and a
stream that waits for a broker that is down would hang.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path
from fastapi.responses import StreamingResponse

from services.common.app import create_service_app, part, wire
from services.common.errors import DependencyUnavailable
from services.scenarios.admin import install_admin
from services.session.models import SESSION_ID_PATTERN
from services.watch.client import broker_url
from services.watch.consumer import CueConsumer
from services.watch.models import CueMessage, Delivered, SessionSummary
from services.watch.store import CueLog

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="32 hex characters")]
# An SSE comment this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    cues = CueLog()
    async with CueConsumer(broker_url(), cues) as consumer:
        wire(app, consumer=consumer, cues=cues)
        yield


def consuming(consumer: Annotated[CueConsumer, Depends(part("consumer"))]) -> CueLog:
    if not consumer.consuming:
        raise DependencyUnavailable("rabbitmq", consumer.last_error)
    return consumer.cues


Cues = Annotated[CueLog, Depends(consuming)]


app = create_service_app("watch", "Haptic cues for the smartwatch, consumed from RabbitMQ.",
                         lifespan)
# slow_consumer changes the prefetch: the broker is told at once, not at the next connect.
install_admin(app, "watch",
              on_switch=lambda request, _: part("consumer")(request).apply_prefetch())


@app.get("/watch/{session_id}/delivered", response_model=Delivered)
async def delivered(session_id: SessionId, cues: Cues) -> Delivered:
    return cues.delivered(session_id)


@app.get("/watch/{session_id}/cues", response_class=StreamingResponse,
         responses={200: {"content": {"text/event-stream": {}},
                          "description": "`event: cue` per cue, `event: summary` last"}})
async def stream(session_id: SessionId, cues: Cues) -> StreamingResponse:
    so_far, queue = cues.listen(session_id)

    async def events() -> AsyncIterator[str]:
        try:
            for cue in so_far.cues:
                yield _event(cue)
            if so_far.summary is not None:
                yield _event(so_far.summary)
                return
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield _event(item)
                if isinstance(item, SessionSummary):
                    return
        finally:
            cues.unlisten(session_id, queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _event(item: CueMessage | SessionSummary) -> str:
    kind = "summary" if isinstance(item, SessionSummary) else "cue"
    ident = item.session_id if isinstance(item, SessionSummary) else item.segment_id
    return f"event: {kind}\nid: {ident}\ndata: {item.model_dump_json()}\n\n"
