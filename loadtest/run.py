"""`make load`: a bounded, headless Locust run with a readable summary at the end.

    make load USERS=20 SPAWN_RATE=5 DURATION=60s

Writes Locust's HTML and CSV reports into reports/load-<time>/, then prints the request
table and the slowest and the failed requests, each with its Jaeger URL when Jaeger still
holds its trace (`make trace ID=...` shows one in the terminal), and a line when the run
made more traces than Jaeger keeps (JAEGER_MAX_TRACES: the oldest are evicted).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stackctl.jaeger import Jaeger
from stackctl.preflight import require_stack
from stackctl.settings import ROOT, endpoints

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
JOURNEYS = ["CoachingSession", "ApiConsumer", "WatchWearer"]  # every user class of locustfile.py
# When the run time is up, Locust lets users finish their requests for this long.
STOP_TIMEOUT_S = 10
PROGRESS_WIDTH = 78


def locust_env(service_name: str = "locust") -> dict[str, str]:
    """Locust's --otel setup reads the standard variables, like the services."""
    return {
        **os.environ,
        "OTEL_SERVICE_NAME": service_name,
        # Like the services: OTLP over HTTP (see docker-compose.yml for why).
        "OTEL_EXPORTER_OTLP_ENDPOINT": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT",
                                                      endpoints().otlp_http),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
    }


def run_locust(host: str, users: int, spawn_rate: float, duration: str, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    args = [
        str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE),
        "--headless", "--host", host,
        "--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", duration,
        "--stop-timeout", str(STOP_TIMEOUT_S),
        "--csv", str(out / "stats"), "--html", str(out / "report.html"),
        "--only-summary",
        "--otel", *JOURNEYS,
    ]
    env = locust_env()
    env["LOAD_TRACES_FILE"] = str(out / "traces.json")
    # Locust's own console output goes to a log file; we print progress and a summary.
    # It exits 1 when any request failed: a result to report, not a crash.
    seconds = parse_duration(duration)
    # A terminal gets one line, rewritten; a pipe or a CI log a line every 5 s.
    tty = sys.stdout.isatty()
    started = time.monotonic()
    with open(out / "locust.log", "w") as log:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            elapsed = time.monotonic() - started
            line = progress(elapsed, seconds)
            print(f"\r{line:<{PROGRESS_WIDTH}}" if tty else line, end="" if tty else "\n",
                  flush=True)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                if elapsed > seconds + 120:
                    process.kill()
    if tty:
        print()
    return process.returncode


def progress(elapsed: float, seconds: int) -> str:
    """The progress line: the run's time, then, once it is over, Locust stopping."""
    if elapsed < seconds:
        return f"  running {elapsed:4.0f}s / {seconds}s"
    return f"  stopping: users finish their requests (at most {STOP_TIMEOUT_S} s)"


def parse_duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def read_stats(out: Path) -> list[dict[str, str]]:
    with open(out / "stats_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def summary_table(rows: list[dict[str, str]], title: str) -> Table:
    # Fits 80 columns with the longest request name (a simple box, short headers).
    table = Table(title=f"{title} (times in ms)", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("request", no_wrap=True)
    for column in ("count", "failed", "req/s", "p50", "p95", "max"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        name = escape(row["Name"]) if row["Name"] != "Aggregated" else "[bold]all requests[/bold]"
        failures = int(row["Failure Count"])
        table.add_row(
            f"{row['Type']} {name}".strip() if row["Type"] else name,
            row["Request Count"],
            f"[red]{failures}[/red]" if failures else "0",
            f"{float(row['Requests/s']):.1f}",
            row["50%"], row["95%"], f"{float(row['Max Response Time']):.0f}",
        )
    return table


def trace_lines(jaeger: Jaeger, traces: dict[str, list[dict]], made: int,
                deadline_s: float = 5.0) -> list[str]:
    """The summary's trace part (rich markup): the slowest and the failed requests, each
    with its Jaeger link only when Jaeger still holds its trace (each looked up by id, a
    few seconds allowed for the newest to arrive), and one line when the run made more
    traces than Jaeger keeps (its memory store evicts the oldest)."""
    entries = traces["slowest"] + traces["failed"]
    try:
        held = jaeger.held((e["trace_id"] for e in entries), deadline_s)
        checked = True
    except httpx.HTTPError:
        held, checked = {e["trace_id"] for e in entries}, False
    lines = []
    for label, group in (("slowest requests", traces["slowest"]),
                         ("failed requests", traces["failed"])):
        if not group:
            continue
        lines.append(f"\n[bold]{label}[/bold]")
        for e in group:
            where = (jaeger.trace_url(e["trace_id"]) if e["trace_id"] in held
                     else "[dim](trace not in Jaeger)[/dim]")
            extra = f"  [red]{escape(e['error'])}[/red]" if "error" in e else ""
            # The link on a line of its own: 80 columns hold it, and it stays one
            # copyable line.
            lines.append(f"  {e['ms']:>8} ms  {escape(e['name'])}{extra}\n"
                         f"               {where}")
    if not checked:
        lines.append("[yellow]Jaeger did not answer: the links above are not checked"
                     "[/yellow]")
    if made > jaeger.max_traces:
        lines.append(f"[yellow]this run made {made} traces; Jaeger keeps the newest "
                     f"{jaeger.max_traces} (JAEGER_MAX_TRACES)[/yellow]")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=int(os.environ.get("USERS", 10)))
    parser.add_argument("--spawn-rate", type=float,
                        default=float(os.environ.get("SPAWN_RATE", 5)))
    parser.add_argument("--duration", default=os.environ.get("DURATION", "60s"))
    args = parser.parse_args(argv)

    require_stack("make load")
    host, jaeger = endpoints().gateway, Jaeger(endpoints().jaeger)
    out = ROOT / "reports" / time.strftime("load-%Y%m%d-%H%M%S")
    console = Console()
    console.print(f"Locust: {args.users} users (+{args.spawn_rate:g}/s) for {args.duration} "
                  f"against {host}; traced from the first click (--otel)")
    code = run_locust(host, args.users, args.spawn_rate, args.duration, out)
    if not (out / "stats_stats.csv").exists():
        console.print(f"[red]Locust produced no results (exit code {code}).[/red] "
                      "Is the stack up? `make status`")
        return 1

    stats = read_stats(out)
    console.print(summary_table(stats, f"{args.duration} of HaptiTalk traffic"))
    traces = json.loads((out / "traces.json").read_text()) if (out / "traces.json").exists() \
        else {"slowest": [], "failed": []}
    # Each Locust request is the root of one trace (--otel).
    made = sum(int(row["Request Count"]) for row in stats if row["Name"] == "Aggregated")
    for line in trace_lines(jaeger, traces, made):
        console.print(line, soft_wrap=True)
    console.print(f"\nReports: {out.relative_to(ROOT)}/report.html (and stats_*.csv)")
    console.print("In Jaeger: service 'locust' or tag synthetic_request=true; in the "
                  "terminal: make trace ID=<trace id>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
