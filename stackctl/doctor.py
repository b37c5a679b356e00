"""`make doctor`: check every hop a span travels, and say in plain words what is wrong.

    service --OTLP--> collector --OTLP--> Jaeger --query API--> you
                          |--OTLP/HTTP (log records)--> VictoriaLogs --LogsQL--> you
                          \\--Prometheus exporter--> Prometheus --> Jaeger's Monitor tab
    feedback --AMQP--> RabbitMQ (exchange haptitalk.cues, queue watch.cues) --> watch

Each check prints ✓ or ✗ with what to do; the exit code is non-zero when anything is
broken. The end-to-end check sends a real request and waits for its whole trace in
Jaeger, then for its log lines in VictoriaLogs (found by the trace id), then follows its
cue through RabbitMQ to the watch, and its trace on to the watch's CONSUMER span.
Every URL comes from .env (or the environment), like everything else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import yaml
from rich.console import Console

from stackctl import compose
from stackctl.collector_metrics import TO_JAEGER, metric_sum
from stackctl.jaeger import Jaeger, Trace
from stackctl.logs import LogStoreDown, VictoriaLogs
from stackctl.ports import holder
from stackctl.sample import NEW_SESSION, SEGMENT
from stackctl.settings import ROOT, Endpoints, endpoints, setting
from stackctl.topology import BROKER, PUBLIC, SERVICES, WATCH
from stackctl.wait import WaitTimeout, wait_until

TIMEOUT = httpx.Timeout(3.0)
ZPAGES = ("servicez", "pipelinez")
# How long batches waiting for Jaeger may stand still before the doctor calls them stuck:
# longer than the exporter's longest pause between two retries (retry_on_failure's
# max_interval in infra/collector/config.yaml; tests/infra/test_configs.py checks), so a
# Jaeger that has just come back is seen draining the queue, not as unreachable.
DRAIN_S = 12.0
# A log record reaches VictoriaLogs about a second after it is written (the SDK's batch,
# the collector's batch, VictoriaLogs' flush); a stack that was just started needs more.
LOGS_DEADLINE_S = 15.0
# The broker's names (services/watch/models.py; not imported: the doctor needs none of
# the services' packages).
QUEUE = "watch.cues"
# A healthy watch takes a cue within milliseconds of its publish, and feedback reconnects
# every second after an outage: 15 s is a stack that has just started, not a slow hop.
CUE_DEADLINE_S = 15.0
# Cues waiting in the queue past which the doctor warns that the watch falls behind
# (a quiet stack keeps it at 0; slow_consumer under `make load` passes it in seconds).
BACKLOG = 100
# The first bytes of an AMQP 0-9-1 connection; a broker answers with Connection.Start
# (a method frame, type 1, on channel 0), anything else is not RabbitMQ.
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass(frozen=True)
class Counters:
    """The collector's own counters of spans, and of batches on their way to Jaeger."""

    accepted: float
    refused: float
    sent: float
    failed: float
    queued: float  # batches in the sending queue
    in_flight: float  # batches taken from it, being sent (and retried)

    @property
    def waiting(self) -> float:
        return self.queued + self.in_flight


@dataclass
class Result:
    ok: bool
    what: str
    fix: str = ""
    optional: bool = False


