"""Retrying a flaky dependency: the broken way and the fixed way (scenario `retry_storm`).

Broken: retry at once, up to 5 attempts. When session is struggling, every request
multiplies its load by up to 5, with no pause: in the trace, a row of red sibling CLIENT
spans back to back.

Fixed: at most 3 attempts, exponential backoff with jitter (25-50 ms, then 50-100 ms),
and only for errors that can pass (5xx, timeouts), never for 4xx. In the
trace: fewer siblings, with growing gaps between them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from opentelemetry import trace

from services import scenarios
from services.common.errors import DependencyUnavailable

T = TypeVar("T")

BASE_DELAY_S = 0.05


async def with_retries(call: Callable[[], Awaitable[T]]) -> T:
    attempts, backoff = 3, True
    if scenarios.is_on("retry_storm"):
        scenarios.mark("retry_storm")
        attempts, backoff = 5, False
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except DependencyUnavailable:
            if attempt == attempts:
                raise
            trace.get_current_span().add_event("retry", {"attempt": attempt + 1})
            if backoff:
                delay = BASE_DELAY_S * 2 ** (attempt - 1)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
    raise AssertionError("unreachable")
