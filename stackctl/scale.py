"""The scaled-out tracing backend of the Helm chart, as local processes, under load.

    python -m stackctl.scale run        # start it, load it, stop a replica, report
    python -m stackctl.scale run --no-drain   # the replica stopped before the agent's
                                              # queue for it drained: spans lost
    python -m stackctl.scale up         # start it and keep it up (Ctrl-C stops it)

The shape of deploy/helm/haptitalk, with the same configuration files:

    load (3 "services", OTLP/HTTP) -> agent (infra/collector/tiers/agent.yaml)
        -- load_balancing, routing_key traceID, resolver dns "haptitalk-otel-tail" -->
    tail-1, tail-2 (config.yaml + sampling-tail.yaml + tiers/tail.yaml) -> Jaeger

Each process gets its own loopback address (127.0.0.x, like a pod's IP), so every one
listens on the suite's usual ports without clashing with a running `make up`. The tail
tier is found the way the agent finds it in a cluster: a DNS name with one address per
ready replica. Here the name lives in a hosts file that only the agent sees (a private
mount namespace, `unshare --mount`); taking a replica's line out is what Kubernetes does
to a headless Service when a pod terminates.

What is measured (the figures docs/production.md quotes):
- steady load, two replicas: spans sent = spans in Jaeger (0 lost), every trace's spans
  carry one replica (0 split), the agent's and the replicas' span counters agree;
- a replica leaves under load: how long the agent takes to re-route, whether any export
  failed, spans lost, traces split while it happened.
Tail sampling keeps every trace here (TAIL_SAMPLING_PERCENT=100), so that every span
sent must be found.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from stackctl.collector_metrics import metric_sum
from stackctl.local import Processes, Program, port_taken
from stackctl.settings import ROOT, settings
from stackctl.tools import binary
from stackctl.wait import WaitTimeout, wait_until

TAIL_HOSTNAME = "haptitalk-otel-tail"
# One loopback address per "pod": the same ports everywhere, no clash with the suite.
ADDRESSES = {"agent": "127.0.0.5", "tail-1": "127.0.0.2", "tail-2": "127.0.0.3",
             "jaeger": "127.0.0.4"}
TAILS = ("tail-1", "tail-2")
REPLICA_TAG = "collector.tail.replica"
SPANS_PER_TRACE = 6
VAR = ROOT / "var" / "scale"


# -- the processes ---------------------------------------------------------------------

def _collector_env(name: str, env: dict[str, str]) -> dict[str, str]:
    data = VAR / name
    data.mkdir(parents=True, exist_ok=True)
    return {
        "LISTEN_HOST": ADDRESSES[name],
        **{k: env[k] for k in ("OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "COLLECTOR_HEALTH_PORT",
                               "COLLECTOR_TELEMETRY_PORT", "COLLECTOR_PROMETHEUS_PORT",
                               "ZPAGES_PORT", "GATEWAY_PORT")},
        "COLLECTOR_DATA_DIR": str(data),
        "DEPLOYMENT_ENVIRONMENT": "scale-test",
        "GOMEMLIMIT": env["COLLECTOR_GOMEMLIMIT"],
    }


def programs(resolver_interval: str) -> list[Program]:
    """The topology, in start order (Jaeger first, the agent last)."""
    env = settings()
    otelcol = str(binary("otelcol", env))
    jaeger = str(binary("jaeger", env))
    collector = ROOT / "infra/collector"
    health = env["COLLECTOR_HEALTH_PORT"]
    procs = [Program(
        "jaeger", [jaeger, "--config", str(ROOT / "infra/jaeger/config.yaml")],
        {"LISTEN_HOST": ADDRESSES["jaeger"],
         **{k: env[k] for k in ("JAEGER_UI_PORT", "JAEGER_OTLP_GRPC_PORT",
                                "JAEGER_OTLP_HTTP_PORT", "JAEGER_HEALTH_PORT",
                                "JAEGER_TELEMETRY_PORT", "JAEGER_QUERY_GRPC_PORT")},
         "JAEGER_MAX_TRACES": "100000", "GOMEMLIMIT": "600MiB",
         "PROMETHEUS_URL": "http://127.0.0.1:1"},
        f"http://{ADDRESSES['jaeger']}:{env['JAEGER_HEALTH_PORT']}/status")]
    for name in TAILS:
        procs.append(Program(
            name,
            [otelcol, "--config", str(collector / "config.yaml"),
             "--config", str(collector / "sampling-tail.yaml"),
             "--config", str(collector / "tiers/tail.yaml")],
            {**_collector_env(name, env), "COLLECTOR_REPLICA": name,
             "TAIL_SAMPLING_SLOW_MS": env["TAIL_SAMPLING_SLOW_MS"],
             "TAIL_SAMPLING_PERCENT": "100",
             "JAEGER_OTLP_GRPC_ENDPOINT":
                 f"{ADDRESSES['jaeger']}:{env['JAEGER_OTLP_GRPC_PORT']}"},
            f"http://{ADDRESSES[name]}:{health}/"))
    # The agent resolves the tail tier through a hosts file that only it sees.
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else \
        ["unshare", "--map-root-user", "--mount"]
    procs.append(Program(
        "agent",
        [*unshare, "sh", "-c", 'mount --bind "$1" /etc/hosts && shift && exec "$@"',
         "sh", str(VAR / "hosts"), otelcol, "--config", str(collector / "tiers/agent.yaml")],
        {**_collector_env("agent", env), "TAIL_COLLECTORS_HOST": TAIL_HOSTNAME,
         "TAIL_OTLP_GRPC_PORT": env["OTLP_GRPC_PORT"],
         "TAIL_RESOLVER_INTERVAL": resolver_interval},
        f"http://{ADDRESSES['agent']}:{health}/"))
    return procs


def write_hosts(replicas: Sequence[str]) -> None:
    """The agent's view of the headless Service: one line per ready replica. Written in
    place (same inode), so the bind mount keeps showing the current content."""
    lines = ["127.0.0.1 localhost"] + [f"{ADDRESSES[r]} {TAIL_HOSTNAME}" for r in replicas]
    with open(VAR / "hosts", "r+" if (VAR / "hosts").exists() else "w") as f:
        f.seek(0)
        f.write("\n".join(lines) + "\n")
        f.truncate()


class Topology:
    """The running processes (stackctl.local.Processes: each healthy before the next,
    all stopped on exit), and what the experiment does to them."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        env = settings()
        self.jaeger_url = f"http://{ADDRESSES['jaeger']}:{env['JAEGER_UI_PORT']}"
        self.otlp_url = f"http://{ADDRESSES['agent']}:{env['OTLP_HTTP_PORT']}"
        self.telemetry_port = env["COLLECTOR_TELEMETRY_PORT"]

    def stop_process(self, name: str, timeout_s: float = 30.0) -> float:
        """SIGTERM, like a pod's termination; returns how long it took to exit."""
        proc = self.processes.procs[name]
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout_s)
        return time.monotonic() - started

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU time of a process so far (/proc/<pid>/stat)."""
        pid = self.processes.procs[name].pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str, metric: str) -> float:
        url = f"http://{ADDRESSES[name]}:{self.telemetry_port}/metrics"
        return metric_sum(httpx.get(url, timeout=5).text, metric)


@contextmanager
def running(resolver_interval: str = "1s") -> Iterator[Topology]:
    env = settings()
    missing = [str(p.relative_to(ROOT)) for p in (binary("otelcol", env), binary("jaeger", env))
               if not p.exists()]
    if missing:
        raise SystemExit(f"not built: {', '.join(missing)}: run `make tools`")
    if shutil.which("unshare") is None:
        raise SystemExit("`unshare` (util-linux) is needed for the agent's view of DNS")
    topology = programs(resolver_interval)
    # A port already held belongs to another run: its processes, not ours, would pass
    # the health checks below (Processes refuses them too; this names them all at once).
    busy = [f"{p.name}: {taken}" for p in topology if (taken := port_taken(p))]
    if busy:
        raise SystemExit("a scaled topology is already running? (another make test-scale)\n"
                         + "\n".join(busy))
    VAR.mkdir(parents=True, exist_ok=True)
    write_hosts(TAILS)
    with Processes(topology, VAR) as processes:
        for name in processes.procs:
            print(f"  {name:<7} {ADDRESSES[name]:<10} healthy")
        yield Topology(processes)


# -- the load: three "services" whose spans of one trace leave in separate exports --------

class CountingExporter(SpanExporter):
    """The SDK's OTLP exporter, counting what the agent accepted and what failed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        with self.lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Load:
    otlp_url: str
    run_id: str
    exporters: dict[str, CountingExporter] = field(default_factory=dict)
    providers: dict[str, TracerProvider] = field(default_factory=dict)
    made_at: dict[str, float] = field(default_factory=dict)  # trace id -> time.monotonic()

    def __post_init__(self) -> None:
        for service in ("gateway", "session", "feedback"):
            exporter = CountingExporter(OTLPSpanExporter(
                endpoint=f"{self.otlp_url}/v1/traces", timeout=10))
            provider = TracerProvider(resource=Resource.create({
                "service.name": f"scale-{service}", "service.namespace": "haptitalk-scale",
                "scale.run": self.run_id}))
            # Each "service" exports on its own schedule, as separate pods do: the spans
            # of one trace reach the agent in different requests.
            provider.add_span_processor(BatchSpanProcessor(
                exporter, schedule_delay_millis=200, max_queue_size=50_000,
                max_export_batch_size=512))
            self.exporters[service] = exporter
            self.providers[service] = provider

    def one_trace(self) -> str:
        gw = self.providers["gateway"].get_tracer("scale")
        ss = self.providers["session"].get_tracer("scale")
        fb = self.providers["feedback"].get_tracer("scale")
        with gw.start_as_current_span("POST /api/sessions/{session_id}/segments",
                                      kind=SpanKind.SERVER) as root:
            with gw.start_as_current_span("POST", kind=SpanKind.CLIENT):
                with ss.start_as_current_span("POST /sessions/{session_id}/segments",
                                              kind=SpanKind.SERVER):
                    with ss.start_as_current_span("INSERT", kind=SpanKind.CLIENT):
                        pass
            with gw.start_as_current_span("POST", kind=SpanKind.CLIENT):
                with fb.start_as_current_span("POST /evaluate", kind=SpanKind.SERVER) as s:
                    s.set_status(Status(StatusCode.OK))
            return format(root.get_span_context().trace_id, "032x")

    def run(self, seconds: float, rate: float, at: dict[float, callable] | None = None
            ) -> list[str]:
        """`rate` traces a second for `seconds`; `at` runs callbacks at given offsets
        (in a thread, so the load does not pause while a replica leaves)."""
        ids: list[str] = []
        pending = sorted((at or {}).items())
        threads = []
        token = otel_context.attach(otel_context.Context())
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                while pending and elapsed >= pending[0][0]:
                    thread = threading.Thread(target=pending.pop(0)[1])
                    thread.start()
                    threads.append(thread)
                ids.append(self.one_trace())
                self.made_at[ids[-1]] = time.monotonic()
                ahead = len(ids) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        finally:
            otel_context.detach(token)
        for thread in threads:
            thread.join()
        return ids

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush(30_000)

    @property
    def sent(self) -> int:
        return sum(e.sent for e in self.exporters.values())

    @property
    def failed(self) -> int:
        return sum(e.failed for e in self.exporters.values())

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


