"""The load's watch user (loadtest/locustfile.py) reads the watch's stream as the watch
writes it, and `make load` (loadtest/run.py) runs every user class of the file.

The locustfile is imported in a process of its own, as Locust imports it: Locust patches
the standard library with gevent on import, which must come before anything imports ssl
(pytest and httpx here already have)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from loadtest.run import JOURNEYS
from services.watch.api import _event
from services.watch.models import CueMessage, SessionSummary
from stackctl.settings import ROOT

READ_IT = """
import inspect, json, sys
from locust import HttpUser
from loadtest import locustfile
users = sorted(name for name, value in inspect.getmembers(locustfile, inspect.isclass)
               if issubclass(value, HttpUser) and value is not HttpUser)
events = list(locustfile.sse_events(iter(sys.stdin.read().split("\\n"))))
print(json.dumps({"users": users, "events": events}))
"""


def locustfile_reads(stream: str) -> dict:
    done = subprocess.run([sys.executable, "-c", READ_IT], input=stream, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_watch_user_reads_each_cue_then_the_summary_from_the_stream() -> None:
    sid, segment = uuid.uuid4().hex, uuid.uuid4().hex
    cue = CueMessage(session_id=sid, segment_id=segment, seq=3,
                     cue={"pattern": "double_short", "intensity": 2, "reason": "fast"})
    stream = (_event(cue) + ": keep-alive\n\n"
              + _event(SessionSummary(session_id=sid, segments=4, cues=1)))
    read = locustfile_reads(stream)
    assert [kind for kind, _ in read["events"]] == ["cue", "summary"], read
    assert read["events"][0][1]["segment_id"] == segment and read["events"][1][1]["cues"] == 1
    assert set(read["users"]) == set(JOURNEYS) and "WatchWearer" in JOURNEYS, read["users"]
