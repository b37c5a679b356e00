"""What the gateway does for each public call: which services it asks, in what order.

A segment is the interesting one; its trace crosses all three services:

    gateway  POST /api/sessions/{id}/segments
      session  POST /sessions/{id}/segments          store the segment
      feedback POST /evaluate {session_id, segment_id}   pick a haptic cue
        session  GET /sessions/{id}/history?before=  the segment and the ones before it
      session  PUT .../segments/{seg}/feedback       remember the cue (only if one is sent)

Data goes one way: the gateway passes ids, and session (which owns the segments) serves
them to feedback. One planted bottleneck lives here (services/scenarios/):
`sequential_fanout` in view.
"""

import asyncio

from services import scenarios
from services.feedback.client import FeedbackClient
from services.gateway.models import (
    NewSegment,
    RecentSegment,
    Report,
    SegmentResult,
    SessionView,
)
from services.session.client import SessionClient

RECENT_IN_VIEW = 3


class Coaching:
    def __init__(self, sessions: SessionClient, feedback: FeedbackClient) -> None:
        self.sessions = sessions
        self.feedback = feedback

    async def submit_segment(self, session_id: str, new: NewSegment) -> SegmentResult:
        segment = await self.sessions.add_segment(session_id, new)
        evaluation = await self.feedback.evaluate(session_id, segment.segment_id)
        if evaluation.feedback is not None:
            # The stored segment, cue included, as session now has it.
            segment = await self.sessions.set_feedback(session_id, segment.segment_id,
                                                       evaluation.feedback)
        return SegmentResult(segment_id=segment.segment_id, seq=segment.seq,
                             feedback=segment.feedback, fluency=evaluation.fluency)

    async def view(self, session_id: str) -> SessionView:
        # Three independent reads. Fixed: concurrently, so the view costs the slowest of
        # them. Broken (sequential_fanout): one after another, so it costs their sum; in
        # the trace, three CLIENT spans in a staircase instead of stacked.
        calls = (
            self.sessions.get_session(session_id),
            self.sessions.history(session_id, RECENT_IN_VIEW),
            self.feedback.tip(session_id),
        )
        if scenarios.is_on("sequential_fanout"):
            scenarios.mark("sequential_fanout")
            session, history, tip = [await call for call in calls]
        else:
            results = await asyncio.gather(*calls, return_exceptions=True)
            # All three have finished; report the first failure in call order, so the
            # error a caller sees does not depend on which call lost the race.
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            session, history, tip = results
        return SessionView(
            **session.model_dump(),
            recent=[RecentSegment(seq=s.seq, words_per_minute=s.words_per_minute,
                                  feedback=s.feedback) for s in history.recent],
            tip=tip.tip,
        )

    async def end_session(self, session_id: str) -> Report:
        transcript = await self.sessions.end(session_id)
        return await self.feedback.report(transcript)
