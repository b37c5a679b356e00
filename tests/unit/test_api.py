"""The HTTP contract of the three services, in-process, with span details."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from services.common.app import part, wire
from services.common.downstream import Downstream, timeout_from_env
from services.feedback.api import app as feedback_app
from services.gateway import api as gateway_api
from services.gateway.api import app as gateway_app
from services.session.api import app as session_app
from stackctl.sample import SEGMENT
from stackctl.settings import ROOT
from tests.unit.conftest import _asgi


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
    statements = [s.attributes.get("db.query.text") for s in finished
                  if s.attributes.get("db.system.name") == "sqlite"]
    assert any(st.startswith("INSERT INTO segments") for st in statements)
    # README (Privacy): the users' words never enter a span, in any service.
    leaks = [s.name for s in finished if _carries(s, SEGMENT["text"])]
    assert not leaks, f"the segment's text is in these spans: {leaks}"


def test_a_segment_call_runs_one_statement_per_store_operation(wired: TestClient,
                                                                spans) -> None:
    """session stores the segment in one INSERT ... RETURNING (it was BEGIN, two SELECTs,
    INSERT, SELECT) and the feedback in one UPDATE ... RETURNING; history reads the
    session, the segment and the window before it. Stable names only (no database/dup)."""
    sid = start(wired)
    spans.clear()
    assert wired.post(f"/api/sessions/{sid}/segments", json=SEGMENT).status_code == 200
    db = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"
          and "db.system.name" in s.attributes]
    assert [s.attributes["db.query.text"].split(" ", 2)[:2] for s in db] == [
        ["INSERT", "INTO"], ["SELECT", "*"], ["SELECT", "segment_id,"],
        ["SELECT", "segment_id,"], ["UPDATE", "segments"]]
    old_names = [(s.name, k) for s in db for k in s.attributes
                 if k in ("db.system", "db.statement", "db.name")]
    assert not old_names, f"old database conventions written too: {old_names}"


def _carries(span, text: str) -> bool:
    """Whether `text` (or a long enough piece of it) is in any attribute or event of `span`."""
    piece = text[:20]
    values = [*span.attributes.values()]
    for event in span.events:
        values += [event.name, *event.attributes.values()]
    return any(piece in str(v) for v in values)


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
    # A real refused connection (nothing listens on port 9 of loopback), not a mock. The
    # budget is long (5 s) so that "at once" (docs/reliability.md: the port refuses) is
    # told apart from "at the budget": a refusal must not be waited out.
    unreachable = Downstream("session", "http://127.0.0.1:9", httpx.AsyncClient(), timeout_s=5.0)
    gateway_app.dependency_overrides[part("session")] = lambda: unreachable
    try:
        started = time.monotonic()
        response = wired.get(f"/api/sessions/{'a' * 32}")
    finally:
        gateway_app.dependency_overrides.clear()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"503 after {elapsed:.2f}s for a refused port (budget 5 s)"
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


@pytest.fixture
def silent_session() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung session service."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_hung_session_behind_feedback_is_named_by_each_caller_in_turn(
    session_api: TestClient, silent_session: str, monkeypatch: pytest.MonkeyPatch, spans
) -> None:
    """docs/reliability.md: each of feedback's reads from session has a 1.5 s budget, the
    gateway's call to feedback 3 s; each service names the dependency it called. Session
    hangs for feedback only (the gateway reaches it): feedback's first read gives up at
    1.5 s, its retry is still waiting when the gateway's 3 s run out."""
    # feedback's own lifespan connects it to the silent session, with its real budget.
    monkeypatch.setenv("SESSION_URL", silent_session)
    monkeypatch.setenv("FEEDBACK_URL", "http://feedback")
    with TestClient(feedback_app), TestClient(gateway_app) as gateway:
        HTTPXClientInstrumentor.instrument_client(feedback_app.state.parts["session"].client)
        wire(gateway_app, session=_asgi(session_app, "session"),
             feedback=_asgi(feedback_app, "feedback",
                            timeout_from_env(gateway_api.DEFAULT_TIMEOUT_S)))
        sid = start(gateway)
        spans.clear()
        started = time.monotonic()
        response = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["dependency"] == "feedback", error
    assert "no answer within 3s" in error["message"], error
    assert 2.9 <= elapsed < 3.5, f"503 after {elapsed:.2f}s; the gateway's budget is 3 s"

    finished = spans.get_finished_spans()
    (evaluate,) = [s for s in finished if s.kind.name == "SERVER"
                   and s.attributes.get("http.route") == "/evaluate"]
    reads = sorted((s for s in finished if s.kind.name == "CLIENT"
                    and s.parent and s.parent.span_id == evaluate.context.span_id),
                   key=lambda s: s.start_time)
    first_s = (reads[0].end_time - reads[0].start_time) / 1e9
    assert 1.4 <= first_s < 1.8, f"feedback's first read of session took {first_s:.2f}s"
    # The read that timed out is red in Jaeger, its exception recorded.
    assert reads[0].status.status_code.name == "ERROR", reads[0].status
    assert [e.attributes["exception.type"] for e in reads[0].events
            if e.name == "exception"] == ["httpx.ReadTimeout"], reads[0].events
    # The retry was under way when the gateway gave up. (In process, the gateway's call
    # to feedback has no socket to time out: its whole-call deadline, WHOLE_CALL_MARGIN_S
    # after the budget, stops it, so a third attempt may have begun.)
    assert len(reads) >= 2, "no retry was under way when the gateway gave up"
    assert [e.attributes["attempt"] for e in evaluate.events if e.name == "retry"][0] == 2


def readme_example() -> tuple[dict, dict, dict]:
    """The README's API example: the session it starts, the segment it sends and the answer
    it shows (`"…"` where a value differs per call)."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("### The API (gateway)"):]
    block = block[block.index("```bash"):block.index("```\n", 7)]
    session, segment = (json.loads(b) for b in re.findall(r"-d '(\{[^']*\})'", block)[:2])
    # The answer: from "# -> 200 {" over the comment lines until its braces close.
    shown = ""
    for line in block[block.index("# -> 200 {") + len("# -> 200 "):].splitlines():
        shown += " " + line.lstrip("#").strip()
        if shown.count("{") == shown.count("}"):
            break
    return session, segment, json.loads(shown.replace('"…"', "null"))


def test_the_readmes_example_segment_gets_the_answer_it_shows(wired: TestClient) -> None:
    session, segment, shown = readme_example()
    sid = start(wired, session["mode"])
    response = wired.post(f"/api/sessions/{sid}/segments", json=segment)
    assert response.status_code == 200, response.text
    assert response.headers["x-trace-id"]
    got = response.json()
    assert set(got) == set(shown)
    for key, value in shown.items():
        if value is not None:  # "…": differs per call
            assert got[key] == value, key
