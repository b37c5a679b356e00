"""`make bench`: what tracing costs this suite, measured in one run (bounded, ~8 min).

    make up && make bench            # results: reports/bench-<time>/ (JSON + PNG plots)

1. overhead    the three-service call (a segment), closed loop, with the services
               uninstrumented, instrumented, and instrumented with one knob changed;
               variants alternate, twice, so machine noise hits all of them
2. completeness requests sent at a fixed rate vs traces complete in Jaeger, and where
               spans were lost (the collector's own counters, the SDKs' logs)
3. freshness   time from a response to its whole trace being queryable in Jaeger
4. footprint   resident memory of every process, idle and under load
5. start-up    `make down && make up` to all healthy, and to the first trace

The benchmark runs its own copies of the three services (BENCH_*_PORT in .env, their own
database) with the *same* commands and environment as the stack (read from the compose
model, like local mode), sending to the running collector and Jaeger. Load: Locust
(FastHttpUser) on the same machine: on 2 cores it competes with the services, equally
for every variant. Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median, quantiles

import httpx

from loadtest.run import read_stats
from stackctl.collector_metrics import collector_metric
from stackctl.jaeger import Jaeger
from stackctl.local import Processes, Program, compose_model, rss_mb, supervisorctl, to_local
from stackctl.sample import CALM_SEGMENT, NEW_SESSION
from stackctl.settings import ROOT, endpoints, setting
from stackctl.topology import BACKEND, SERVICES
from stackctl.wait import WaitTimeout

BIN = Path(sys.executable).parent
# The benchmark's own copies of the services listen here, apart from the stack's.
PORTS = {f"{s.upper()}_PORT": setting(f"BENCH_{s.upper()}_PORT") for s in SERVICES}
GATEWAY = f"http://127.0.0.1:{PORTS['GATEWAY_PORT']}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


URLS = endpoints()
JAEGER_API = Jaeger(URLS.jaeger)


@dataclass
class Variant:
    name: str
    instrumented: bool = True
    env: dict[str, str] = field(default_factory=dict)       # the services' environment
    uvicorn: list[str] = field(default_factory=list)         # extra uvicorn arguments


def variants() -> list[Variant]:
    found = [
        Variant("uninstrumented", instrumented=False, env={"OTEL_SDK_DISABLED": "true"}),
        Variant("instrumented (defaults)"),
        Variant("export: OTLP gRPC", env={
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": URLS.otlp_grpc}),
        Variant("batch delay 5 s (SDK default)", env={"OTEL_BSP_SCHEDULE_DELAY": "5000"}),
        Variant("metrics and logs export off", env={"OTEL_METRICS_EXPORTER": "none",
                                                    "OTEL_LOGS_EXPORTER": "none"}),
        Variant("sampled 10 %", env={"OTEL_TRACES_SAMPLER_ARG": "0.1"}),
    ]
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401

        found.append(Variant("uvloop + httptools", uvicorn=["--loop", "uvloop",
                                                            "--http", "httptools"]))
        found.append(Variant("uninstrumented, uvloop + httptools", instrumented=False,
                             env={"OTEL_SDK_DISABLED": "true"},
                             uvicorn=["--loop", "uvloop", "--http", "httptools"]))
    except ImportError:
        log("uvloop/httptools not installed: that knob is skipped")
    return found


# --- the services under test --------------------------------------------------------------

def programs(variant: Variant, data: Path) -> list[Program]:
    model = compose_model(PORTS)
    chosen = [p for p in to_local(model) if p.name in SERVICES]
    for p in chosen:
        p.environment.update(variant.env)
        p.environment["SESSION_DB_PATH"] = str(data / "session.db")
        if not variant.instrumented:
            p.command = p.command[1:]  # drop opentelemetry-instrument
            p.command[0] = str(BIN / p.command[0])
        p.command = [*p.command, *variant.uvicorn]
    return chosen


class Services(Processes):
    """The benchmark's copies of the three services, run by the local runner's Processes."""

    def __init__(self, variant: Variant, data: Path, logs: Path) -> None:
        for port in PORTS.values():
            if port_taken(int(port)):
                raise RuntimeError(f"port {port} is taken: a previous benchmark's service? "
                                   f"(pkill -f 'port {port}')")
        super().__init__(programs(variant, data), logs)

    def rss_mb(self) -> dict[str, float]:
        return {name: rss_mb(proc.pid) for name, proc in self.procs.items()}


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def infra_rss() -> dict[str, float]:
    out = {}
    for name in (*BACKEND, "prometheus"):
        pid = supervisorctl("pid", name).stdout.strip()
        if pid.isdigit() and int(pid) > 0:
            out[name] = rss_mb(int(pid))
    return out


# --- load -----------------------------------------------------------------------------------

def locust(out: Path, users: int, seconds: int, rate_per_user: float = 0,
           user: str = "Segments", host: str = GATEWAY) -> list[dict[str, str]]:
    """One bounded Locust run of a bench/locustfile.py user class; its stats rows."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BENCH_RATE_PER_USER": str(rate_per_user),
           "BENCH_TRACE_IDS": str(out / "trace_ids.json")}
    subprocess.run(
        [str(BIN / "locust"), "-f", str(ROOT / "bench/locustfile.py"), "--headless",
         "--host", host, "--users", str(users), "--spawn-rate", str(users),
         "--run-time", f"{seconds}s", "--csv", str(out / "stats"), "--only-summary",
         "--stop-timeout", "5", user],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=seconds + 60)
    return read_stats(out)