class Doctor:
    def __init__(self, urls: Endpoints) -> None:
        self.http = httpx.Client(timeout=TIMEOUT)
        self.url = {name: urls.service(name) for name in Endpoints.__dataclass_fields__}
        self.probe_trace_id = ""  # set by probe_trace, looked for in VictoriaLogs
        # Set by probe_trace too: where the probe's cue must turn up at the watch.
        self.probe_session_id = ""
        self.probe_segment_id = ""
        self.amqp = broker_address()
        self.broker_login = broker_login()

    def get(self, url: str) -> httpx.Response | None:
        try:
            return self.http.get(url)
        except httpx.HTTPError:
            return None

    # -- the checks, in the order a span travels ----------------------------------------

    def services_healthy(self) -> list[Result]:
        results = []
        for name in SERVICES:
            response = self.get(f"{self.url[name]}/healthz")
            if response is not None and response.status_code == 200:
                results.append(Result(True, f"{name} is healthy ({self.url[name]})"))
                continue
            if name not in PUBLIC and compose_says_healthy(name):
                results.append(Result(True, f"{name} is healthy (docker compose healthcheck; "
                                            "internal, not published)"))
                continue
            owner = holder(self.url[name])
            fix = (f"port is held by {owner}, not by the {name} service: stop it or change "
                   f"{name.upper()}_PORT in .env" if owner and "uvicorn" not in owner
                   else f"start it: `make up`; its log: var/log/{name}.log "
                        f"(compose: docker compose logs {name})")
            results.append(Result(False, f"{name} does not answer /healthz at "
                                         f"{self.url[name]}", fix))
        return results

    def collector_up(self) -> list[Result]:
        response = self.get(self.url["collector_health"])
        if response is None or response.status_code != 200:
            return [Result(False, "the OpenTelemetry Collector is not running or not healthy",
                           "spans are dropped at the services (they log export errors). "
                           "Start it: `make up` (or infra/start-monitoring.sh); log: "
                           "var/log/otel-collector.log, or docker logs haptitalk-otel-collector")]
        results = [Result(True, f"collector is healthy ({self.url['collector_health']})")]
        pages = [f"{self.url['zpages']}/debug/{page}" for page in ZPAGES]
        silent = [url for url in pages
                  if (answer := self.get(url)) is None or answer.status_code != 200]
        results.append(Result(not silent,
                              f"collector zPages answer ({', '.join(ZPAGES)} at "
                              f"{self.url['zpages']}/debug/)" if not silent else
                              f"collector zPages do not answer at {', '.join(silent)}",
                              "check ZPAGES_PORT and the zpages extension in "
                              "infra/collector/config.yaml"))
        return results

    def counters(self) -> Counters | None:
        response = self.get(self.url["collector_metrics"])
        if response is None:
            return None
        text = response.text
        return Counters(
            accepted=metric_sum(text, "otelcol_receiver_accepted_spans"),
            refused=metric_sum(text, "otelcol_receiver_refused_spans"),
            sent=metric_sum(text, "otelcol_exporter_sent_spans", exporter=TO_JAEGER),
            failed=metric_sum(text, "otelcol_exporter_send_failed_spans", exporter=TO_JAEGER),
            queued=metric_sum(text, "otelcol_exporter_queue_size", exporter=TO_JAEGER),
            in_flight=metric_sum(text, "otelcol_exporter_in_flight_requests",
                                 exporter=TO_JAEGER),
        )

    def collector_counters(self, drain_s: float = DRAIN_S) -> list[Result]:
        first = self.counters()
        if first is None:
            return [Result(False, "cannot read the collector's own metrics",
                           f"is COLLECTOR_TELEMETRY_PORT right? ({self.url['collector_metrics']})")]
        # Spans that cannot reach Jaeger are not counted failed at once: the exporter
        # retries each batch (retry_on_failure in infra/collector/config.yaml, minutes)
        # while the queue grows. So batches waiting (queued, or being sent and retried)
        # must drain, or at least some spans must leave, within a few seconds.
        stuck = False
        if first.waiting:
            try:
                wait_until(lambda: (now := self.counters()) is not None
                           and (not now.waiting or now.sent > first.sent),
                           "the collector's queue to Jaeger to move", drain_s, 0.5)
            except WaitTimeout:
                stuck = True
        what = (f"collector sent {first.sent:.0f} spans to Jaeger, {first.failed:.0f} failed, "
                f"{first.queued:.0f} waiting in the queue")
        if stuck:
            what += (f" and {first.in_flight:.0f} being retried; none sent in "
                     f"{drain_s:g} s")
        return [
            Result(first.accepted > 0, f"collector has received {first.accepted:.0f} spans "
                                       f"({first.refused:.0f} refused)",
                   "no service has sent spans yet: check OTEL_EXPORTER_OTLP_ENDPOINT in "
                   "docker-compose.yml, then send a request (the probe below does)"),
            Result(first.failed == 0 and not stuck, what,
                   "the collector cannot reach Jaeger: is Jaeger up (`make status`)? "
                   "JAEGER_OTLP_GRPC_ENDPOINT / JAEGER_OTLP_GRPC_PORT must match"),
        ]

    def jaeger_knows_services(self) -> list[Result]:
        response = self.get(f"{self.url['jaeger']}/api/services")
        if response is None or response.status_code != 200:
            return [Result(False, f"Jaeger's query API does not answer at {self.url['jaeger']}",
                           "start it: `make up`; log: var/log/jaeger.log "
                           "(compose: docker logs haptitalk-jaeger)")]
        known = set(response.json().get("data") or [])
        if not set(SERVICES) <= known:
            # Spans still on their way (a first request a moment ago): once every span the
            # collector has accepted is stored in Jaeger, ask again.
            Jaeger(self.url["jaeger"]).barrier()
            again = self.get(f"{self.url['jaeger']}/api/services")
            if again is not None and again.status_code == 200:
                known |= set(again.json().get("data") or [])
        missing = [s for s in SERVICES if s not in known]
        return [Result(not missing, "Jaeger knows " + (", ".join(sorted(known)) or "no service"),
                       f"no trace from {', '.join(missing)} yet: send traffic (`make load`), "
                       "or see the collector checks above")]

    def probe_trace(self, deadline_s: float = 15.0) -> list[Result]:
        try:
            created = self.http.post(f"{self.url['gateway']}/api/sessions",
                                     json=dict(NEW_SESSION, user_id="doctor"))
            sid = created.json()["session_id"]
            response = self.http.post(f"{self.url['gateway']}/api/sessions/{sid}/segments",
                                      json=SEGMENT)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            return [Result(False, f"the probe request failed: {exc}",
                           "fix the checks above first")]
        if response.status_code != 200:
            return [Result(False, f"the probe request got {response.status_code}: "
                                  f"{response.text[:200]}", "see the error's `dependency`")]
        trace_id = response.headers.get("x-trace-id", "")
        self.probe_trace_id = trace_id
        self.probe_session_id = sid
        self.probe_segment_id = response.json().get("segment_id", "")
        started = time.monotonic()
        try:
            trace = Jaeger(self.url["jaeger"]).wait_for_trace(
                trace_id, what="the probe's whole trace", deadline_s=deadline_s)
        except AssertionError as exc:
            return [Result(False, f"probe trace {trace_id} not complete in Jaeger: {exc}",
                           "spans are lost between the services and Jaeger: see the "
                           "collector checks above")]
        return [Result(True, f"probe trace {trace_id} complete in Jaeger after "
                             f"{time.monotonic() - started:.1f} s ({len(trace.spans)} spans)")]

    def logs_stored(self, deadline_s: float = LOGS_DEADLINE_S) -> list[Result]:
        """The logs hop: collector --OTLP/HTTP--> VictoriaLogs. The probe request's own log
        lines must be found there by its trace id, as the Jaeger UI's link finds them."""
        url = self.url["victorialogs"]
        store = VictoriaLogs(url, TIMEOUT)
        if not store.healthy():
            return [Result(False, f"VictoriaLogs does not answer at {url}/health",
                           "log records wait in the collector's queue on disk until it is "
                           "back. Start it: `make up`; log: var/log/victorialogs.log "
                           "(compose: docker logs haptitalk-victorialogs)")]
        results = [Result(True, f"VictoriaLogs is healthy ({url})")]
        if not self.probe_trace_id:
            return [*results, Result(False, "no probe request to look for in VictoriaLogs",
                                     "fix the end to end check above first")]
        started = time.monotonic()
        try:
            # Feedback logs its decision on every segment: the line a user looks for first.
            lines = store.wait_for_trace_lines(
                self.probe_trace_id, lambda seen: any(s.service == "feedback" for s in seen),
                what="feedback's decision line of the probe", deadline_s=deadline_s)
        except (WaitTimeout, LogStoreDown) as exc:
            return [*results, Result(
                False, f"the probe's log lines are not in VictoriaLogs: {exc}",
                "the collector's logs pipeline must reach it: otlp_http/victorialogs and "
                "VICTORIALOGS_ENDPOINT in infra/collector/config.yaml; the collector's log "
                "names the export error")]
        services = ", ".join(sorted({line.service for line in lines}))
        # Worded without "probe trace": that names the Jaeger check's one line above.
        return [*results, Result(True, f"the probe request's {len(lines)} log line(s) in "
                                       f"VictoriaLogs after {time.monotonic() - started:.1f} s "
                                       f"({services}; trace {self.probe_trace_id})")]

    def broker_hop(self, deadline_s: float = CUE_DEADLINE_S) -> list[Result]:
        """The broker hop: feedback --AMQP--> RabbitMQ --> the watch. RabbitMQ answers,
        its queue has a consumer, the watch is healthy, the probe's cue reached the watch,
        and the probe's trace runs on to the watch's CONSUMER span."""
        results = [self.rabbitmq_answers(), *self.queue_state()]
        watch = self.get(f"{self.url[WATCH]}/healthz")
        if watch is None or watch.status_code != 200:
            return [*results, Result(False, f"the watch does not answer /healthz at "
                                            f"{self.url[WATCH]}",
                                     "start it: `make up`; its log: var/log/watch.log "
                                     "(compose: docker compose logs watch)")]
        results.append(Result(True, f"the watch is healthy ({self.url[WATCH]})"))
        return [*results, *self.probe_cue(deadline_s)]

    def rabbitmq_answers(self) -> Result:
        host, port = self.amqp
        problem = amqp_problem(host, port)
        if problem is None:
            return Result(True, f"RabbitMQ answers AMQP on {host}:{port}")
        if compose_says_healthy(BROKER):
            return Result(True, "RabbitMQ is healthy (docker compose healthcheck; its AMQP "
                                "port is internal, not published)")
        return Result(False, f"RabbitMQ does not answer AMQP on {host}:{port}: {problem}",
                      "feedback keeps the cues in its outbox (in memory) until it is back. "
                      "Start it: `make up`; log: var/log/rabbitmq.log (compose: docker "
                      "compose logs rabbitmq); local mode also needs epmd "
                      "(docs/troubleshooting.md)")

    def queue_state(self) -> list[Result]:
        """The queue's consumers and depth, from the management API (the only broker port
        compose publishes)."""
        base = self.url["rabbitmq_management"]
        try:
            response = self.http.get(f"{base}/api/queues/%2F/{QUEUE}", auth=self.broker_login)
        except httpx.HTTPError:
            return [Result(False, f"RabbitMQ's management API does not answer at {base}",
                           "queue depth and consumers unknown: the API comes with the "
                           "rabbitmq_management plugin (infra/rabbitmq/enabled_plugins) on "
                           "RABBITMQ_MANAGEMENT_PORT in .env", optional=True)]
        if response.status_code == 404:
            return [Result(False, f"queue {QUEUE} does not exist in RabbitMQ",
                           "feedback and the watch declare it when they connect: neither "
                           "has; their logs: var/log/feedback.log, var/log/watch.log "
                           "(compose: docker compose logs feedback watch)")]
        if response.status_code != 200:
            return [Result(False, f"RabbitMQ's management API answered "
                                  f"{response.status_code} for queue {QUEUE}",
                           "the doctor logs in as the services do (BROKER_URL's user in "
                           "docker-compose.yml, or BROKER_URL in the environment)",
                           optional=True)]
        queue = response.json()
        consumers, waiting = queue.get("consumers", 0), queue.get("messages", 0)
        what = f"queue {QUEUE}: {consumers} consumer(s), {waiting} cue(s) waiting"
        if not consumers:
            return [Result(False, what, "nothing takes the cues off the queue: the watch is "
                                        "not connected to RabbitMQ; its log: "
                                        "var/log/watch.log (compose: docker compose logs "
                                        "watch)")]
        results = [Result(True, what)]
        if waiting > BACKLOG:
            results.append(Result(False, f"{waiting} cues wait in {QUEUE}: the watch takes "
                                         "them slower than feedback publishes",
                                  "is slow_consumer on (`make scenario`)? In Jaeger the gap "
                                  "between the PRODUCER and the CONSUMER span is the wait "
                                  "(docs/broker.md)", optional=True))
        return results

    def probe_cue(self, deadline_s: float) -> list[Result]:
        """The probe segment earns a buzz (stackctl/sample.py): its cue must reach the
        watch (its JSON read of delivered cues), and its CONSUMER span the probe's trace."""
        if not self.probe_segment_id:
            return [Result(False, "no probe cue to look for at the watch",
                           "fix the end to end check above first")]
        url = f"{self.url[WATCH]}/watch/{self.probe_session_id}/delivered"
        seen = ["no answer"]

        def arrived() -> bool:
            response = self.get(url)
            if response is None or response.status_code != 200:
                seen[0] = ("no answer" if response is None else
                           f"{response.status_code}: {response.text.strip()[:200]}")
                return False
            delivered = [cue["segment_id"] for cue in response.json().get("cues", [])]
            seen[0] = f"{len(delivered)} cue(s) delivered for the session"
            return self.probe_segment_id in delivered

        started = time.monotonic()
        try:
            wait_until(arrived, "the probe's cue at the watch", deadline_s, 0.2)
        except WaitTimeout:
            return [Result(False, f"the probe's cue did not reach the watch in "
                                  f"{deadline_s:g} s (the watch: {seen[0]})",
                           "feedback's log says whether it published (`kept in the "
                           "outbox`, `RabbitMQ unreachable`), the watch's whether it "
                           "consumes (`consuming watch.cues`); docs/broker.md")]
        results = [Result(True, f"probe cue (segment {self.probe_segment_id}) reached the "
                                f"watch after {time.monotonic() - started:.1f} s")]
        return [*results, self.cue_in_trace(deadline_s)]

    def cue_in_trace(self, deadline_s: float) -> Result:
        jaeger = Jaeger(self.url["jaeger"])
        last: list[Trace | None] = [None]

        def joined() -> bool:
            try:
                last[0] = jaeger.get_trace(self.probe_trace_id)
            except httpx.HTTPError:
                last[0] = None
            return cue_problem(last[0]) is None

        try:
            wait_until(joined, "the watch's CONSUMER span in the probe's trace", deadline_s)
        except WaitTimeout:
            return Result(False, f"the probe's trace {self.probe_trace_id} breaks at the broker: "
                                 f"{cue_problem(last[0])}",
                          "the context travels in the message's headers: feedback and the "
                          "watch must run under opentelemetry-instrument with aio-pika's "
                          "instrumentation, and the watch consume with queue.consume(), "
                          "not queue.iterator() (docs/troubleshooting.md)")
        return Result(True, f"the probe's trace {self.probe_trace_id} runs on through RabbitMQ: "
                            "the watch's CONSUMER span is the child of feedback's PRODUCER "
                            "span")

    def monitor_tab(self) -> list[Result]:
        ready = self.get(f"{self.url['prometheus']}/-/ready")
        if ready is None:
            return [Result(False, "Prometheus is not running: Jaeger's Monitor tab has no data",
                           "local mode: sudo apt-get install prometheus, then `make up`",
                           optional=True)]
        calls = self.get(f"{self.url['jaeger']}/api/metrics/calls?service=gateway"
                         "&spanKind=server&step=60000&ratePer=60000&lookback=600000")
        ok = calls is not None and calls.status_code == 200 and bool(
            calls.json().get("metrics"))
        return [Result(ok, "Jaeger's Monitor tab (SPM) returns call rates for gateway",
                       "Prometheus must scrape the collector (infra/prometheus/prometheus.yml) "
                       "and traffic must have flowed for ~30 s", optional=True)]


