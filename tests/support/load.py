"""A small, steady load for the fault tests: worker threads posting segments in a loop,
every request recorded (when it started, how long it took, its status and trace id).

Locust drives `make load`; here the tests need each request's outcome in their own hands
(which ones fell in an outage window), so a few threads with httpx are simpler.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from statistics import quantiles

import httpx

from stackctl.sample import CALM_SEGMENT


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no response (connection error or client timeout)
    trace_id: str | None
    # The session this worker created just before this request (its first), if any:
    # its trace is part of the load's too.
    setup_trace_id: str | None = None
    # The answer carried a haptic cue (a buzz: its trace holds the cue's spans too).
    buzz: bool = False


def trace_ids(outcomes: list[Outcome]) -> list[str]:
    """Every trace these requests made, the session creations included."""
    return [t for o in outcomes for t in (o.setup_trace_id, o.trace_id) if t]


def p99(outcomes: list[Outcome]) -> float:
    values = [o.seconds for o in outcomes]
    if len(values) < 2:
        return max(values, default=0.0)
    return quantiles(values, n=100, method="inclusive")[98]


class Load:
    """`with Load(url, workers=4) as load: ...` ; `load.between(t0, t1)` for a window."""

    def __init__(self, gateway_url: str, workers: int = 4, pause_s: float = 0.05,
                 timeout_s: float = 10.0) -> None:
        self.url = gateway_url
        self.workers = workers
        self.pause_s = pause_s
        self.timeout_s = timeout_s
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        for _ in range(self.workers):
            thread = threading.Thread(target=self._work, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5)

    def _work(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as client:
            sid = None
            while not self._stop.is_set():
                started = time.monotonic()
                status, trace_id, setup_trace_id, buzz = 0, None, None, False
                try:
                    if sid is None:
                        created = client.post("/api/sessions",
                                              json={"user_id": "fault", "mode": "interview"})
                        setup_trace_id = created.headers.get("x-trace-id")
                        sid = created.json()["session_id"] if created.status_code == 201 \
                            else None
                        started = time.monotonic()
                    if sid is not None:
                        response = client.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
                        status, trace_id = response.status_code, response.headers.get(
                            "x-trace-id")
                        buzz = status == 200 and response.json().get("feedback") is not None
                except httpx.HTTPError:
                    pass
                with self._lock:
                    self.outcomes.append(Outcome(started, time.monotonic() - started, status,
                                                 trace_id, setup_trace_id, buzz))
                self._stop.wait(self.pause_s)

    def between(self, start: float, end: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def hold(self, seconds: float) -> tuple[float, float]:
        """Keep the load running for `seconds` (the length of a test phase, not a wait
        for something to happen); returns the phase's (start, end) on the monotonic clock."""
        start = time.monotonic()
        self._stop.wait(seconds)
        return start, time.monotonic()
