"""What the gateway does for each public call: which services it asks, in what order.

A segment is the interesting one; its trace crosses all three services:

    gateway  POST /api/sessions/{id}/segments
      session  POST /sessions/{id}/segments          store the segment
      feedback POST /evaluate                        pick a haptic pattern
        session  GET /sessions/{id}/history          recent segments, for trend + cooldown
      session  PUT .../segments/{seg}/feedback       remember the buzz (only if one is sent)
"""

from services.feedback.client import FeedbackClient
from services.gateway.models import NewSegment, Report, SegmentResult
from services.session.client import SessionClient


class Coaching:
    def __init__(self, sessions: SessionClient, feedback: FeedbackClient) -> None:
        self.sessions = sessions
        self.feedback = feedback

    async def submit_segment(self, session_id: str, new: NewSegment) -> SegmentResult:
        segment = await self.sessions.add_segment(session_id, new)
        evaluation = await self.feedback.evaluate(session_id, segment)
        if evaluation.feedback is not None:
            await self.sessions.set_feedback(session_id, segment.segment_id, evaluation.feedback)
        return SegmentResult(
            segment_id=segment.segment_id, seq=segment.seq, feedback=evaluation.feedback
        )

    async def end_session(self, session_id: str) -> Report:
        transcript = await self.sessions.end(session_id)
        return await self.feedback.report(transcript)
