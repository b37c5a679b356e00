"""`make bench-scenario NAME=...`: the same fixed Locust profile with a scenario off, then
on, and the figures side by side (throughput, p50, p95: all requests and the affected one).

    make bench-scenario NAME=pool_of_one      # BENCH_USERS=20 BENCH_SECONDS=30
    make bench-scenario NAME=all              # every scenario in turn (~11 min), then the
                                              # markdown table of docs/scenarios.md
    python -m bench.scenarios table           # that table again, from the newest
                                              # reports/bench-<name>-*/result.json of each

Bounded: two runs of BENCH_SECONDS each, of bench/locustfile.py's `ScenarioLoad` user (no
think time), BENCH_USERS=20 by default. Locust runs without --otel here (the services
are traced as always; the load generator's own spans would only add noise). Results:
reports/bench-<name>-<time>/result.json, and docs/scenarios.md quotes them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from statistics import quantiles

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.report import scenario_table
from bench.run import JAEGER_API as JAEGER
from bench.run import ROOT, locust
from stackctl.doctor import QUEUE, broker_login
from stackctl.jaeger import complete
from stackctl.preflight import require_stack
from stackctl.scenario import gateway_url, switch
from stackctl.settings import endpoints
from stackctl.topology import WATCH

# slow_consumer slows no HTTP answer: what it affects is the cue's wait in RabbitMQ, read
# from the run's traces in Jaeger (the watch's CONSUMER span start minus feedback's
# PRODUCER span start, as tests/e2e/test_broker.py does) and the queue's depth (the
# management API, polled through the run). Its row gives those in the p50 / p95 columns.
QUEUE_WAIT = "cue in the queue (PRODUCER → CONSUMER)"
SEGMENTS = "/api/sessions/[id]/segments"
QUEUE_SAMPLE = 150       # segment traces read from Jaeger per run, spread over the run
DRAIN_DEADLINE_S = 240   # for the on-run's backlog to reach the watch

AFFECTED = {
    "n_plus_one": "/api/sessions/[id]/end",
    "sequential_fanout": "/api/sessions/[id]",
    "slow_query": "/api/sessions/[id]/segments",
    "pool_of_one": "/api/sessions/[id]/segments",
    "blocking_call": "/api/sessions/[id]/segments",
    "flaky_history": "/api/sessions/[id]/segments",
    "retry_storm": "/api/sessions/[id]/segments",
    "error_injection": "/api/sessions/[id]/segments",
    "slow_consumer": QUEUE_WAIT,
}
# The on run's parameters: the scorer and the blocking lookup take 20 ms (enough to
# saturate one slot / one event loop under this profile). The off run is the fixed path as
# shipped (5 ms each): parameters go with a switch that is on only.
BENCH_PARAMS: dict[str, dict[str, float]] = {
    "pool_of_one": {"scorer_ms": 20},
    "blocking_call": {"block_ms": 20},
    # 100 ms a cue, one at a time: 10 cues/s, fewer than this profile makes (as in the
    # trace-signature test; at the watch's own 20 ms the queue keeps up).
    "slow_consumer": {"handle_ms": 100},
}
# Switches held on through both runs: retry_storm is measured with session flaky in both,
# so the runs differ only in the retry policy (immediate x5 versus backoff x3).
BACKGROUND: dict[str, dict[str, dict[str, float]]] = {
    "retry_storm": {"flaky_history": {"failure_rate": 0.5}},
}


def figures(rows: list[dict[str, str]], name: str) -> dict[str, float]:
    row = next(r for r in rows if r["Name"] == name)
    count = int(row["Request Count"])
    return {
        "requests": count,
        "failures": int(row["Failure Count"]),
        "rps": round(float(row["Requests/s"]), 2),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
    }


class QueueDepth:
    """The deepest the cue queue got while the block ran (management API, every 0.5 s)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> QueueDepth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _poll(self) -> None:
        url = f"{endpoints().rabbitmq_management}/api/queues/%2F/{QUEUE}"
        with httpx.Client(auth=broker_login(), timeout=2.0) as client:
            while not self._stop.wait(0.5):
                try:
                    depth = client.get(url).json().get("messages", 0)
                except (httpx.HTTPError, ValueError):
                    continue
                self.peak = max(self.peak, depth)


