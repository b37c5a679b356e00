"""`helm test`: one segment through the gateway, and its trace in Jaeger's query API.

    GATEWAY_URL=http://... JAEGER_URL=http://... python roundtrip.py

Starts a session, posts a segment, reads the trace id from the answer's X-Trace-Id and
polls Jaeger's /api/traces/<id> until the trace holds spans of the three services, or
fails at DEADLINE_SECONDS saying what it saw. Standard library only: it runs in the
services' image (the chart's test pod) and against a local stack alike.

Every request carries the baggage synthetic_request=helm-test: the services copy it onto
their spans (services/common/baggage.py) and the tail tier keeps such traces whatever its
sampling share (infra/collector/sampling-tail.yaml, keep-helm-test).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

BAGGAGE = "synthetic_request=helm-test"
SESSION = {"user_id": "helm-test", "mode": "presentation"}
SEGMENT = {"text": "a short check that the whole trace path works", "duration_ms": 3000,
           "words_per_minute": 130.0, "volume_db": 60.0, "pitch_hz": 140.0,
           "filler_words": 0}
SERVICES = {"gateway", "session", "feedback"}


def call(method: str, url: str, body: dict | None = None) -> tuple[dict, dict]:
    """(headers, JSON answer) of one request with the test's baggage."""
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json", "baggage": BAGGAGE})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {k.lower(): v for k, v in response.headers.items()}, json.load(response)


def services_in_jaeger(jaeger: str, trace_id: str) -> set[str]:
    try:
        _, body = call("GET", f"{jaeger}/api/traces/{trace_id}")
    except urllib.error.HTTPError as error:
        if error.code == 404:  # not there (yet)
            return set()
        raise
    return {process["serviceName"] for trace in body.get("data") or []
            for process in trace["processes"].values()}


def main() -> int:
    gateway = os.environ["GATEWAY_URL"].rstrip("/")
    jaeger = os.environ["JAEGER_URL"].rstrip("/")
    deadline_s = float(os.environ.get("DEADLINE_SECONDS", "120"))
    _, session = call("POST", f"{gateway}/api/sessions", SESSION)
    headers, _ = call("POST", f"{gateway}/api/sessions/{session['session_id']}/segments",
                      SEGMENT)
    trace_id = headers["x-trace-id"]
    print(f"segment posted: trace {trace_id}; waiting for it in {jaeger}", flush=True)
    started = time.monotonic()
    seen: set[str] = set()
    while time.monotonic() - started < deadline_s:
        seen = services_in_jaeger(jaeger, trace_id)
        if SERVICES <= seen:
            print(f"trace {trace_id} in Jaeger after {time.monotonic() - started:.1f} s "
                  f"with spans of {', '.join(sorted(seen))}")
            return 0
        time.sleep(2)
    print(f"FAILED: trace {trace_id} not complete in Jaeger within {deadline_s:g} s: spans of "
          f"{sorted(seen) or 'no service'}, expected {sorted(SERVICES)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
