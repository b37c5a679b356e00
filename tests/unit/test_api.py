"""The HTTP contract of the three services, in-process, with span details."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.app import part
from services.common.downstream import Downstream
from services.gateway.api import app as gateway_app
from stackctl.sample import SEGMENT


def start(client: TestClient, mode: str = "presentation") -> str:
    response = client.post("/api/sessions", json={"user_id": "u-1", "mode": mode})
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def test_segment_crosses_all_three_services(wired: TestClient, spans) -> None:
    sid = start(wired)
    spans.clear()
    response = wired.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    assert response.status_code == 200, response.text
    assert response.json()["feedback"]["pattern"] == "slow_down"

    finished = spans.get_finished_spans()
    trace_ids = {s.context.trace_id for s in finished}
    assert len(trace_ids) == 1
    assert response.headers["x-trace-id"] == format(trace_ids.pop(), "032x")
    servers = [s for s in finished if s.kind.name == "SERVER"]
    assert len(servers) == 5  # gateway, session x3, feedback
    statements = [s.attributes.get("db.statement") for s in finished
                  if s.attributes.get("db.system") == "sqlite"]
    assert any(st.startswith("INSERT INTO segments") for st in statements)


def test_contract_end_to_end_in_process(wired: TestClient) -> None:
    sid = start(wired, "dating")
    for wpm in (120, 190, 120):
        assert wired.post(f"/api/sessions/{sid}/segments",
                          json=dict(SEGMENT, words_per_minute=wpm)).status_code == 200
    view = wired.get(f"/api/sessions/{sid}").json()
    assert (view["segment_count"], view["feedback_count"]) == (3, 1)
    report = wired.post(f"/api/sessions/{sid}/end").json()
    assert report["segments"] == 3 and report["feedback_given"] == 1
    assert report["feedback_by_pattern"] == {"slow_down": 1}
    assert wired.post(f"/api/sessions/{sid}/end").status_code == 200  # idempotent


def test_error_shape_is_shared(wired: TestClient, session_api: TestClient) -> None:
    for client, service in ((wired, "gateway"), (session_api, "session")):
        prefix = "/api" if service == "gateway" else ""
        response = client.get(f"{prefix}/sessions/{'f' * 32}")
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "not_found" and error["service"] == service
        assert error["trace_id"] == response.headers["x-trace-id"]

    response = wired.get("/api/sessions/not-a-session-id")
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "session_id"


def test_unreachable_dependency_is_503_naming_it_quickly(wired: TestClient, spans) -> None:
    # A real refused connection (nothing listens on port 9 of loopback), not a mock.
    unreachable = Downstream("session", "http://127.0.0.1:9", httpx.AsyncClient(), timeout_s=1.0)
    gateway_app.dependency_overrides[part("session")] = lambda: unreachable
    try:
        started = time.monotonic()
        response = wired.get(f"/api/sessions/{'a' * 32}")
    finally:
        gateway_app.dependency_overrides.clear()
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["dependency"] == "session" and error["code"] == "dependency_unavailable"
    server = next(s for s in spans.get_finished_spans() if s.kind.name == "SERVER")
    assert server.status.status_code.name == "ERROR"
    assert any(e.name == "exception" for e in server.events)


def test_healthz_everywhere(wired: TestClient, session_api: TestClient) -> None:
    assert wired.get("/healthz").json() == {"status": "ok", "service": "gateway"}
    assert session_api.get("/healthz").json()["service"] == "session"


def test_a_service_without_its_downstream_url_refuses_to_start(monkeypatch) -> None:
    # Ports live in .env only: no URL default in the code to fall back on silently.
    from services.feedback.api import app as feedback_app

    monkeypatch.delenv("SESSION_URL", raising=False)
    with pytest.raises(RuntimeError, match="SESSION_URL is not set"), TestClient(feedback_app):
        pass
