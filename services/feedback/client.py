"""How the gateway calls the feedback service."""

from services.common.downstream import Downstream
from services.feedback.models import Evaluation, Report
from services.session.models import Segment, SessionTranscript


class FeedbackClient:
    def __init__(self, downstream: Downstream) -> None:
        self.http = downstream

    async def evaluate(self, session_id: str, segment: Segment) -> Evaluation:
        data = await self.http.call(
            "POST",
            "/evaluate",
            json={"session_id": session_id, "segment": segment.model_dump(mode="json")},
        )
        return Evaluation(**data)

    async def report(self, transcript: SessionTranscript) -> Report:
        data = await self.http.call(
            "POST", "/report", json={"transcript": transcript.model_dump(mode="json")}
        )
        return Report(**data)