# -- reading the result back from Jaeger ---------------------------------------------------

@dataclass
class TraceView:
    spans: int
    replicas: frozenset[str]


def read_traces(jaeger_url: str, ids: Sequence[str], deadline_s: float = 60.0
                ) -> dict[str, TraceView]:
    """Each trace as Jaeger has it, polled until all are complete or the deadline passes
    (tail sampling holds a trace for decision_wait before it is exported)."""
    views: dict[str, TraceView] = {}

    def missing() -> list[str]:
        return [t for t in ids if t not in views or views[t].spans < SPANS_PER_TRACE]

    with httpx.Client(base_url=jaeger_url, timeout=10) as client:
        def all_complete() -> bool:
            for trace_id in missing():
                response = client.get(f"/api/traces/{trace_id}")
                if response.status_code != 200 or not response.json().get("data"):
                    continue
                data = response.json()["data"][0]
                replicas = {tag["value"] for process in data["processes"].values()
                            for tag in process.get("tags", []) if tag["key"] == REPLICA_TAG}
                views[trace_id] = TraceView(len(data["spans"]), frozenset(replicas))
            return not missing()

        try:
            wait_until(all_complete, f"{len(ids)} whole traces in Jaeger", deadline_s, 1.0)
        except WaitTimeout:
            pass  # what is still missing is the caller's finding (lost spans), not an error
    return views


