"""`make bench`: what tracing costs this suite, and where the cost is (bounded in time; how
long it took is the last line of its report, and docs/benchmarks.md quotes it).

    make up && make bench                 # reports/bench-<time>/: results.json, report.md, PNGs
    make bench PROFILE=1                  # + py-spy flame graphs per service, top-costs table
    make bench VARIANTS=levers            # every lever, not only the core ones (longer)
    BENCH_AGAINST=/tmp/before make bench  # + plain and stack on an older checkout's code
    python -m bench.run --phases overhead --rounds 3 --variants core

Phases (PHASES below; --phases picks some):
  startup       `make down && make up` to all healthy, and to the first complete trace
  overhead      the three-service call (a segment) in a closed loop, one variant after the
                other, in alternating rounds (machine noise hits every variant alike).
                Per run: throughput, p50/p99, and CPU ms per call of each process group,
                from /proc: the services, the backend (collector + Jaeger), the load
                generator. Then the same copies at a fixed rate every variant sustains
                (--fixed-rate, 40 calls/s): CPU ms per call for the same work, which at
                saturation depends on how the work happens to batch (the closed loop's
                figures spread by up to 30 % between rounds; the fixed rate's by a few).
                Each figure: min / median / max over the rounds.
  profile       (PROFILE=1) one run each of plain and instrumented with py-spy on every
                service: flame graphs and the top costs (bench/profile.py)
  completeness  a fixed rate for a fixed time, counted in spans: the spans the services
                made (the collector's span_metrics call counts, per service) against
                the spans Jaeger holds for the run's traces; collector drop counters
  freshness     response -> whole trace queryable in Jaeger
  footprint     resident memory of the whole local stack, idle and under load

The benchmark runs its own copies of the three services (BENCH_*_PORT in .env, their own
database) with the *same* commands and environment as the stack (the compose model),
sending to the running collector and Jaeger. Load: Locust (FastHttpUser) on the same
machine, untraced. Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median, quantiles

import httpx

from bench.cpu import GroupCpu
from loadtest.run import read_stats
from stackctl.collector_metrics import collector_metric, spans_made_settled
from stackctl.jaeger import Jaeger
from stackctl.local import (
    Processes,
    Program,
    compose_model,
    pss_mb,
    rss_mb,
    supervisorctl,
    to_local,
)
from stackctl.sample import CALM_SEGMENT, NEW_SESSION
from stackctl.settings import ROOT, endpoints, setting
from stackctl.topology import BACKEND, BROKER, SERVICES, WATCH
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
    lever: str                                            # what it changes, for the docs
    instrumented: bool = True
    env: dict[str, str] = field(default_factory=dict)     # on top of the stack's environment
    keeps_value: bool = True   # the same useful spans, metrics and log correlation?
    # Instrumentations taken out of each service's own OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
    # (docker-compose.yml): the rest of its list stays, unlike a value set in `env`.
    enable: tuple[str, ...] = ()


PLAIN = "uninstrumented"
STACK = "instrumented (the stack)"

# Every variant the overhead phase knows; VARIANT_SETS picks which run.
VARIANTS = [
    Variant(PLAIN, "plain uvicorn, no opentelemetry-instrument", instrumented=False,
            env={"OTEL_SDK_DISABLED": "true"}),
    Variant(STACK, "docker-compose.yml as it is: project distro, FastAPI's own telemetry "
            "for the server spans, stable DB conventions only, sniffio installed"),
    Variant("without sniffio", "httpcore fails `import sniffio` on every pool operation "
            "(as before sniffio was pinned)",
            env={"PYTHONPATH": str(ROOT / "bench/without_sniffio")}),
    Variant("contrib's FastAPI instrumentation", "the server spans from contrib's "
            "FastAPI/ASGI middleware (with the project distro: no send/receive spans), as "
            "before FastAPI's own telemetry", enable=("fastapi",)),
    Variant("with send/receive spans", "contrib's FastAPI instrumentation, stock distro: the "
            "ASGI `http send`/`http receive` spans back", env={"OTEL_PYTHON_DISTRO": "distro"},
            enable=("fastapi",)),
    Variant("FastAPI's own telemetry, operation spans on", "as FastAPI ships it (stock "
            "distro): 3 more spans per request (fastapi.dependencies, .endpoint, "
            ".serialization)", env={"OTEL_PYTHON_DISTRO": "distro"}),  # `fastapi` still off
    Variant("with database/dup", "DB spans carry the old names too (db.system, "
            "db.statement) and the DB metrics are recorded, as before the stable-only setting",
            env={"OTEL_SEMCONV_STABILITY_OPT_IN": "http,database/dup"}),
    Variant("no OTLP logs", "log records not exported (trace ids still in the log lines)",
            env={"OTEL_LOGS_EXPORTER": "none"}),
    Variant("no metrics export", "the SDKs' HTTP metrics off (span metrics still made by "
            "the collector)", env={"OTEL_METRICS_EXPORTER": "none"}, keeps_value=False),
    Variant("batch 2048 every 1 s", "bigger, rarer exports (traces appear up to 1 s later)",
            env={"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048", "OTEL_BSP_SCHEDULE_DELAY": "1000"}),
    Variant("sampler off", "no span recorded: what the wrappers cost alone (a floor)",
            env={"OTEL_TRACES_SAMPLER": "always_off"}, keeps_value=False),
]
VARIANT_SETS = {
    "core": [PLAIN, STACK, "without sniffio", "contrib's FastAPI instrumentation"],
    "levers": [v.name for v in VARIANTS],
}


def variants(chosen: str, against: Path | None = None) -> list[Variant]:
    names = VARIANT_SETS.get(chosen) or chosen.split(",")
    known = {v.name: v for v in VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {list(known)} or {list(VARIANT_SETS)}")
    found = [known[n] for n in names]
    if against is not None:
        found += [code_of(known[n], against) for n in (PLAIN, STACK) if n in names]
    return found


def code_of(variant: Variant, tree: Path) -> Variant:
    """The variant running another checkout's services (a code change, before and after):
    PYTHONPATH comes before the editable install, so `services` is imported from `tree`."""
    return Variant(f"{variant.name} @ {tree.name}", f"{variant.lever}; the code of {tree}",
                   variant.instrumented, {**variant.env, "PYTHONPATH": str(tree)},
                   variant.keeps_value, variant.enable)


# --- the services under test --------------------------------------------------------------

def programs(variant: Variant, data: Path) -> list[Program]:
    model = compose_model(PORTS)
    chosen = [p for p in to_local(model) if p.name in SERVICES]
    for p in chosen:
        p.environment.update(variant.env)
        disabled = p.environment.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
        p.environment["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = ",".join(
            n for n in disabled if n.strip() not in variant.enable)
        p.environment["SESSION_DB_PATH"] = str(data / "session.db")
        if not variant.instrumented:
            p.command = p.command[1:]  # drop opentelemetry-instrument
            p.command[0] = str(BIN / p.command[0])
    return chosen


class Services(Processes):
    """The benchmark's copies of the three services, run by the local runner's Processes."""

    def __init__(self, variant: Variant, data: Path, logs: Path) -> None:
        for port in PORTS.values():
            if port_taken(int(port)):
                raise RuntimeError(f"port {port} is taken: a previous benchmark's service? "
                                   f"(pkill -f 'port {port}')")
        super().__init__(programs(variant, data), logs)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def rss_mb(self) -> dict[str, float]:
        return memory(self.pids())["rss"]


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stack_pids(names: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for name in names:
        pid = supervisorctl("pid", name).stdout.strip()
        if pid.isdigit() and int(pid) > 0:
            out[name] = int(pid)
    return out


# Every process local mode runs by default: the backend, Prometheus, the broker and the
# services (the watch among them: it consumes the loaded copies' cues).
STACK_PROGRAMS = (*BACKEND, "prometheus", BROKER, *SERVICES, WATCH)


def memory(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    """Each process's RSS and its PSS (stackctl/local.py: shared pages counted once, so
    the PSS sum is what the processes cost the machine), in MB."""
    return {"rss": {name: rss_mb(pid) for name, pid in pids.items()},
            "pss": {name: pss_mb(pid) for name, pid in pids.items()}}


def infra_memory() -> dict[str, dict[str, float]]:
    """memory() of every program of the stack, its pids looked up once."""
    return memory(stack_pids(STACK_PROGRAMS))


def prometheus_head_series() -> int | None:
    """The series Prometheus holds in memory: what its size follows (every process's
    SDK metrics are series of their own, kept for 2-3 h after the process is gone)."""
    try:
        stats = httpx.get(f"{URLS.prometheus}/api/v1/status/tsdb", timeout=5).json()
        return int(stats["data"]["headStats"]["numSeries"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None


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


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def segment_figures(out: Path, users: int, seconds: int, rate_per_user: float = 0,
                    groups: dict[str, list[int]] | None = None) -> dict:
    """One measured run: Locust's figures, and CPU ms per call of each process group
    (the load generator's from this process's waited-for children)."""
    cpu = GroupCpu(groups or {})
    cpu.start()
    loadgen = children_cpu_s()
    rows = locust(out, users, seconds, rate_per_user)
    loadgen = children_cpu_s() - loadgen
    spent = {**cpu.stop(), "load generator": loadgen}
    row = next(r for r in rows if r["Name"] == "segment")
    requests = int(row["Request Count"])
    return {"requests": requests, "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1), "p50_ms": float(row["50%"]),
            "p99_ms": float(row["99%"]),
            "cpu_ms_per_call": {k: round(v * 1000 / max(requests, 1), 2)
                                for k, v in spent.items()},
            **trace_id_lists(out)}


def trace_id_lists(out: Path) -> dict[str, list[str]]:
    """The run's segment trace ids, and every trace id (session starts included)."""
    by_name = json.loads((out / "trace_ids.json").read_text())
    return {"trace_ids": by_name.get("segment", []),
            "all_trace_ids": [t for ids in by_name.values() for t in ids]}


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": ordered[0], "median": round(median(ordered), 2), "max": ordered[-1]}


