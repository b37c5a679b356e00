"""Bad input gets a clear error and loses nothing: schemathesis against each service's
OpenAPI, hostile trace headers, oversized bodies, odd path parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

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
         # The admin API flips planted bottlenecks (error injection...): not fuzzed.
         "--exclude-path-regex", "^/admin", "--request-timeout", "10",
         # The coverage phase crashes inside schemathesis 4.32 on Python 3.11 (an internal
         # SystemError, not a finding): examples, fuzzing and stateful phases run.
         "--phases", "examples,fuzzing,stateful",
         "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


HOSTILE_HEADERS = [
    {"traceparent": "garbage"},
    {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},          # all-zero ids
    {"traceparent": "ff-" + "a" * 32 + "-" + "b" * 16 + "-01"},          # forbidden version
    {"traceparent": "00-" + "g" * 32 + "-" + "b" * 16 + "-01"},          # not hex
    {"traceparent": "00-" + "a" * 3000 + "-" + "b" * 16 + "-01"},        # oversized
    {"tracestate": "=,,=" * 500},
    {"baggage": "x" * 8000},
    # (percent-encoded DEL: a raw control byte is invalid HTTP, refused by the server's
    # parser before any tracing code sees it)
    {"baggage": "session.id=%ZZ%, synthetic_request=%7F;;;=="},
    {"baggage": ",".join(f"k{i}=v{i}" for i in range(500))},
]


@pytest.mark.parametrize("headers", HOSTILE_HEADERS,
                         ids=[next(iter(h)) + str(i) for i, h in enumerate(HOSTILE_HEADERS)])
def test_hostile_trace_headers_start_a_fresh_trace(gateway: httpx.Client, session_id: str,
                                                   headers: dict[str, str]) -> None:
    response = gateway.post(f"/api/sessions/{session_id}/segments", json=SEGMENT,
                            headers=headers)
    assert response.status_code == 200, response.text
    trace_id = response.headers["x-trace-id"]
    assert len(trace_id) == 32 and trace_id != "0" * 32 and trace_id != "a" * 32


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
