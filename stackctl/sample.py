"""The one sample segment (what the phone app sends every few seconds) and a new
session, for the probes of `make doctor`, the benchmarks and the tests.

    python -m stackctl.sample     # what `make up` ends with: send one, print its trace's link
"""

from __future__ import annotations

import sys

import httpx

# 200 wpm in presentation mode: over the 160 limit, so feedback fires and the trace holds
# all five server spans (the session call that records the buzz included).
SEGMENT = {
    "text": "so um I think that we should basically move faster on this",
    "duration_ms": 4000,
    "words_per_minute": 200.0,
    "volume_db": 62.0,
    "pitch_hz": 140.0,
    "filler_words": 0,
}
# A comfortable pace: no buzz, four server spans.
CALM_SEGMENT = dict(SEGMENT, words_per_minute=130.0)
NEW_SESSION = {"user_id": "sample", "mode": "presentation"}


def segment(**changes: object) -> dict:
    return {**SEGMENT, **changes}


def send(gateway_url: str, user_id: str = "sample") -> str:
    """One new session and one segment through the gateway: the segment call's trace id."""
    with httpx.Client(base_url=gateway_url, timeout=10.0) as client:
        created = client.post("/api/sessions", json=dict(NEW_SESSION, user_id=user_id))
        created.raise_for_status()
        response = client.post(f"/api/sessions/{created.json()['session_id']}/segments",
                               json=SEGMENT)
        response.raise_for_status()
        return response.headers["x-trace-id"]


def main() -> int:
    # Imported here: the constants above are imported by everything, the client only here.
    from stackctl.jaeger import Jaeger, through_the_watch
    from stackctl.settings import endpoints

    urls = endpoints()
    try:
        trace_id = send(urls.gateway)
        jaeger = Jaeger(urls.jaeger)
        # The segment earns a buzz: the trace goes on through RabbitMQ to the watch.
        jaeger.wait_for_trace(
            trace_id, through_the_watch,
            what="the sample segment's whole trace, the watch's span included")
    except (httpx.HTTPError, AssertionError) as exc:
        print(f"  First trace     could not be made: {exc}\n"
              "                  (`make doctor` checks every hop)", file=sys.stderr)
        return 1
    print(f"  First trace     {jaeger.trace_url(trace_id)}")
    print("                  (one segment call: gateway -> session and feedback,\n"
          "                  feedback -> session, RabbitMQ -> watch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
