"""The segment scorer: a fluency score (0-100) per segment, behind a pool of slots.

In the real product this is a speech model with limited capacity; here its latency is a
fixed, clearly named delay (`scorer_ms`, like HotROD's `delay` package) so that the two
planted bottlenecks on this path are easy to see and nothing else is:

- `pool_of_one`: one slot instead of a pool. Under concurrency, requests queue: in the
  trace, "wait for scorer slot" grows while "score segment" stays the same.
- `blocking_call`: the speaker profile is read with a *blocking* call straight inside the
  async handler (time.sleep stands in for a synchronous client library). It freezes the
  event loop: every other request on this process waits, and their spans show gaps that
  no child span explains. Fixed: the same call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time

from opentelemetry import trace

from services import scenarios
from services.session.models import Segment

tracer = trace.get_tracer("haptitalk.feedback")
# The pool: as many model calls at once as the model serves well.
SCORER_SLOTS = 8
# The model's latency per call, whatever the batch size.
SCORER_MS = 5.0
# The speaker profile lookup's latency.
PROFILE_LOOKUP_MS = 5.0


class ScorerPool:
    def __init__(self) -> None:
        self._size = 0
        self._slots = asyncio.Semaphore(1)

    @property
    def size(self) -> int:
        return self._size

    def slots(self) -> asyncio.Semaphore:
        size = SCORER_SLOTS
        if scenarios.is_on("pool_of_one"):
            size = 1
        if size != self._size:
            # Resizing while requests hold slots: the old semaphore drains on its own.
            self._size, self._slots = size, asyncio.Semaphore(size)
        return self._slots


POOL = ScorerPool()


def _load_speaker_profile(block_ms: float) -> dict[str, float]:
    """Stands in for a synchronous client call (a blocking DB driver, `requests`...)."""
    time.sleep(block_ms / 1000)
    return {"baseline_wpm": 135.0}


async def speaker_profile() -> dict[str, float]:
    with tracer.start_as_current_span("load speaker profile") as span:
        if scenarios.is_on("blocking_call"):
            scenarios.mark("blocking_call")
            block_ms = float(scenarios.get("blocking_call").param("block_ms"))
            span.set_attribute("haptitalk.blocking_ms", block_ms)
            return _load_speaker_profile(block_ms)  # broken: blocks the event loop
        return await asyncio.to_thread(_load_speaker_profile, PROFILE_LOOKUP_MS)


def fluency(segment: Segment, baseline_wpm: float) -> float:
    pace_penalty = min(40.0, abs(segment.words_per_minute - baseline_wpm) / 2)
    minutes = segment.duration_ms / 60_000
    filler_penalty = min(40.0, (segment.filler_words / minutes if minutes else 0) * 4)
    return round(max(0.0, 100.0 - pace_penalty - filler_penalty), 1)


async def score(segment: Segment) -> float:
    (result,) = await score_batch([segment])
    return result


async def score_batch(segments: list[Segment]) -> list[float]:
    """One model call scores a whole batch: same latency for 1 segment or 100."""
    slots = POOL.slots()
    with tracer.start_as_current_span("wait for scorer slot") as wait:
        wait.set_attribute("haptitalk.scorer.pool_size", POOL.size)
        if scenarios.is_on("pool_of_one"):
            scenarios.mark("pool_of_one")
        await slots.acquire()
    try:
        with tracer.start_as_current_span("score segment") as span:
            span.set_attribute("haptitalk.scorer.batch", len(segments))
            model_ms = SCORER_MS
            if scenarios.is_on("pool_of_one"):
                scenarios.mark("pool_of_one")
                model_ms = float(scenarios.get("pool_of_one").param("scorer_ms"))
            profile = await speaker_profile()
            await asyncio.sleep(model_ms / 1000)
            return [fluency(s, profile["baseline_wpm"]) for s in segments]
    finally:
        slots.release()
