"""What the watch has delivered, per session, in memory: the watch app's buzzes.

A segment's cue is delivered once, whatever the broker redelivers (its segment id is the
key). Bounded, so a long load test cannot grow the process without end: a session
keeps its latest MAX_CUES_PER_SESSION cues (`make bench` posts thousands of segments to
one session), and the oldest sessions are forgotten past MAX_SESSIONS or past MAX_CUES
cues kept in all (what that bound saves: docs/benchmarks.md section 4). A redelivery is
told from a new cue among those kept; the broker redelivers within seconds, not
thousands of cues later.
Live listeners (the SSE streams) get each new cue as it is delivered.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from services.watch.models import CueMessage, Delivered, SessionSummary

MAX_SESSIONS = 10_000
MAX_CUES_PER_SESSION = 100
MAX_CUES = 10_000


@dataclass
class _Session:
    cues: deque[CueMessage] = field(
        default_factory=lambda: deque(maxlen=MAX_CUES_PER_SESSION))
    segment_ids: set[str] = field(default_factory=set)
    summary: SessionSummary | None = None
    listeners: set[asyncio.Queue[CueMessage | SessionSummary]] = field(default_factory=set)


class CueLog:
    def __init__(self, max_sessions: int = MAX_SESSIONS, max_cues: int = MAX_CUES) -> None:
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.max_sessions = max_sessions
        self.max_cues = max_cues
        self.kept = 0  # cues held, all sessions together
        self.duplicates = 0

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session()
            while len(self._sessions) > self.max_sessions:
                self._forget_oldest()
        return session

    def _forget_oldest(self) -> None:
        _, forgotten = self._sessions.popitem(last=False)
        self.kept -= len(forgotten.cues)

    def deliver(self, cue: CueMessage) -> bool:
        """False for a segment already delivered (a redelivery or a second publish)."""
        session = self._session(cue.session_id)
        if cue.segment_id in session.segment_ids:
            self.duplicates += 1
            return False
        if len(session.cues) == session.cues.maxlen:
            session.segment_ids.discard(session.cues[0].segment_id)  # forgotten with it
            self.kept -= 1
        session.segment_ids.add(cue.segment_id)
        session.cues.append(cue)
        self.kept += 1
        while self.kept > self.max_cues and len(self._sessions) > 1:
            self._forget_oldest()
        for listener in session.listeners:
            listener.put_nowait(cue)
        return True

    def summarise(self, summary: SessionSummary) -> None:
        session = self._session(summary.session_id)
        session.summary = summary
        for listener in session.listeners:
            listener.put_nowait(summary)

    def delivered(self, session_id: str) -> Delivered:
        session = self._sessions.get(session_id) or _Session()
        return Delivered(session_id=session_id, cues=list(session.cues),
                         summary=session.summary)

    def listen(self, session_id: str) -> tuple[Delivered, asyncio.Queue]:
        """What was delivered so far, and a queue that gets what comes next."""
        queue: asyncio.Queue[CueMessage | SessionSummary] = asyncio.Queue()
        self._session(session_id).listeners.add(queue)
        return self.delivered(session_id), queue

    def unlisten(self, session_id: str, queue: asyncio.Queue) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.listeners.discard(queue)
