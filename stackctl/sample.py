"""The one sample segment (what the phone app sends every few seconds) and a new
session, for the probes of `make doctor`, the benchmarks and the tests."""

from __future__ import annotations

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
