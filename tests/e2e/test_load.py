"""`make load`: Locust traffic traced from the first click, with a summary and trace links."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from stackctl.jaeger import Jaeger, Trace
from tests.support.stack import ROOT, Endpoints


def test_make_load_summarises_and_its_traces_start_at_locust(
    endpoints: Endpoints, jaeger: Jaeger
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--users", "3", "--spawn-rate", "3",
         "--duration", "8s"],
        cwd=ROOT, capture_output=True, timeout=120,
        env={**os.environ, "GATEWAY_URL": endpoints.gateway,
             "JAEGER_URL": endpoints.jaeger, "COLUMNS": "80"},
    )
    # Decoded by hand: text=True would turn carriage returns into newlines.
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, out + err
    assert "POST /api/sessions/[id]/segments" in out
    assert "all requests" in out and "slowest requests" in out
    # An 80-column terminal holds the summary: the table, the links (each on its own line).
    wide = [line for line in out.splitlines() if len(line) > 80]
    assert not wide, wide
    # Not a terminal (a pipe, a CI log): progress is a line every 5 s, not one line
    # rewritten with carriage returns, and it says when the run is over.
    assert "\r" not in out, out[:300]
    ticks = [line for line in out.split("\n") if line.startswith(("  running", "  stopping"))]
    assert ticks and ticks[0] == "  running    0s / 8s", ticks
    assert all(not t.startswith("  running") or int(t.split()[1].rstrip("s")) < 8
               for t in ticks), ticks
    # A segment call: made inside a session, so its baggage carries session.id.
    trace_ids = re.findall(r"segments\s+\S+/trace/([0-9a-f]{32})", out)
    assert trace_ids, out

    def rooted_at_locust(trace: Trace) -> bool:
        return any(s.service == "locust" and s.parent_id is None for s in trace.spans) and \
            bool(trace.find(service="gateway", kind="server"))

    trace = jaeger.wait_for_trace(trace_ids[0], rooted_at_locust,
                                  "Locust's root span and the gateway's server span")
    (root,) = [s for s in trace.spans if s.parent_id is None]
    assert root.service == "locust" and root.kind == "client"
    (gateway,) = trace.find(service="gateway", kind="server")
    assert gateway.parent_id == root.span_id
    # Baggage from the load generator, copied onto every service's server span.
    for server in trace.find(kind="server"):
        assert server.tags.get("synthetic_request") == "true", server.operation
        assert re.fullmatch(r"[0-9a-f]{32}", server.tags.get("session.id", "")), server.operation