def segment_figures(out: Path, users: int, seconds: int, rate_per_user: float = 0) -> dict:
    row = next(r for r in locust(out, users, seconds, rate_per_user) if r["Name"] == "segment")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1), "p50_ms": float(row["50%"]),
            "p99_ms": float(row["99%"]),
            "trace_ids": json.loads((out / "trace_ids.json").read_text())}


# --- phases ---------------------------------------------------------------------------------

def startup(out: Path) -> dict:
    log("start-up: make down && make up")
    subprocess.run(["make", "down", "STACK=local"], cwd=ROOT, capture_output=True, timeout=120)
    started = time.monotonic()
    result = subprocess.run(["make", "up", "STACK=local"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    healthy = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"make up failed:\n{result.stdout}\n{result.stderr}")
    sid = httpx.post(f"{URLS.gateway}/api/sessions", json=NEW_SESSION,
                     timeout=10).json()["session_id"]
    trace_id = httpx.post(f"{URLS.gateway}/api/sessions/{sid}/segments", json=CALM_SEGMENT,
                          timeout=10).headers["x-trace-id"]
    JAEGER_API.wait_for_trace(trace_id, what="the first trace after make up",
                              deadline_s=120 - healthy)
    return {"make_up_to_healthy_s": round(healthy, 1),
            "make_up_to_first_trace_s": round(time.monotonic() - started, 1)}


def overhead(out: Path, rounds: int, seconds: int, users: int) -> dict:
    results: dict[str, list[dict]] = {}
    for round_no in range(1, rounds + 1):
        for variant in variants():
            log(f"overhead round {round_no}/{rounds}: {variant.name}")
            data = out / "data" / f"{variant.name}-{round_no}".replace(" ", "_")
            with Services(variant, data, out / "logs") as services:
                locust(out / "warmup", users, 3)
                run = out / "runs" / f"{len(results)}-{round_no}"
                figures = segment_figures(run, users, seconds)
                figures["rss_mb"] = services.rss_mb()
                figures.pop("trace_ids")
            results.setdefault(variant.name, []).append(figures)
    summary = {}
    base = median(r["rps"] for r in results["uninstrumented"])
    base_uv = median(r["rps"] for r in results.get("uninstrumented, uvloop + httptools",
                                                    [{"rps": base}]))
    for name, runs in results.items():
        rps = median(r["rps"] for r in runs)
        reference = base_uv if "uvloop" in name else base
        summary[name] = {
            "rps": rps, "p50_ms": median(r["p50_ms"] for r in runs),
            "p99_ms": median(r["p99_ms"] for r in runs),
            "throughput_vs_uninstrumented": round(rps / reference, 3),
            "failures": sum(r["failures"] for r in runs),
            "rss_mb_under_load": runs[-1]["rss_mb"], "runs": runs,
        }
    return summary


def completeness(out: Path, rate: int, seconds: int) -> dict:
    log(f"completeness: {rate} requests/s for {seconds} s")
    counters = ("otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans",
                "otelcol_exporter_sent_spans", "otelcol_exporter_send_failed_spans",
                "otelcol_processor_dropped_spans")
    before = {c: collector_metric(c) for c in counters}
    users = max(1, rate // 2)
    with Services(Variant("instrumented (defaults)"), out / "data" / "completeness",
                  out / "logs-completeness") as services:
        figures = segment_figures(out / "completeness", users, seconds, rate_per_user=rate / users)
        rss = services.rss_mb()
    trace_ids = figures.pop("trace_ids")
    log(f"completeness: checking {len(trace_ids)} traces in Jaeger")
    found = JAEGER_API.count_found(trace_ids, deadline_s=60)
    after = {c: collector_metric(c) for c in counters}
    sdk_drops = sum(
        line.count("dropped") + line.count("Queue is full")
        for name in SERVICES
        for line in (out / "logs-completeness" / f"{name}.log").read_text().splitlines())
    return {"target_rps": rate, "seconds": seconds, "achieved_rps": figures["rps"],
            "requests_ok": len(trace_ids), "failures": figures["failures"],
            "traces_complete_in_jaeger": found,
            "traces_incomplete_or_missing": len(trace_ids) - found,
            "collector": {c.removeprefix("otelcol_"): after[c] - before[c] for c in counters},
            "sdk_log_lines_about_drops": sdk_drops, "services_rss_mb": rss}


def freshness(out: Path, samples: int) -> dict:
    log(f"freshness: {samples} requests, one at a time")
    delays = []
    with Services(Variant("instrumented (defaults)"), out / "data" / "freshness",
                  out / "logs") as _:
        client = httpx.Client(base_url=GATEWAY, timeout=10)
        sid = client.post("/api/sessions", json=NEW_SESSION).json()["session_id"]
        for _ in range(samples):
            response = client.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
            answered = time.monotonic()
            try:
                JAEGER_API.wait_for_traces([response.headers["x-trace-id"]], deadline_s=30,
                                           interval_s=0.02)
            except WaitTimeout:
                pass  # counted as it is: a delay past 30 s
            delays.append(time.monotonic() - answered)
    q = quantiles(delays, n=20, method="inclusive")  # never above the max
    return {"samples": samples, "p50_s": round(median(delays), 3), "p95_s": round(q[18], 3),
            "max_s": round(max(delays), 3), "delays_s": [round(d, 3) for d in delays]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15, help="per overhead run")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rate", type=int, default=int(os.environ.get("BENCH_RATE", 20)))
    parser.add_argument("--completeness-seconds", type=int,
                        default=int(os.environ.get("BENCH_COMPLETENESS_S", 60)))
    parser.add_argument("--freshness-samples", type=int, default=40)
    parser.add_argument("--only", choices=["startup", "overhead", "completeness", "freshness"])
    args = parser.parse_args(argv)

    out = ROOT / "reports" / time.strftime("bench-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    results: dict = {"machine": {"cores": os.cpu_count()}, "started": time.strftime("%c")}
    started = time.monotonic()
    phases = [args.only] if args.only else ["startup", "overhead", "completeness", "freshness"]
    if "startup" in phases:
        results["startup"] = startup(out)
    if "overhead" in phases:
        results["infra_rss_mb_idle"] = infra_rss()
        results["overhead"] = overhead(out, args.rounds, args.seconds, args.users)
    if "completeness" in phases:
        results["completeness"] = completeness(out, args.rate, args.completeness_seconds)
        results["infra_rss_mb_after_load"] = infra_rss()
    if "freshness" in phases:
        results["freshness"] = freshness(out, args.freshness_samples)
    results["duration_s"] = round(time.monotonic() - started)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    from bench.report import plots, summary

    plots(results, out)
    print(summary(results))
    log(f"done in {results['duration_s']} s: {out.relative_to(ROOT)}/results.json and *.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