def queue_wait(out: Path, peak_depth: int) -> dict[str, float]:
    """The run's cue traces (segment calls that earned a buzz), a sample spread over the
    run: how long each cue waited in the queue, once the backlog has reached the watch."""
    ids = json.loads((out / "trace_ids.json").read_text()).get(SEGMENTS, [])
    sample = ids[:: max(1, len(ids) // QUEUE_SAMPLE)]
    traces = JAEGER.wait_for_traces(sample, complete, "the run's segment traces")
    cued = [t for t, trace in traces.items() if trace.find(service="feedback", kind="producer")]
    if not cued:
        raise SystemExit(f"none of {len(sample)} segment traces made a cue: is the broker "
                         "up (make doctor)?")
    reached = JAEGER.wait_for_traces(
        cued, lambda t: bool(t.find(service=WATCH, kind="consumer")),
        "the cues' CONSUMER spans at the watch", deadline_s=DRAIN_DEADLINE_S)
    gaps = []
    for trace in reached.values():
        (producer,) = trace.find(service="feedback", kind="producer")
        (consumer,) = trace.find(service=WATCH, kind="consumer")
        gaps.append((consumer.start_us - producer.start_us) / 1000)
    cuts = quantiles(gaps, n=20)
    p50, p95 = cuts[9], cuts[18]
    return {"requests": len(gaps), "failures": 0,
            "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "peak_depth": peak_depth}


def bench(name: str, users: int, seconds: int, console: Console) -> Path:
    out = ROOT / "reports" / time.strftime(f"bench-{name}-%Y%m%d-%H%M%S")
    results: dict[str, dict] = {}
    background = BACKGROUND.get(name, {})
    try:
        for other, params in background.items():
            switch(other, True, params)
        for state in ("off", "on"):
            switch(name, state == "on", BENCH_PARAMS.get(name, {}) if state == "on" else {})
            console.print(f"[bold]{name} {state}[/bold]: {users} users for {seconds} s")
            with QueueDepth() as depth:
                rows = locust(out / state, users, seconds, user="ScenarioLoad",
                              host=gateway_url())
            affected = (queue_wait(out / state, depth.peak) if AFFECTED[name] == QUEUE_WAIT
                        else figures(rows, AFFECTED[name]))
            results[state] = {"all": figures(rows, "Aggregated"), "affected": affected}
    finally:
        for other in (name, *background):
            switch(other, False)

    table = Table(title=f"{name}: same profile, off vs on ({users} users, {seconds} s each)")
    for column in ("", "off", "on", "on / off"):
        table.add_column(column, justify="right")
    for scope, label in (("all", "all requests"), ("affected", AFFECTED[name])):
        for metric in ("rps", "p50_ms", "p95_ms", "failures", "peak_depth"):
            if metric not in results["off"][scope]:
                continue
            off, on = results["off"][scope][metric], results["on"][scope][metric]
            ratio = f"{on / off:.2f}x" if off else "-"
            table.add_row(f"{escape(label)} {metric}", f"{off:g}", f"{on:g}", ratio)
    console.print(table)
    (out / "result.json").write_text(json.dumps(
        {"scenario": name, "users": users, "seconds": seconds, **results}, indent=2))
    console.print(f"result: {Path(out, 'result.json').relative_to(ROOT)}")
    return out


def main(argv: list[str] | None = None) -> int:
    name = (argv or sys.argv[1:])[0]
    if name == "table":
        print(scenario_table(AFFECTED, ROOT / "reports"))
        return 0
    if name != "all" and name not in AFFECTED:
        print(f"unknown scenario {name!r}; known: all, {', '.join(AFFECTED)}",
              file=sys.stderr)
        return 2
    require_stack("make bench-scenario")
    users = int(os.environ.get("BENCH_USERS", 20))
    seconds = int(os.environ.get("BENCH_SECONDS", 30))
    console = Console()
    for each in AFFECTED if name == "all" else [name]:
        bench(each, users, seconds, console)
    if name == "all":
        print(scenario_table(AFFECTED, ROOT / "reports"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
