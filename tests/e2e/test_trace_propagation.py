"""One user action, one trace across gateway -> session -> feedback -> session, seen in
Jaeger with correct parent links, span kinds, routes, statuses and DB statements."""

from __future__ import annotations

import re
import uuid

import httpx

from stackctl.jaeger import Jaeger, Span, Trace, through_the_watch
from stackctl.sample import SEGMENT, send
from stackctl.settings import ROOT, Endpoints, setting
from tests.support.settle import assert_waits_return_whole_traces


def _complete_segment_trace(trace: Trace) -> bool:
    # gateway + 3 session calls + 1 feedback call = 5 server spans, and the manual span.
    return (
        len(trace.find(kind="server")) >= 5
        and bool(trace.find(service="feedback", operation="evaluate feedback rules"))
        and bool(trace.find(service="session", kind="client"))
    )


def test_segment_call_is_one_trace_across_all_three_services(
    gateway: httpx.Client, jaeger: Jaeger, session_id: str
) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT)
    assert response.status_code == 200, response.text
    assert response.json()["feedback"]["pattern"] == "slow_down"
    trace_id = response.headers["x-trace-id"]
    assert response.headers["traceresponse"].startswith(f"00-{trace_id}-")

    trace = jaeger.wait_for_trace(trace_id, _complete_segment_trace,
                                  "5 server spans and the feedback rules span")

    assert trace.services >= {"gateway", "session", "feedback"}
    # The project's distro (services/telemetry/distro.py) leaves out the ASGI
    # `http send` / `http receive` spans (contrib's FastAPI instrumentation) and FastAPI's
    # own operation spans (`fastapi.endpoint`...): a reader's trace is the calls.
    messages = [s for s in trace.spans if s.operation.endswith((" http send", " http receive"))
                or s.operation.startswith("fastapi.")]
    assert not messages, trace.describe()
    root = [s for s in trace.spans if s.parent_id is None]
    assert len(root) == 1 and root[0].service == "gateway" and root[0].kind == "server"
    assert root[0].tags["http.route"] == "/api/sessions/{session_id}/segments"
    assert root[0].tags["http.response.status_code"] == 200

    # Every server span below the root hangs off a CLIENT span of the calling service.
    callers = {"session": {"gateway", "feedback"}, "feedback": {"gateway"}}
    for server in trace.find(kind="server"):
        if server is root[0]:
            continue
        client = trace.parent(server)
        assert client is not None, f"{server.service} {server.operation} has no parent"
        assert client.kind == "client", trace.describe()
        assert client.service in callers[server.service], trace.describe()
        assert client.service != server.service
        # Named for what it calls (the distro's httpx hook): the callee's own route, as
        # in `POST /sessions/{session_id}/segments`, not a bare `POST`.
        assert client.operation == server.operation, trace.describe()
        assert client.tags["url.template"] == server.tags["http.route"], trace.describe()
        assert client.tags.get("server.address"), trace.describe()

    routes = {s.tags.get("http.route") for s in trace.find(service="session", kind="server")}
    assert routes == {
        "/sessions/{session_id}/segments",
        "/sessions/{session_id}/history",
        "/sessions/{session_id}/segments/{segment_id}/feedback",
    }
    # The feedback service's call to session is a grandchild of the gateway's feedback call.
    history = next(s for s in trace.find(service="session", kind="server")
                   if s.tags.get("http.route") == "/sessions/{session_id}/history")
    assert trace.parent(trace.parent(history)).service == "feedback"


def test_session_db_calls_are_spans_with_the_sql_statement(
    gateway: httpx.Client, jaeger: Jaeger, session_id: str
) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT)
    trace = jaeger.wait_for_trace(response.headers["x-trace-id"], _complete_segment_trace,
                                  "the complete segment trace")
    # SESSION_DB picks the store (CI runs this test with both): SQLite's placeholders
    # are `?`, PostgreSQL's `%s`. The stable database conventions only (compose's
    # OTEL_SEMCONV_STABILITY_OPT_IN has no database/dup): db.system.name and
    # db.query.text, not the old db.system and db.statement as well.
    system, placeholder = {"sqlite": ("sqlite", "?"),
                           "postgres": ("postgresql", "%s")}[setting("SESSION_DB")]
    db_spans = [s for s in trace.find(service="session", kind="client")
                if s.tags.get("db.system.name") == system]
    statements = [s.tags.get("db.query.text", "") for s in db_spans]
    old_names = [sorted(s.tags.keys() & {"db.system", "db.statement"}) for s in db_spans]
    assert not any(old_names), old_names
    assert any(st.startswith("INSERT INTO segments") for st in statements), statements
    assert any(f"FROM segments WHERE session_id = {placeholder}" in st
               for st in statements), statements
    # Placeholders only: the user's speech never lands in a span.
    assert not any(SEGMENT["text"] in st for st in statements)
    for span in db_spans:
        server = trace.parent(span)
        assert server is not None and server.service == "session" and server.kind == "server"


def test_feedback_decision_is_a_manual_span_with_its_reasons(
    gateway: httpx.Client, jaeger: Jaeger, session_id: str
) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT)
    trace = jaeger.wait_for_trace(response.headers["x-trace-id"], _complete_segment_trace,
                                  "the feedback rules span")
    (rules,) = trace.find(service="feedback", operation="evaluate feedback rules")
    assert rules.kind == "internal"
    assert rules.tags["haptitalk.mode"] == "presentation"
    assert "pace_too_fast" in rules.tags["haptitalk.rules_fired"]
    assert rules.tags["haptitalk.feedback.pattern"] == "slow_down"
    assert rules.tags["haptitalk.cooldown_active"] is False
    assert trace.parent(rules).kind == "server"