# --- phases ---------------------------------------------------------------------------------

def startup(out: Path, args: argparse.Namespace) -> dict:
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
                              deadline_s=120 - healthy, settle=False)
    return {"make_up_to_healthy_s": round(healthy, 1),
            "make_up_to_first_trace_s": round(time.monotonic() - started, 1)}


def overhead(out: Path, args: argparse.Namespace) -> dict:
    chosen = variants(args.variants, args.against)
    results: dict[str, list[dict]] = {}
    backend = list(stack_pids(BACKEND).values())
    for round_no in range(1, args.rounds + 1):
        for variant in chosen:
            log(f"overhead round {round_no}/{args.rounds}: {variant.name}")
            slug = f"{variant.name}-{round_no}".replace(" ", "_").replace("/", "_")
            with Services(variant, out / "data" / slug, out / "logs" / slug) as services:
                locust(out / "warmup", args.users, 3)
                groups = {"services": list(services.pids().values()), "backend": backend}
                figures = segment_figures(out / "runs" / slug, args.users, args.seconds,
                                          groups=groups)
                figures["rss_mb"] = services.rss_mb()
                figures.pop("trace_ids")
                figures.pop("all_trace_ids")
                if args.fixed_rate:
                    fixed = segment_figures(out / "runs" / f"{slug}-fixed", args.users,
                                            args.fixed_seconds, groups=groups,
                                            rate_per_user=args.fixed_rate / args.users)
                    figures["fixed_rate"] = {k: fixed[k] for k in
                                             ("rps", "failures", "cpu_ms_per_call")}
            results.setdefault(variant.name, []).append(figures)
    summary = {}
    for variant in chosen:
        runs = results[variant.name]
        groups = runs[0]["cpu_ms_per_call"]
        summary[variant.name] = {
            "lever": variant.lever, "keeps_value": variant.keeps_value,
            "rps": spread([r["rps"] for r in runs]),
            "p50_ms": spread([r["p50_ms"] for r in runs]),
            "p99_ms": spread([r["p99_ms"] for r in runs]),
            "cpu_ms_per_call": {g: spread([r["cpu_ms_per_call"][g] for r in runs])
                                for g in groups},
            "failures": sum(r["failures"] for r in runs),
            "rss_mb_under_load": runs[-1]["rss_mb"], "runs": runs,
        }
        if all("fixed_rate" in r for r in runs):
            summary[variant.name]["fixed_rate"] = {
                "calls_per_s": args.fixed_rate,
                "rps": spread([r["fixed_rate"]["rps"] for r in runs]),
                "failures": sum(r["fixed_rate"]["failures"] for r in runs),
                "cpu_ms_per_call": {g: spread([r["fixed_rate"]["cpu_ms_per_call"][g]
                                               for r in runs]) for g in groups}}
    if PLAIN in summary:
        base = summary[PLAIN]
        for row in summary.values():
            row["vs_plain"] = {
                "rps": round(row["rps"]["median"] / base["rps"]["median"], 2),
                "p99": round(row["p99_ms"]["median"] / base["p99_ms"]["median"], 2),
                "services_cpu": round(row["cpu_ms_per_call"]["services"]["median"]
                                      / base["cpu_ms_per_call"]["services"]["median"], 2)}
            if "fixed_rate" in row and "fixed_rate" in base:
                row["vs_plain"]["services_cpu_fixed_rate"] = round(
                    row["fixed_rate"]["cpu_ms_per_call"]["services"]["median"]
                    / base["fixed_rate"]["cpu_ms_per_call"]["services"]["median"], 2)
    return summary