@dataclass
class PhaseResult:
    name: str
    traces: int
    spans_sent: int
    spans_failed: int
    spans_in_jaeger: int
    split_traces: int
    incomplete_traces: int
    per_replica: dict[str, int]
    seconds: float
    notes: dict[str, float] = field(default_factory=dict)
    split_at: list[float] = field(default_factory=list)  # each split trace's second

    @property
    def spans_lost(self) -> int:
        return self.spans_sent - self.spans_in_jaeger

    def lines(self) -> list[str]:
        share = ", ".join(f"{r} {n}" for r, n in sorted(self.per_replica.items()))
        out = [
            f"{self.name}: {self.traces} traces in {self.seconds:.0f} s "
            f"({self.traces / self.seconds:.0f}/s), {self.spans_sent} spans sent",
            f"  failed exports (spans) {self.spans_failed:>6}"
            f"   lost spans {self.spans_lost:>6}",
            f"  split traces           {self.split_traces:>6}"
            f"   incomplete {self.incomplete_traces:>6}"
            + (f"   (made at second {', '.join(f'{t:.1f}' for t in self.split_at[:5])}"
               f"{', ...' if len(self.split_at) > 5 else ''})" if self.split_at else ""),
            f"  traces per replica     {share}",
        ]
        out += [f"  {k:<22} {v:>6.1f}" for k, v in self.notes.items()]
        return out


