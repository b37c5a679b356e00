"""Planted bottlenecks: named switches, each guarding one honest code path.

Like Jaeger HotROD's `--fix-*` flags, but switchable at run time without a restart:

    make scenario NAME=n_plus_one STATE=on      # PUT /admin/scenarios/n_plus_one on the gateway

Each switch has one owner: the service whose code path it changes, and the only process
that holds its state (the catalogue below is shared; the state is not). The gateway's
admin API routes a switch to its owner and asks each owner for the list, so nothing is
copied between processes: a restarted service comes back with its switches off, and the
list says so. While a scenario is on, every span of its broken code path carries
`demo.scenario=<name>`, so Jaeger's tag search (Tags: demo.scenario=n_plus_one) isolates
exactly those traces.

All are off by default. See docs/scenarios.md for what each looks like in a trace.

The services' code reaches this folder in three forms only, so that the suite without
the scenarios is this folder deleted and three mechanical edits (docs/architecture.md;
tests/infra/test_scenarios_confined.py makes them on a copy and runs the unit tests):

1. imports from services.scenarios (`from services import scenarios`, ...): deleted;
2. `if scenarios.is_on("<name>"):` blocks, the broken path: deleted, their `else:`
   kept. The fixed path's values are the service's own constants (feedback's
   SCORER_SLOTS); a block overrides them while its switch is on;
3. a statement that only calls a name imported from here (`install_admin(app, ...)`):
   deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

ATTRIBUTE = "demo.scenario"


@dataclass
class Scenario:
    name: str
    owner: str  # the service whose code path it switches, and that holds its state
    broken: str  # what "on" does
    fixed: str  # what "off" does
    # The broken path's parameters (bounded in admin.ScenarioParams), read only inside
    # its `is_on` block: off, the fixed path runs on the service's own constants.
    defaults: dict[str, Any] = field(default_factory=dict)
    enabled: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, key: str) -> Any:
        return self.params.get(key, self.defaults[key])

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "enabled": self.enabled,
            "params": {k: self.param(k) for k in self.defaults},
            "broken": self.broken,
            "fixed": self.fixed,
        }


def _catalogue() -> dict[str, Scenario]:
    scenarios = [
        Scenario("n_plus_one", "feedback",
                 "the end-of-session report scores each segment with its own model call, "
                 "one after another",
                 "one model call scores all the session's segments (a batch)"),
        Scenario("sequential_fanout", "gateway",
                 "the session view awaits its three independent calls one after another",
                 "the three calls run concurrently (asyncio.gather)"),
        Scenario("slow_query", "session",
                 "history reads scan the segments table (NOT INDEXED), seeded with many rows",
                 "history reads use the (session_id, seq) index",
                 {"seed_rows": 200_000}),
        Scenario("pool_of_one", "feedback",
                 "the segment scorer has a single slot: requests queue for it",
                 "the scorer has a pool of slots",
                 {"scorer_ms": 5}),  # feedback's SCORER_MS: on, only the pool differs
        Scenario("blocking_call", "feedback",
                 "the scorer's model lookup blocks the event loop (time.sleep in async code)",
                 "the blocking lookup runs in a worker thread (asyncio.to_thread)",
                 {"block_ms": 5}),  # feedback's PROFILE_LOOKUP_MS: on, only the blocking differs
        Scenario("flaky_history", "session",
                 "a share of history reads fail with HTTP 503 (try again)",
                 "history reads do not fail",
                 {"failure_rate": 0.5}),
        Scenario("retry_storm", "feedback",
                 "feedback retries a failed call at once, up to 5 times (with flaky_history: "
                 "a storm)",
                 "at most 3 attempts, exponential backoff with jitter"),
        Scenario("error_injection", "session",
                 "a share of segment writes fail with HTTP 500",
                 "no injected failures",
                 {"rate": 0.2}),
        Scenario("slow_consumer", "watch",
                 "the watch takes one cue at a time from RabbitMQ (prefetch 1): under "
                 "load cues wait in the queue",
                 "the watch takes up to 32 cues at once and buzzes them side by side",
                 {"handle_ms": 20}),  # the watch's BUZZ_MS: on, only the prefetch differs
    ]
    return {s.name: s for s in scenarios}


SCENARIOS: dict[str, Scenario] = _catalogue()


def get(name: str) -> Scenario:
    return SCENARIOS[name]


def is_on(name: str) -> bool:
    return SCENARIOS[name].enabled


def mark(name: str) -> None:
    """Tag the current span: this request went through scenario `name`'s broken path."""
    trace.get_current_span().set_attribute(ATTRIBUTE, name)