def profile(out: Path, args: argparse.Namespace) -> dict:
    from bench.profile import Recording, costs, table

    found = {}
    for variant in variants(f"{PLAIN},{STACK}"):
        log(f"profile: {variant.name}, py-spy on every service for {args.seconds} s")
        slug = "plain" if variant.name == PLAIN else "instrumented"
        folder = out / "profile" / slug
        with Services(variant, folder / "data", folder / "logs") as services:
            locust(out / "warmup", args.users, 3)
            recording = Recording(services.pids(), args.seconds, folder)
            figures = segment_figures(folder / "run", args.users, args.seconds)
            recording.wait(timeout_s=60)
        figures.pop("trace_ids")
        figures.pop("all_trace_ids")
        per_service = {name: costs(path) for name, path in recording.raw.items()
                       if path.exists()}
        (folder / "top-costs.md").write_text(table(per_service))
        found[variant.name] = {"figures": figures, "costs": per_service,
                               "flame_graphs": sorted(str(p.relative_to(out))
                                                      for p in folder.glob("*.svg"))}
    return found


def completeness(out: Path, args: argparse.Namespace) -> dict:
    rate, seconds = args.rate, args.completeness_seconds
    log(f"completeness: {rate} requests/s for {seconds} s, counted in spans")
    counters = ("otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans",
                "otelcol_exporter_sent_spans", "otelcol_exporter_send_failed_spans",
                "otelcol_processor_dropped_spans")
    users = max(1, rate // 2)
    with Services(next(v for v in VARIANTS if v.name == STACK), out / "data" / "completeness",
                  out / "logs-completeness") as services:
        # Counted once the copies are up: their start-up spans (session's PRAGMA and
        # CREATE statements, root spans of no request) and the previous phase's last
        # spans reach span_metrics' counters at its next flush.
        made_before = spans_made_settled()
        before = {c: collector_metric(c) for c in counters}
        figures = segment_figures(out / "completeness", users, seconds,
                                  rate_per_user=rate / users)
        copies = memory(services.pids())
        stack = infra_memory()
        head_series = prometheus_head_series()
    trace_ids = figures.pop("trace_ids")
    every_trace = figures.pop("all_trace_ids")
    log(f"completeness: {len(trace_ids)} traces; waiting for them in Jaeger")
    complete = JAEGER_API.count_found(trace_ids, deadline_s=60)
    made_after = spans_made_settled()
    # The watch too: the stack's watch consumes the loaded copies' cues, in their traces.
    counted = (*SERVICES, WATCH)
    made = {s: made_after.get(s, 0) - made_before.get(s, 0) for s in counted}
    stored, missing_traces = JAEGER_API.span_counts(every_trace)
    stored = {**dict.fromkeys(counted, 0), **stored}
    after = {c: collector_metric(c) for c in counters}
    sdk_drops = sum(
        line.count("dropped") + line.count("Queue is full")
        for name in SERVICES
        for line in (out / "logs-completeness" / f"{name}.log").read_text().splitlines())
    return {"target_rps": rate, "seconds": seconds, "achieved_rps": figures["rps"],
            "requests_ok": len(trace_ids), "failures": figures["failures"],
            "traces_complete_in_jaeger": complete, "traces_missing": missing_traces,
            "spans_made_per_service": made, "spans_in_jaeger_per_service": stored,
            "spans_lost": round(sum(made.values()) - sum(stored.values())),
            "collector": {c.removeprefix("otelcol_"): after[c] - before[c] for c in counters},
            "sdk_log_lines_about_drops": sdk_drops,
            **{f"{reading}_mb_under_load": {
                **stack[reading], **{f"{k} (bench copy)": v for k, v in copies[reading].items()}}
               for reading in ("rss", "pss")},
            "prometheus_head_series": head_series}


def freshness(out: Path, args: argparse.Namespace) -> dict:
    log(f"freshness: {args.freshness_samples} requests, one at a time")
    delays = []
    with Services(next(v for v in VARIANTS if v.name == STACK), out / "data" / "freshness",
                  out / "logs") as _:
        client = httpx.Client(base_url=GATEWAY, timeout=10)
        sid = client.post("/api/sessions", json=NEW_SESSION).json()["session_id"]
        for _ in range(args.freshness_samples):
            response = client.post(f"/api/sessions/{sid}/segments", json=CALM_SEGMENT)
            answered = time.monotonic()
            try:
                # First whole, not settled: the figure is when a user could see it.
                JAEGER_API.wait_for_traces([response.headers["x-trace-id"]], deadline_s=30,
                                           interval_s=0.02, settle=False)
            except WaitTimeout:
                pass  # counted as it is: a delay past 30 s
            delays.append(time.monotonic() - answered)
    q = quantiles(delays, n=20, method="inclusive")  # never above the max
    return {"samples": len(delays), "p50_s": round(median(delays), 3),
            "p95_s": round(q[18], 3), "max_s": round(max(delays), 3),
            "delays_s": [round(d, 3) for d in delays]}


PHASES = {"startup": startup, "overhead": overhead, "profile": profile,
          "completeness": completeness, "freshness": freshness}
DEFAULT_PHASES = ["startup", "overhead", "completeness", "freshness"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default=",".join(DEFAULT_PHASES),
                        help=f"comma-separated, from {list(PHASES)}")
    parser.add_argument("--profile", action="store_true", default=bool(os.environ.get(
        "PROFILE")), help="add the profile phase (make bench PROFILE=1)")
    parser.add_argument("--variants", default=os.environ.get("VARIANTS", "core"),
                        help=f"{list(VARIANT_SETS)} or names, comma-separated")
    parser.add_argument("--against", type=Path, default=os.environ.get("BENCH_AGAINST") or None,
                        help="another checkout (git archive <commit> | tar -x -C DIR): the "
                             "uninstrumented and stack variants also run its code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="per overhead run")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--fixed-rate", type=int, default=40,
                        help="calls/s for the overhead phase's second run of each variant "
                             "(0: none); below what every variant sustains")
    parser.add_argument("--fixed-seconds", type=int, default=12)
    parser.add_argument("--rate", type=int, default=int(os.environ.get("BENCH_RATE", 50)))
    parser.add_argument("--completeness-seconds", type=int,
                        default=int(os.environ.get("BENCH_COMPLETENESS_S", 60)))
    parser.add_argument("--freshness-samples", type=int, default=40)
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    if args.profile and "profile" not in phases:
        phases.insert(phases.index("overhead") + 1 if "overhead" in phases else 0, "profile")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; known: {list(PHASES)}")

    out = ROOT / "reports" / time.strftime("bench-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    results: dict = {"machine": {"cores": os.cpu_count()}, "started": time.strftime("%c"),
                     "phases": phases, "variants": args.variants, "rounds": args.rounds}
    started = time.monotonic()
    for phase in phases:
        if phase != "startup" and "rss_mb_idle" not in results:
            idle = infra_memory()  # the stack up, before any load
            results["rss_mb_idle"], results["pss_mb_idle"] = idle["rss"], idle["pss"]
        results[phase] = PHASES[phase](out, args)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    results["duration_s"] = round(time.monotonic() - started)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    from bench.report import plots, summary

    plots(results, out)
    report = summary(results)
    (out / "report.md").write_text(report + "\n")
    print(report)
    log(f"done in {results['duration_s']} s: {out.relative_to(ROOT)}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
