"""`make bench-scenario NAME=...`: the same fixed Locust profile with a scenario off, then
on, and the figures side by side (throughput, p50, p95: all requests and the affected one).

    make bench-scenario NAME=pool_of_one      # BENCH_USERS=20 BENCH_SECONDS=30
    make bench-scenario NAME=all              # every scenario in turn (~9 min), then the
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
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.report import scenario_table
from bench.run import ROOT, locust
from stackctl.preflight import require_stack
from stackctl.scenario import gateway_url, switch

AFFECTED = {
    "n_plus_one": "/api/sessions/[id]/end",
    "sequential_fanout": "/api/sessions/[id]",
    "slow_query": "/api/sessions/[id]/segments",
    "pool_of_one": "/api/sessions/[id]/segments",
    "blocking_call": "/api/sessions/[id]/segments",
    "flaky_history": "/api/sessions/[id]/segments",
    "retry_storm": "/api/sessions/[id]/segments",
    "error_injection": "/api/sessions/[id]/segments",
}
# The on run's parameters: the scorer and the blocking lookup take 20 ms (enough to
# saturate one slot / one event loop under this profile). The off run is the fixed path as
# shipped (5 ms each): parameters go with a switch that is on only.
BENCH_PARAMS: dict[str, dict[str, float]] = {
    "pool_of_one": {"scorer_ms": 20},
    "blocking_call": {"block_ms": 20},
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
            rows = locust(out / state, users, seconds, user="ScenarioLoad", host=gateway_url())
            results[state] = {"all": figures(rows, "Aggregated"),
                              "affected": figures(rows, AFFECTED[name])}
    finally:
        for other in (name, *background):
            switch(other, False)

    table = Table(title=f"{name}: same profile, off vs on ({users} users, {seconds} s each)")
    for column in ("", "off", "on", "on / off"):
        table.add_column(column, justify="right")
    for scope, label in (("all", "all requests"), ("affected", AFFECTED[name])):
        for metric in ("rps", "p50_ms", "p95_ms", "failures"):
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
