"""The failures session's scenarios inject: `error_injection` (segment writes) and
`flaky_history` (history reads). Here, with the switches, rather than in session's code:
session calls these from its `if scenarios.is_on(...)` branches, and a copy without the
scenarios has no failure classes to explain.
"""

from __future__ import annotations

import random

from services.common.errors import ServiceError
from services.scenarios import get, mark


class InjectedFailure(ServiceError):
    """A failure planted on purpose by a scenario. Its span is red with the exception
    event, like any other ServiceError."""

    status_code = 500
    code = "injected_failure"


class InjectedUnavailable(InjectedFailure):
    status_code = 503


def error_injection() -> None:
    """A share `rate` of segment writes fail with a 500."""
    if random.random() < get("error_injection").param("rate"):
        mark("error_injection")
        raise InjectedFailure("injected failure (scenario error_injection): segment not stored")


def flaky_history() -> None:
    """A share `failure_rate` of history reads fail with a 503 (try again)."""
    if random.random() < get("flaky_history").param("failure_rate"):
        mark("flaky_history")
        raise InjectedUnavailable("injected flakiness (scenario flaky_history): try again")
