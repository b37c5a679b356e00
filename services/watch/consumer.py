"""The watch's queue consumer: each cue message becomes a buzz (a delivered cue).

Consumed with `queue.consume(callback)`: the aio-pika instrumentation wraps the callback,
extracts the `traceparent` that feedback's publish injected, and runs it inside a
CONSUMER span, the child of feedback's PRODUCER span. (`queue.iterator()` has no such
hook: its messages are processed in the caller's context and the trace breaks at the
broker.)

Planted bottleneck `slow_consumer`: a buzz takes BUZZ_MS (the write to the watch over
Bluetooth, a fixed delay here; `handle_ms` while the scenario is on). Fixed, the
consumer takes PREFETCH cues at once and buzzes them side by side; broken, it takes one
at a time (prefetch 1), so under load the cues wait in RabbitMQ's queue: in the trace,
the gap between the PRODUCER span and the CONSUMER span grows while the CONSUMER span
itself stays the same.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import AMQPError
from pydantic import ValidationError
from yarl import URL

from services import scenarios
from services.watch.client import CONNECT_TIMEOUT_S, RECONNECT_S, declare, lost
from services.watch.models import SUMMARY_ROUTING_KEY, CueMessage, SessionSummary
from services.watch.store import CueLog

log = logging.getLogger("haptitalk.watch")

# Cues taken from the broker at once (unacknowledged).
PREFETCH = 32
# One buzz: the write to the watch over Bluetooth.
BUZZ_MS = 20.0


class CueConsumer:
    def __init__(self, url: str, cues: CueLog) -> None:
        self.url = url
        self.cues = cues
        self._channel: AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_error = "not connected yet"

    @property
    def broker(self) -> str:
        """The broker's address without credentials, for 503 messages."""
        return str(URL(self.url).with_password(None).with_user(None))

    @property
    def consuming(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def __aenter__(self) -> CueConsumer:
        self._task = asyncio.create_task(self._keep_consuming())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @staticmethod
    def prefetch() -> int:
        if scenarios.is_on("slow_consumer"):
            return 1
        return PREFETCH

    async def apply_prefetch(self) -> None:
        """Tells the broker how many cues to hand out at once, now (prefetch() changed).
        RabbitMQ applies a channel's prefetch to the consumers started after it is set, so
        the consumer is cancelled and started again (cues in hand are still acknowledged:
        the channel stays open)."""
        if self.consuming and self._queue is not None and self._consumer_tag is not None:
            assert self._channel is not None
            await self._queue.cancel(self._consumer_tag)
            await self._channel.set_qos(prefetch_count=self.prefetch())
            self._consumer_tag = await self._queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process(requeue=True):
            try:
                if message.routing_key == SUMMARY_ROUTING_KEY:
                    self.cues.summarise(SessionSummary.model_validate_json(message.body))
                    return
                cue = CueMessage.model_validate_json(message.body)
            except ValidationError as exc:
                # A message no retry can fix: dropped (not requeued), and said so.
                log.error("message %s is not a cue, dropped: %s", message.message_id, exc)
                return
            buzz_ms = BUZZ_MS
            if scenarios.is_on("slow_consumer"):
                scenarios.mark("slow_consumer")
                buzz_ms = float(scenarios.get("slow_consumer").param("handle_ms"))
            await asyncio.sleep(buzz_ms / 1000)
            if self.cues.deliver(cue):
                log.info("buzz for session %s segment %d: %s", cue.session_id, cue.seq,
                         cue.cue.pattern)

    async def _keep_consuming(self) -> None:
        while True:
            try:
                connection = await aio_pika.connect(self.url, timeout=CONNECT_TIMEOUT_S)
            except (TimeoutError, AMQPError, OSError) as exc:
                self.last_error = f"cannot reach {self.broker} ({type(exc).__name__})"
                log.warning("RabbitMQ: %s", self.last_error)
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=self.prefetch())
                _, queue = await declare(channel)
                self._consumer_tag = await queue.consume(self.on_message)
                self._queue, self._channel = queue, channel
                log.info("consuming %s from %s", queue.name, self.broker)
                await lost(connection)
                self.last_error = f"lost the connection to {self.broker}"
            except (TimeoutError, AMQPError, OSError) as exc:
                self.last_error = f"lost {self.broker} ({type(exc).__name__})"
            finally:
                self._channel = self._queue = self._consumer_tag = None
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        await connection.close()
                except (TimeoutError, AMQPError, OSError):
                    pass
            log.warning("RabbitMQ: %s", self.last_error)
            await asyncio.sleep(RECONNECT_S)
