"""How feedback sends a cue to the watch: one message on RabbitMQ per cue, never holding
the request that made it.

The aio-pika instrumentation (zero-code, like httpx's) makes each publish a PRODUCER span
and injects the W3C `traceparent` into the message headers; the watch's CONSUMER span
becomes its child, so the trace runs on from the segment call to the watch's buzz.

Publishing is bounded: a publish waits at most PUBLISH_TIMEOUT_S for the broker's
confirm. A cue that cannot be published then (broker down, slow, not connected yet) goes
to an in-memory outbox, which a background task sends, oldest first, once the broker is
back. The segment call answers 200 either way: session keeps the cue as before, and the
watch gets it late rather than never. The message id is the segment id and the watch
delivers a segment's cue once, so a cue published twice (a confirm lost to the timeout,
then sent again from the outbox) is still delivered once.

Why an in-memory outbox and not a table: feedback stores nothing, and the outbox only has
to outlast a broker outage. It does not outlast a restart of feedback itself (those cues
stay in session, unbuzzed); a durable outbox would be a table in session, written in the
same transaction as the cue.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections import deque

import aio_pika
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import AMQPError
from yarl import URL

from services.watch.models import (
    CUE_ROUTING_KEY,
    EXCHANGE,
    QUEUE,
    SUMMARY_ROUTING_KEY,
    CueMessage,
    SessionSummary,
)

log = logging.getLogger("haptitalk.watch.client")

# A confirm from a healthy broker on the same network takes a millisecond or two; past
# this the cue goes to the outbox and the segment call goes on (its budget at the
# gateway is 3 s for the whole feedback call).
PUBLISH_TIMEOUT_S = 0.25
CONNECT_TIMEOUT_S = 2.0
RECONNECT_S = 1.0
# Cues kept while the broker is away: ~20 minutes of one busy session per second. Past
# it the oldest are dropped (counted in `dropped`, logged): memory stays bounded.
OUTBOX_MAX = 10_000
# The message header that lists the W3C traceparents a message sums up: its CONSUMER
# span starts a new trace linked to each (services/telemetry/distro.py reads it).
TRACE_LINKS_HEADER = "trace-links"


def broker_url() -> str:
    """Where RabbitMQ is: BROKER_URL, set by docker-compose.yml from .env (no default
    here: a port is written once, in .env)."""
    url = os.environ.get("BROKER_URL")
    if not url:
        raise RuntimeError("BROKER_URL is not set: the AMQP URL of RabbitMQ "
                           "(docker-compose.yml sets it from .env)")
    return url


async def declare(channel: aio_pika.abc.AbstractChannel,
                  ) -> tuple[AbstractExchange, aio_pika.abc.AbstractQueue]:
    """The topology both sides declare (idempotent): durable exchange, durable queue."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                              durable=True)
    queue = await channel.declare_queue(QUEUE, durable=True)
    for key in (CUE_ROUTING_KEY, SUMMARY_ROUTING_KEY):
        await queue.bind(exchange, key)
    return exchange, queue


class CuePublisher:
    """One connection per process, kept open (and reopened) by a background task."""

    def __init__(self, url: str, timeout_s: float = PUBLISH_TIMEOUT_S,
                 outbox_max: int = OUTBOX_MAX) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._exchange: AbstractExchange | None = None
        # Each entry keeps the context it was made in: sent later from the outbox, the
        # PRODUCER span still joins the trace of the segment call that made the cue.
        self._outbox: deque[tuple[aio_pika.Message, str, contextvars.Context]] = deque(
            maxlen=outbox_max)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    @property
    def connected(self) -> bool:
        return self._exchange is not None

    @property
    def pending(self) -> int:
        return len(self._outbox)

    async def __aenter__(self) -> CuePublisher:
        self._task = asyncio.create_task(self._keep_connected())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def publish_cue(self, cue: CueMessage) -> bool:
        """True if the broker confirmed it now; False if it waits in the outbox."""
        return await self._publish(_message(cue.model_dump_json(), cue.segment_id, "cue"),
                                   CUE_ROUTING_KEY)

    async def publish_summary(self, summary: SessionSummary, links: list[str]) -> bool:
        """The end of a session; `links` are the traceparents of its segments' traces."""
        message = _message(summary.model_dump_json(), f"summary-{summary.session_id}",
                           "summary")
        message.headers[TRACE_LINKS_HEADER] = list(links)
        return await self._publish(message, SUMMARY_ROUTING_KEY)

    async def _publish(self, message: aio_pika.Message, key: str) -> bool:
        # Behind earlier cues still in the outbox: they go first, in order.
        if self._exchange is not None and not self._outbox:
            try:
                await self._send(message, key)
                return True
            except (TimeoutError, AMQPError, OSError, RuntimeError) as exc:
                log.warning("cue %s not confirmed within %gs (%s): kept in the outbox",
                            message.message_id, self.timeout_s, type(exc).__name__)
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
            log.error("outbox full (%d cues): oldest cue dropped", len(self._outbox))
        self._outbox.append((message, key, contextvars.copy_context()))
        self._wake.set()
        return False

    async def _send(self, message: aio_pika.Message, key: str) -> None:
        exchange = self._exchange
        if exchange is None:
            raise RuntimeError("not connected")
        async with asyncio.timeout(self.timeout_s):
            await exchange.publish(message, routing_key=key)

    async def _drain(self) -> None:
        while self._outbox:
            message, key, context = self._outbox[0]
            try:
                await asyncio.create_task(self._send(message, key), context=context)
            except (TimeoutError, AMQPError, OSError, RuntimeError):
                return  # the broker went away again; the connection loop retries
            self._outbox.popleft()

    async def _keep_connected(self) -> None:
        while True:
            try:
                connection = await aio_pika.connect(self.url, timeout=CONNECT_TIMEOUT_S)
            except (TimeoutError, AMQPError, OSError) as exc:
                log.warning("RabbitMQ unreachable at %s (%s); %d cue(s) waiting",
                            _safe(self.url), type(exc).__name__, len(self._outbox))
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                channel = await connection.channel(publisher_confirms=True)
                self._exchange, _ = await declare(channel)
                closed = asyncio.ensure_future(lost(connection))
                while not closed.done():
                    await self._drain()
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({closed, wake}, timeout=RECONNECT_S,
                                       return_when=asyncio.FIRST_COMPLETED)
                    wake.cancel()
            except (TimeoutError, AMQPError, OSError) as exc:
                log.warning("lost RabbitMQ (%s)", type(exc).__name__)
            finally:
                self._exchange = None
                await asyncio.shield(_close(connection))
            await asyncio.sleep(RECONNECT_S)


async def lost(connection: aio_pika.abc.AbstractConnection) -> None:
    """Until the connection closes or is lost (a lost one never resolves `closed()`)."""
    gone = asyncio.Event()
    connection.close_callbacks.add(lambda *_: gone.set())
    if connection.is_closed or not connection.connected.is_set():
        return
    await gone.wait()


def _message(body: str, message_id: str, kind: str) -> aio_pika.Message:
    return aio_pika.Message(body.encode(), content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=message_id, type=kind, headers={})


async def _close(connection: aio_pika.abc.AbstractConnection) -> None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await connection.close()
    except (TimeoutError, AMQPError, OSError):
        pass


def _safe(url: str) -> str:
    """The URL without its password, for logs and 503 messages."""
    return str(URL(url).with_password(None))
