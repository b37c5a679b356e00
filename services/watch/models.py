"""The watch service's contract: the broker topology, the messages on it, and what the
watch serves over HTTP.

Feedback publishes to a named, durable direct exchange; the watch consumes a durable
queue bound to it. Both sides declare the same topology (declaring is idempotent), so
whichever starts first creates it and a cue published before the watch ever ran waits
in the queue.
"""

from pydantic import BaseModel, Field

from services.session.models import SESSION_ID_PATTERN, HapticCue

# Named, not the default exchange: the PRODUCER span is named after it
# ("haptitalk.cues,cue send"; the default exchange's would be ",cues send").
EXCHANGE = "haptitalk.cues"
QUEUE = "watch.cues"
CUE_ROUTING_KEY = "cue"
SUMMARY_ROUTING_KEY = "summary"


class CueMessage(BaseModel):
    """One cue for one segment. Its segment id is the message id: the watch delivers a
    segment's cue once, however often it is published (a retry after a lost confirm)."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    segment_id: str = Field(pattern=SESSION_ID_PATTERN)
    seq: int
    cue: HapticCue


class SessionSummary(BaseModel):
    """Sent once, when a session ends: how many segments and cues it had."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    segments: int
    cues: int


class Delivered(BaseModel):
    """What the watch has delivered for a session, in order (GET /watch/{id}/delivered)."""

    session_id: str
    cues: list[CueMessage]
    summary: SessionSummary | None = None
