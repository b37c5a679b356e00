"""Bad input gets a clear error and loses nothing: schemathesis against each service's
OpenAPI, hostile trace headers, oversized bodies, odd path parameters."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from stackctl.jaeger import Jaeger
from stackctl.sample import SEGMENT
from tests.support.stack import ROOT, Endpoints, stack_mode

# Checks that hold for any request: no 5xx, responses (errors included) match the
# documented schemas, status codes and content types are documented, invalid data is
# refused. (positive_data_acceptance is left out: a random, well-formed session id is a
# valid request that rightly gets 404.)
CHECKS = ("not_a_server_error,response_schema_conformance,status_code_conformance,"
          "content_type_conformance,negative_data_rejection")


@pytest.mark.parametrize("service", ["gateway", "session", "feedback"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    endpoints: Endpoints, service: str, tmp_path: Path
) -> None:
    if service != "gateway" and stack_mode() == "compose":
        pytest.skip(f"{service} is internal in compose (not published); covered in local mode")
    base = getattr(endpoints, service)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json",
         "--checks", CHECKS, "--max-examples", "30", "--seed", "1", "--workers", "2",
         # Not /admin on the stack: schemathesis's stateful phase follows the list's names
         # into PUT and switched error_injection on, failing every later test (CI run).
         # tests/unit/test_admin.py fuzzes the admin API in process.
         "--exclude-path-regex", "^/admin", "--request-timeout", "10",
         # The coverage phase crashes inside schemathesis 4.32 on Python 3.11 (an internal
         # SystemError, not a finding): examples, fuzzing and stateful phases run.
         "--phases", "examples,fuzzing,stateful",
         "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _traceparent(version: str = "00", trace_id: str | None = None, span_id: str | None = None,
                 suffix: str = "") -> tuple[str, str, str]:
    """A traceparent header with fresh ids (unique per run), and its trace and span ids."""
    trace_id = trace_id or uuid.uuid4().hex
    span_id = span_id or uuid.uuid4().hex[:16]
    return f"{version}-{trace_id}-{span_id}-01{suffix}", trace_id, span_id


def hostile_traceparents() -> list[tuple[str, dict[str, str], str | None, str | None]]:
    """(case, headers, trace id and parent span id when W3C Trace Context says the trace
    is continued; None, None when it must restart)."""
    restart = [
        ("garbage", {"traceparent": "garbage"}),
        ("all-zero ids", {"traceparent": _traceparent(trace_id="0" * 32, span_id="0" * 16)[0]}),
        ("version ff (forbidden)", {"traceparent": _traceparent("ff")[0]}),
        ("not hex", {"traceparent": _traceparent(trace_id="g" * 32)[0]}),
        ("upper-case hex", {"traceparent": _traceparent(trace_id=uuid.uuid4().hex.upper())[0]}),
        ("3 KB trace id", {"traceparent": _traceparent(trace_id="a" * 3000)[0]}),
        ("version 00 with a suffix", {"traceparent": _traceparent(suffix="-extra")[0]}),
        ("2 KB tracestate alone", {"tracestate": "=,,=" * 500}),
    ]
    cases = [(name, headers, None, None) for name, headers in restart]
    # A higher version is parsed by its version-00 prefix, the rest ignored.
    header, trace_id, span_id = _traceparent("cc", suffix="-what-ever")
    cases.append(("future version with a suffix", {"traceparent": header}, trace_id, span_id))
    # A broken tracestate is dropped; the valid traceparent still counts.
    header, trace_id, span_id = _traceparent()
    cases.append(("valid, with a broken 2 KB tracestate",
                  {"traceparent": header, "tracestate": "=,,=" * 500}, trace_id, span_id))
    return cases


HOSTILE_TRACEPARENTS = hostile_traceparents()


@pytest.mark.parametrize("headers,continued,parent", [c[1:] for c in HOSTILE_TRACEPARENTS],
                         ids=[c[0] for c in HOSTILE_TRACEPARENTS])
def test_hostile_trace_headers_continue_or_restart_the_trace_as_w3c_says(
        gateway: httpx.Client, jaeger: Jaeger, session_id: str, headers: dict[str, str],
        continued: str | None, parent: str | None) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT,
                            headers=headers)
    assert response.status_code == 200, response.text
    trace_id = response.headers["x-trace-id"]
    # What Jaeger stores: the whole trace, rooted where W3C says.
    trace = jaeger.wait_for_trace(trace_id)
    (gateway_server,) = trace.find(service="gateway", kind="server")
    if continued:
        assert trace_id == continued and gateway_server.parent_id == parent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and trace_id != "0" * 32
        assert trace_id not in headers.get("traceparent", "").lower()
        assert gateway_server.parent_id is None
    # One root: every other span hangs off a span of this trace.
    assert [s for s in trace.spans if trace.parent(s) is None] == [gateway_server]


LONG_ID = "s" * 300
# The propagator applies W3C Baggage's limits (8192 bytes per header, 180 entries, 4096
# bytes per entry); services/common/baggage.py copies only its allow-list onto spans, each
# value cut at 128 characters (docs/reliability.md: the documented bound, written here,
# not read from the code it checks).
MAX_BAGGAGE_VALUE = 128
HOSTILE_BAGGAGE = [
    # (case, header, the session.id every server span carries, or None: none)
    ("unknown keys", "session.id=abc,synthetic_request=true,secret=hunter2", "abc"),
    ("300-char value", f"session.id={LONG_ID}", LONG_ID[:MAX_BAGGAGE_VALUE]),
    ("500 entries", "session.id=first," + ",".join(f"k{i}=v{i}" for i in range(500)), "first"),
    ("entry 501", ",".join(f"k{i}=v{i}" for i in range(500)) + ",session.id=last", None),
    ("an 8 KB entry", "session.id=abc,x=" + "y" * 8000, "abc"),
    ("a 9 KB header", "session.id=abc," + ",".join(f"x{i}=" + "y" * 1000 for i in range(9)),
     None),
    # (percent-encoded DEL: a raw control byte is invalid HTTP, refused by the server's
    # parser before any tracing code sees it; broken escapes are kept verbatim)
    ("broken escapes", "session.id=%ZZ%, synthetic_request=%7F;;;==", "%ZZ%"),
]


@pytest.mark.parametrize("header,expected", [c[1:] for c in HOSTILE_BAGGAGE],
                         ids=[c[0] for c in HOSTILE_BAGGAGE])
def test_hostile_baggage_reaches_spans_bounded(gateway: httpx.Client, jaeger: Jaeger,
                                               session_id: str, header: str,
                                               expected: str | None) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT,
                            headers={"baggage": header})
    assert response.status_code == 200, response.text
    trace = jaeger.wait_for_trace(response.headers["x-trace-id"])
    for span in trace.spans:
        outside = {k for k in span.tags if re.fullmatch(r"k\d+|x\d*|secret", k)}
        assert not outside, f"{span.service} {span.operation} carries {outside}"
        if span.kind == "server":
            assert span.tags.get("session.id") == expected, (span.service, span.operation)


def test_oversized_body_is_413(gateway: httpx.Client, session_id: str) -> None:
    huge = dict(SEGMENT, text="a" * 400_000)
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=huge)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and error["service"] == "gateway"

    def chunks():
        yield b'{"text": "'
        for _ in range(100):
            yield b"a" * 4096
        yield b'"}'

    # Without Content-Length (chunked): caught while reading.
    response = gateway.post(f"/api/sessions/{session_id}/segments", content=chunks(),
                            headers={"content-type": "application/json"})
    assert response.status_code == 413
    # Nothing was stored by either.
    assert gateway.get(f"/api/sessions/{session_id}").json()["segment_count"] == 0


ODD_IDS = [
    "'; DROP TABLE sessions; --",
    "../../etc/passwd",
    "%2e%2e%2fadmin",
    "0123456789abcdef0123456789abcdeg",
    "ÄÖÜ-ß-😀",
    "1 OR 1=1",
    "a" * 5000,
]


@pytest.mark.parametrize("odd", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_path_parameters_are_clear_4xx_and_change_nothing(
    gateway: httpx.Client, session_id: str, odd: str
) -> None:
    gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT)
    before = gateway.get(f"/api/sessions/{session_id}").json()
    for method, path, body in (("GET", "", None), ("POST", "/segments", SEGMENT),
                               ("POST", "/end", None)):
        response = gateway.request(method, f"/api/sessions/{odd}{path}", json=body)
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        if response.headers.get("content-type", "").startswith("application/json"):
            assert "error" in response.json()
    after = gateway.get(f"/api/sessions/{session_id}").json()
    assert after == before
