"""What feedback tells the watch: each cue it decides, and the end of each session.

Feedback owns the decision (rules.py), so it publishes it (the watch's client.py, over
RabbitMQ); session stores the cue as before, through the gateway. Neither publish holds
the request: the publisher waits a bounded time and keeps the rest in its outbox.

At a session's end the watch gets one summary. Its CONSUMER span starts a new trace with
a link to each segment's trace (the `trace-links` header; services/telemetry/distro.py),
so the Jaeger UI leads from the summary to every segment call. The links come from this
process's memory of the segments it evaluated (bounded): with several feedback replicas,
each knows only its own share.
"""

from __future__ import annotations

from collections import OrderedDict

from services.common.tracecontext import current_traceparent
from services.session.models import HapticCue, Segment, SessionTranscript
from services.watch.client import CuePublisher
from services.watch.models import CueMessage, SessionSummary

MAX_SESSIONS = 10_000
# Past this a span's links are cut by the SDK anyway (OTEL_SPAN_LINK_COUNT_LIMIT: 128).
MAX_LINKS = 128


class CueSender:
    def __init__(self, publisher: CuePublisher) -> None:
        self.publisher = publisher
        self._traces: OrderedDict[str, list[str]] = OrderedDict()

    async def evaluated(self, segment: Segment, cue: HapticCue | None) -> None:
        traces = self._traces.setdefault(segment.session_id, [])
        self._traces.move_to_end(segment.session_id)
        traceparent = current_traceparent()
        if traceparent is not None and len(traces) < MAX_LINKS:
            traces.append(traceparent)
        while len(self._traces) > MAX_SESSIONS:
            self._traces.popitem(last=False)
        if cue is not None:
            await self.publisher.publish_cue(CueMessage(
                session_id=segment.session_id, segment_id=segment.segment_id,
                seq=segment.seq, cue=cue))

    async def ended(self, transcript: SessionTranscript) -> None:
        session_id = transcript.session.session_id
        summary = SessionSummary(
            session_id=session_id, segments=len(transcript.segments),
            cues=sum(s.feedback is not None for s in transcript.segments))
        await self.publisher.publish_summary(summary, self._traces.pop(session_id, []))
