"""How other services call the session service (gateway and feedback use this).

Each method is one HTTP call, so one CLIENT span in the caller's trace; its errors are
the ones `Downstream.call` raises (503 naming "session", or the session's own 4xx).
"""

from services.common.downstream import Downstream
from services.session.models import (
    HapticCue,
    NewSegment,
    NewSession,
    Segment,
    Session,
    SessionHistory,
    SessionTranscript,
    SessionWithCounts,
)


class SessionClient:
    def __init__(self, downstream: Downstream) -> None:
        self.http = downstream

    async def create_session(self, new: NewSession) -> Session:
        return Session(**await self.http.call("POST", "/sessions", json=new.model_dump()))

    async def get_session(self, session_id: str) -> SessionWithCounts:
        return SessionWithCounts(**await self.http.call("GET", f"/sessions/{session_id}"))

    async def add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        data = await self.http.call(
            "POST", f"/sessions/{session_id}/segments", json=segment.model_dump()
        )
        return Segment(**data)

    async def history(self, session_id: str, limit: int,
                      before: str | None = None) -> SessionHistory:
        """The `limit` latest segments; with `before`, that segment and the `limit`
        segments before it."""
        params: dict[str, str | int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        data = await self.http.call("GET", f"/sessions/{session_id}/history", params=params)
        return SessionHistory(**data)

    async def set_feedback(self, session_id: str, segment_id: str, fb: HapticCue) -> Segment:
        data = await self.http.call(
            "PUT",
            f"/sessions/{session_id}/segments/{segment_id}/feedback",
            json=fb.model_dump(),
        )
        return Segment(**data)

    async def end(self, session_id: str) -> SessionTranscript:
        return SessionTranscript(**await self.http.call("POST", f"/sessions/{session_id}/end"))
