"""Input a service must refuse with a 422 before it reaches code that trusts it: feedback's
/report built the watch's session summary from the transcript's session id, and an empty
one raised inside (a 500 schemathesis found on the stack)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.feedback.models import ReportRequest

SESSION = {"user_id": "u1", "mode": "presentation", "status": "ended",
           "started_at": "2026-12-06T00:00:00Z"}


@pytest.mark.parametrize("session_id", ["", "not-hex", "A" * 32, "0" * 31])
def test_a_report_for_a_session_id_that_is_none_is_refused(session_id: str) -> None:
    with pytest.raises(ValidationError, match="session_id"):
        ReportRequest.model_validate(
            {"transcript": {"session": {**SESSION, "session_id": session_id}, "segments": []}})


def test_a_report_for_a_real_session_id_is_taken() -> None:
    report = ReportRequest.model_validate(
        {"transcript": {"session": {**SESSION, "session_id": "0f" * 16}, "segments": []}})
    assert report.transcript.session.session_id == "0f" * 16
