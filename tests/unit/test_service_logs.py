"""What the services log, read as a person debugging would read it under a trace id in
VictoriaLogs: feedback's decision and its reason at INFO for every segment, buzz or not;
every 4xx and 5xx the gateway answers, with its reason; and never the user's words: the
text of a segment appears in no log record, whatever the request (a test below sends it
in every kind of request and reads every record, of every logger, at every level).

The services run in-process (conftest.py), their log records caught by pytest's caplog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.app import wire
from services.common.downstream import Downstream
from services.common.limits import DEFAULT_MAX_BODY_BYTES
from services.gateway.api import app as gateway_app
from stackctl.sample import CALM_SEGMENT, SEGMENT

# A user's words, distinctive enough that no other text contains them by chance.
WORDS = "honestly I am terrified of the quarterly numbers zebra-quartz"


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger, DEBUG and up."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def new_session(gateway: TestClient) -> str:
    created = gateway.post("/api/sessions", json={"user_id": "logs", "mode": "presentation"})
    assert created.status_code == 201, created.text
    return created.json()["session_id"]


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger]


def everything_in(record: logging.LogRecord) -> str:
    """A record as any handler could write it: message, arguments, exception, extras."""
    return " ".join([record.getMessage(), repr(record.args), record.exc_text or "",
                     repr(record.exc_info), *map(repr, vars(record).values())])


def test_feedback_logs_its_decision_and_reason_for_every_segment(
        wired: TestClient, logged: pytest.LogCaptureFixture) -> None:
    sid = new_session(wired)
    # A buzz; nothing to say; a buzz held back (pitch varied: not monotone).
    for body in (SEGMENT, dict(CALM_SEGMENT, pitch_hz=180), dict(SEGMENT, pitch_hz=110)):
        assert wired.post(f"/api/sessions/{sid}/segments", json=body).status_code == 200
    decisions = lines(logged, "haptitalk.feedback")
    assert decisions == [
        ("INFO", f"haptic feedback for session {sid} segment 1: slow_down (intensity 2): "
                 "200 wpm is above 160 for presentation"),
        ("INFO", f"no haptic feedback for session {sid} segment 2: no rule fired"),
        ("INFO", f"no haptic feedback for session {sid} segment 3: cooldown since the last "
                 "buzz holds back pace_too_fast"),
    ], decisions


def test_the_gateway_logs_every_4xx_with_its_reason(
        wired: TestClient, logged: pytest.LogCaptureFixture) -> None:
    sid = new_session(wired)
    unknown = "0" * 32
    path = f"/api/sessions/{sid}/segments"
    calls = [  # (response, status, the line's start, its reason)
        (wired.post(f"/api/sessions/{unknown}/segments", json=SEGMENT), 404,
         f"POST /api/sessions/{unknown}/segments -> 404 not_found: ",
         f"session {unknown} not found"),
        (wired.post(path, json=dict(SEGMENT, words_per_minute=-1)), 422,
         f"POST {path} -> 422 validation_error: ",
         "words_per_minute: Input should be greater than or equal to 0"),
        (wired.get("/api/no-such-route"), 404, "GET /api/no-such-route -> 404 not_found: ",
         "Not Found"),
        (wired.delete(f"/api/sessions/{sid}"), 405,
         f"DELETE /api/sessions/{sid} -> 405 method_not_allowed: ", "Method Not Allowed"),
        (wired.post(path, content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1),
                    headers={"content-type": "application/json"}), 413,
         f"POST {path} -> 413 payload_too_large: ", f"limit {DEFAULT_MAX_BODY_BYTES}"),
    ]
    said = lines(logged, "haptitalk.gateway")
    for response, status, start, reason in calls:
        assert response.status_code == status, response.text
        found = [(level, text) for level, text in said if text.startswith(start)]
        assert len(found) == 1, (start, said)
        assert found[0][0] == "INFO" and reason in found[0][1], found


def test_the_gateway_logs_a_5xx_with_the_service_that_failed(
        wired: TestClient, logged: pytest.LogCaptureFixture) -> None:
    sid = new_session(wired)
    # feedback is unreachable: nothing listens on port 9 (discard), connections are refused.
    dead = Downstream("feedback", "http://127.0.0.1:9", httpx.AsyncClient(), 1.0)
    wire(gateway_app, **{**gateway_app.state.parts, "feedback": dead})
    response = wired.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    assert response.status_code == 503, response.text
    said = [(level, text) for level, text in lines(logged, "haptitalk.gateway")
            if " -> 503 " in text]
    assert len(said) == 1, lines(logged, "haptitalk.gateway")
    level, text = said[0]
    assert level == "WARNING" and "feedback" in text, text


def test_no_log_record_holds_the_users_words(wired: TestClient,
                                              logged: pytest.LogCaptureFixture) -> None:
    """The words go in every request a user can make that carries them, accepted and
    refused; no record of any logger, at any level, may hold them afterwards."""
    sid = new_session(wired)
    spoken = dict(SEGMENT, text=WORDS)
    assert wired.post(f"/api/sessions/{sid}/segments", json=spoken).status_code == 200
    assert wired.post(f"/api/sessions/{sid}/segments",
                      json=dict(spoken, words_per_minute=130)).status_code == 200
    refused = [dict(spoken, words_per_minute=-1),                  # 422 on another field
               dict(spoken, text=WORDS * 40),                      # 422 on the text itself
               dict(spoken, text=WORDS * (DEFAULT_MAX_BODY_BYTES // len(WORDS) + 1))]  # 413
    for body in refused:
        assert wired.post(f"/api/sessions/{sid}/segments", json=body).status_code >= 400
    assert wired.post(f"/api/sessions/{'0' * 32}/segments", json=spoken).status_code == 404
    assert wired.get(f"/api/sessions/{sid}").status_code == 200
    assert wired.post(f"/api/sessions/{sid}/end").status_code == 200
    assert logged.records, "nothing was logged: the check below would pass on nothing"
    holding = [f"{r.name} {r.levelname}: {r.getMessage()[:200]}" for r in logged.records
               if WORDS.split()[-1] in everything_in(r)]
    assert not holding, holding
