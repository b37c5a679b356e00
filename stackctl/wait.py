"""The one deadline poll: every "wait until ..." of the tools and the tests goes through
here. Nothing sleeps and hopes; each wait names what it waited for, and fails with what
it last saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A deadline passed. An AssertionError, so a test that waits fails (not errors)."""


def wait_until(check: Callable[[], T | None], what: str, timeout_s: float,
               interval_s: float = 0.2, seen: Callable[[], str] | None = None) -> T:
    """Call `check` until it returns a truthy value (returned) or `timeout_s` passes
    (WaitTimeout naming `what`, and `seen()`: what the last check saw)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            last = f"; last seen: {seen()}" if seen else ""
            raise WaitTimeout(f"waited {timeout_s:g}s for {what}{last}")
        time.sleep(interval_s)


def elapsed_s(since: float) -> float:
    return time.monotonic() - since