def compose_says_healthy(service: str) -> bool:
    """In compose, session and feedback are not published: ask compose instead."""
    if os.environ.get("STACK") != "compose":
        return False
    try:
        out = compose.run("ps", "--format", "{{.Service}} {{.Health}}", service,
                          capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"{service} healthy" in out


def broker_address() -> tuple[str, int]:
    """Where RabbitMQ's AMQP port is: BROKER_URL's host and port when set (a broker
    elsewhere), else RABBITMQ_PORT on STACK_HOST (local mode; compose keeps it internal)."""
    given = os.environ.get("BROKER_URL")
    if given:
        url = urlsplit(given)
        return url.hostname or "127.0.0.1", url.port or 5672
    return os.environ.get("STACK_HOST", "127.0.0.1"), int(setting("RABBITMQ_PORT"))


def broker_login() -> tuple[str, str]:
    """The user feedback and the watch connect as (BROKER_URL, in the environment or in
    docker-compose.yml): the management API takes the same."""
    url = os.environ.get("BROKER_URL") or yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text())["services"][WATCH]["environment"]["BROKER_URL"]
    parts = urlsplit(url)
    return parts.username or "guest", parts.password or "guest"


def amqp_problem(host: str, port: int, timeout_s: float = 3.0) -> str | None:
    """Why host:port is not an AMQP broker, or None when it is: RabbitMQ answers the
    protocol header with Connection.Start (a method frame on channel 0)."""
    try:
        conn = socket.create_connection((host, port), timeout=timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    with conn:
        try:
            conn.sendall(AMQP_HEADER)
            frame = conn.recv(7)
        except OSError:  # the timeout too: RabbitMQ answers at once
            frame = b""
    if frame[:3] == b"\x01\x00\x00":
        return None
    owner = holder(f"http://{host}:{port}")
    return f"{owner or 'another program'} holds the port, not RabbitMQ: change RABBITMQ_PORT " \
           "in .env or stop it"


def cue_problem(trace: Trace | None) -> str | None:
    """Where a buzzing segment's trace breaks on its way to the watch (None: the watch's
    CONSUMER span is the child of feedback's PRODUCER span, in the same trace)."""
    if trace is None:
        return "the trace is not in Jaeger"
    producers = {span.span_id for span in trace.find(service="feedback", kind="producer")}
    if not producers:
        return "it has no PRODUCER span from feedback"
    consumers = trace.find(service=WATCH, kind="consumer")
    if not consumers:
        return "the watch's CONSUMER span is not in it"
    if not any(span.parent_id in producers for span in consumers):
        return "the watch's CONSUMER span is not the child of feedback's PRODUCER span"
    return None


def main() -> int:
    console = Console()
    doctor = Doctor(endpoints())
    checks: list[tuple[str, Callable[[], list[Result]]]] = [
        ("services", doctor.services_healthy),
        ("collector", doctor.collector_up),
        ("collector counters", doctor.collector_counters),
        ("jaeger", doctor.jaeger_knows_services),
        ("end to end", doctor.probe_trace),
        ("logs", doctor.logs_stored),
        ("broker", doctor.broker_hop),
        ("monitor tab", doctor.monitor_tab),
    ]
    broken = 0
    for title, check in checks:
        console.print(f"[bold]{title}[/bold]")
        for result in check():
            if result.ok:
                console.print(f"  [green]✓[/green] {result.what}")
            else:
                mark = "[yellow]![/yellow]" if result.optional else "[red]✗[/red]"
                console.print(f"  {mark} {result.what}\n      → {result.fix}")
                broken += not result.optional
    console.print("[green]all hops healthy[/green]" if not broken
                  else f"[red]{broken} problem(s) found[/red]")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