def test_a_callers_traceparent_is_continued(gateway: httpx.Client, jaeger: Jaeger,
                                           session_id: str) -> None:
    # Fresh ids every run: a long-lived Jaeger must not pass this with an earlier run's trace.
    outside_trace = uuid.uuid4().hex
    outside_span = uuid.uuid4().hex[:16]
    response = gateway.get(
        f"/api/sessions/{session_id}",
        headers={"traceparent": f"00-{outside_trace}-{outside_span}-01"},
    )
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == outside_trace

    def has_gateway_and_session(trace: Trace) -> bool:
        return bool(trace.find(service="gateway", kind="server")) and bool(
            trace.find(service="session", kind="server")
        )

    trace = jaeger.wait_for_trace(outside_trace, has_gateway_and_session,
                                  "gateway and session spans in the caller's trace")
    gateway_server = next(s for s in trace.find(service="gateway", kind="server")
                          if s.tags.get("http.route") == "/api/sessions/{session_id}")
    assert gateway_server.parent_id == outside_span


def test_a_wait_returns_every_span_the_collector_had_accepted(jaeger: Jaeger) -> None:
    """The settle rule (stackctl/jaeger.py): a wait whose condition part of a trace already
    meets returns the trace only once every span the collector had accepted is stored."""
    assert_waits_return_whole_traces(jaeger, tries=3)


def test_full_session_contract(gateway: httpx.Client, user_id: str) -> None:
    created = gateway.post("/api/sessions", json={"user_id": user_id, "mode": "interview"})
    assert created.status_code == 201
    session = created.json()
    assert session["status"] == "active" and session["mode"] == "interview"
    assert session["user_id"] == user_id and session["started_at"]

    sid = session["session_id"]
    paces = [125.0, 180.0, 130.0, 70.0, 128.0, 131.0]
    for pace in paces:
        seg = dict(SEGMENT, words_per_minute=pace, pitch_hz=120 + pace / 5)
        r = gateway.post(f"/api/sessions/{sid}/segments", json=seg)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"segment_id", "seq", "feedback", "fluency"}

    view = gateway.get(f"/api/sessions/{sid}").json()
    assert view["segment_count"] == len(paces)
    assert 1 <= view["feedback_count"] < len(paces)  # the cooldown held some back

    report = gateway.post(f"/api/sessions/{sid}/end")
    assert report.status_code == 200
    body = report.json()
    assert body["segments"] == len(paces)
    assert body["feedback_given"] == view["feedback_count"]
    assert body["averages"]["words_per_minute"] == round(sum(paces) / len(paces), 1)
    assert body["highlights"]
    assert gateway.get(f"/api/sessions/{sid}").json()["status"] == "ended"
    late = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "conflict"


# --- the README's span tree is a real segment call ---------------------------------------

README_TREE = re.compile(r"^( *)(\S+) +(.+?)(?: \(x(\d+)\))? {2,}"
                         r"(SERVER|CLIENT|INTERNAL|PRODUCER|CONSUMER)\b")


def readme_tree() -> list[tuple[int, str, str, str]]:
    """README.md's "One segment call" block: (depth, service, operation, kind) per span,
    a `(xN)` line counted N times."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("One segment call;"):]
    block = block[block.index("```\n") + 4:]
    block = block[:block.index("```")]
    rows = []
    for line in block.splitlines():
        match = README_TREE.match(line)
        assert match, f"README.md: not a span line: {line!r}"
        indent, service, operation, times, kind = match.groups()
        rows += [(len(indent) // 2, service, operation, kind.lower())] * int(times or 1)
    return rows


def span_tree(trace: Trace) -> list[tuple[int, str, str, str]]:
    """The trace as the README draws it: depth-first, each span's children in the order
    they started."""
    rows: list[tuple[int, str, str, str]] = []

    def walk(span: Span, depth: int) -> None:
        rows.append((depth, span.service, span.operation, span.kind))
        for child in sorted(trace.children(span), key=lambda s: s.start_us):
            walk(child, depth + 1)

    (top,) = [s for s in trace.spans if s.parent_id is None]
    walk(top, 0)
    return rows


def test_the_readmes_span_tree_is_a_real_segment_call(jaeger: Jaeger,
                                                       endpoints: Endpoints) -> None:
    """What README.md shows of one segment call is what Jaeger holds for one: every span,
    its service, name, kind and place, through RabbitMQ to the watch."""
    trace_id = send(endpoints.gateway, "readme")
    trace = jaeger.wait_for_trace(trace_id, through_the_watch,
                                  "the segment call with the watch's span")
    expected, seen = readme_tree(), span_tree(trace)
    if setting("SESSION_DB") != "sqlite":
        # The README draws the default store, SQLite; PostgreSQL's makes statements of its
        # own (make test-postgres). Session's only CLIENT spans are its statements.
        def statements_left_out(rows: list) -> list:
            return [row for row in rows if not (row[1] == "session" and row[3] == "client")]
        expected, seen = statements_left_out(expected), statements_left_out(seen)
    assert seen == expected, "README.md's tree differs from a real segment call:\n" + \
        "\n".join(f"{'  ' * d}{service} {operation} {kind}" for d, service, operation, kind
                  in seen)