def summarise(name: str, load: Load, ids: list[str], views: dict[str, TraceView],
              sent_before: int, failed_before: int, started: float, seconds: float,
              notes: dict[str, float] | None = None) -> PhaseResult:
    per_replica: Counter[str] = Counter()
    for trace_id in ids:
        view = views.get(trace_id)
        if view and len(view.replicas) == 1:
            per_replica[next(iter(view.replicas))] += 1
    split = [t for t in ids if len(views.get(t, TraceView(0, frozenset())).replicas) > 1]
    return PhaseResult(
        name=name, traces=len(ids),
        spans_sent=load.sent - sent_before, spans_failed=load.failed - failed_before,
        spans_in_jaeger=sum(v.spans for t, v in views.items() if t in set(ids)),
        split_traces=len(split),
        split_at=sorted(round(load.made_at[t] - started, 2) for t in split),
        incomplete_traces=sum(1 for t in ids
                              if views.get(t, TraceView(0, frozenset())).spans
                              < SPANS_PER_TRACE),
        per_replica=dict(per_replica), seconds=seconds, notes=notes or {})


def experiment(seconds: float = 20.0, rate: float = 100.0, drain: bool = True
               ) -> list[PhaseResult]:
    """Steady load on two replicas, then the same load while tail-2 leaves. drain=False
    stops tail-2 as soon as the agent has re-routed, without letting the agent's queue for
    it drain first: what the chart's preStop sleep prevents (`--no-drain`)."""
    run_id = format(time.time_ns(), "x")
    results = []
    with running() as topology:
        load = Load(topology.otlp_url, run_id)
        try:
            # 1. steady: both replicas.
            cpu0 = {n: topology.cpu_seconds(n) for n in ("agent", *TAILS)}
            started = time.monotonic()
            ids = load.run(seconds, rate)
            elapsed = time.monotonic() - started
            load.flush()
            views = read_traces(topology.jaeger_url, ids)
            cpu = {n: topology.cpu_seconds(n) - cpu0[n] for n in cpu0}
            results.append(summarise("steady, 2 replicas", load, ids, views, 0, 0, started,
                                     elapsed))
            spans_k = results[-1].spans_sent / 1000
            results[-1].notes.update({
                "agent CPU ms/1k spans": 1000 * cpu["agent"] / spans_k,
                "tails CPU ms/1k spans": 1000 * (cpu["tail-1"] + cpu["tail-2"]) / spans_k})
            accepted = {n: topology.metric(n, "otelcol_receiver_accepted_spans")
                        for n in ("agent", *TAILS)}
            results[-1].notes.update({
                "agent accepted spans": accepted["agent"],
                "tails accepted spans": accepted["tail-1"] + accepted["tail-2"]})

            # 2. a replica leaves under load, the way a pod does: its address leaves the
            # headless Service; once the agent has re-routed (the chart's preStop sleep
            # covers this), it gets SIGTERM, decides on what it holds and exits.
            sent0, failed0 = load.sent, load.failed
            notes: dict[str, float] = {}
            started = time.monotonic()

            def leave() -> None:
                notes["tail-2 leaves at second"] = time.monotonic() - started
                write_hosts(["tail-1"])
                left = time.monotonic()
                wait_until(lambda: topology.metric(
                    "agent", "otelcol_loadbalancer_num_backends") == 1,
                    "the agent to drop tail-2 from its ring", 30, 0.1)
                notes["re-route seconds"] = time.monotonic() - left
                notes["re-routed at second"] = time.monotonic() - started
                # What the chart's preStop sleep is for: the agents' queues for tail-2
                # drain into it before it stops (its span counter stands still).
                counts = [-1.0]

                def drained() -> bool:
                    counts.append(topology.metric("tail-2", "otelcol_receiver_accepted_spans"))
                    return counts[-1] == counts[-2]

                if drain:
                    wait_until(drained, "tail-2 to stop receiving", 30, 0.5)
                    notes["removal to quiet seconds"] = time.monotonic() - left
                else:
                    drained()
                notes["tail-2 received spans"] = counts[-1]
                notes["tail-2 sent to Jaeger"] = topology.metric(
                    "tail-2", "otelcol_exporter_sent_spans")
                notes["tail-2 exit seconds"] = topology.stop_process("tail-2")
                notes["tail-2 gone at second"] = time.monotonic() - started

            ids = load.run(seconds, rate, at={seconds / 4: leave})
            elapsed = time.monotonic() - started
            load.flush()
            views = read_traces(topology.jaeger_url, ids)
            results.append(summarise(
                "tail-2 leaves under load" + ("" if drain else ", not drained"), load, ids,
                views, sent0, failed0, started, elapsed, notes))
        finally:
            load.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "up"])
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--rate", type=float, default=100.0, help="traces per second")
    parser.add_argument("--no-drain", dest="drain", action="store_false",
                        help="stop tail-2 as soon as the agent re-routed, without waiting for "
                             "its queue to drain (what preStop prevents): counts the spans "
                             "lost, and does not fail on them")
    args = parser.parse_args(argv)
    if args.action == "up":
        with running() as topology:
            print(f"OTLP/HTTP in: {topology.otlp_url}   Jaeger: {topology.jaeger_url}"
                  "   (Ctrl-C stops)")
            # SIGTERM (kill, a CI job's end) stops it like Ctrl-C: the processes go too.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
        return 0
    results = experiment(args.seconds, args.rate, args.drain)
    for result in results:
        print("\n".join(result.lines()))
    steady, failover = results
    ok = (steady.spans_lost == 0 and steady.split_traces == 0 and steady.spans_failed == 0
          and failover.spans_failed == 0 and (failover.spans_lost == 0 or not args.drain))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
