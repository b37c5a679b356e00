"""How the gateway calls the feedback service: one HTTP call per method, one CLIENT span
named for the route it calls (routes as feedback's api.py declares them, ids apart)."""

from services.common.downstream import Downstream
from services.feedback.models import Evaluation, Report, Tip
from services.session.models import SessionTranscript


class FeedbackClient:
    def __init__(self, downstream: Downstream) -> None:
        self.http = downstream

    async def evaluate(self, session_id: str, segment_id: str) -> Evaluation:
        data = await self.http.call(
            "POST", "/evaluate", json={"session_id": session_id, "segment_id": segment_id}
        )
        return Evaluation(**data)

    async def report(self, transcript: SessionTranscript) -> Report:
        return Report(**await self.http.call(
            "POST", "/report", json={"transcript": transcript.model_dump(mode="json")}))

    async def tip(self, session_id: str) -> Tip:
        return Tip(**await self.http.call(
            "GET", "/sessions/{session_id}/tip", path_params={"session_id": session_id}))
