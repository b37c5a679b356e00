"""How other services call the session service (gateway and feedback use this).

Each method is one HTTP call, so one CLIENT span in the caller's trace, named for the
route it calls (`POST /sessions/{session_id}/segments`: the route is written as session's
api.py declares it, the ids go apart); its errors are the ones `Downstream.call` raises
(503 naming "session", or the session's own 4xx).
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
        return SessionWithCounts(**await self.http.call(
            "GET", "/sessions/{session_id}", path_params={"session_id": session_id}))

    async def add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        data = await self.http.call(
            "POST", "/sessions/{session_id}/segments", path_params={"session_id": session_id},
            json=segment.model_dump(),
        )
        return Segment(**data)

    async def history(self, session_id: str, limit: int,
                      before: str | None = None) -> SessionHistory:
        """The `limit` latest segments; with `before`, that segment and the `limit`
        segments before it."""
        params: dict[str, str | int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        data = await self.http.call("GET", "/sessions/{session_id}/history",
                                    path_params={"session_id": session_id}, params=params)
        return SessionHistory(**data)

    async def set_feedback(self, session_id: str, segment_id: str, fb: HapticCue) -> Segment:
        data = await self.http.call(
            "PUT",
            "/sessions/{session_id}/segments/{segment_id}/feedback",
            path_params={"session_id": session_id, "segment_id": segment_id},
            json=fb.model_dump(),
        )
        return Segment(**data)

    async def end(self, session_id: str) -> SessionTranscript:
        return SessionTranscript(**await self.http.call(
            "POST", "/sessions/{session_id}/end", path_params={"session_id": session_id}))
