"""Beyond the trace: span metrics on 8889, Prometheus and Jaeger's Monitor tab, zPages,
redaction, log correlation, sampling, and `make doctor` on a healthy and a broken stack."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import httpx
import pytest

from stackctl.jaeger import Jaeger, complete
from stackctl.sample import SEGMENT
from stackctl.settings import endpoints as stack_endpoints
from stackctl.topology import SERVICES as TOPOLOGY_SERVICES
from stackctl.wait import wait_until
from tests.support.otlp import post_span
from tests.support.stack import (
    ROOT,
    Endpoints,
    collector_metric,
    restart_with,
    service_log,
    setting,
    stack_mode,
    start_service,
    stop_service,
)

URLS = stack_endpoints()
SERVICES = set(TOPOLOGY_SERVICES)


def poll(check: Callable[[], object], what: str, deadline_s: float = 30.0) -> object:
    """Call `check` until it returns something truthy (an unreachable endpoint counts as
    not yet); fail naming `what` otherwise."""
    last: list[object] = [None]

    def attempt() -> object:
        try:
            last[0] = check()
        except httpx.HTTPError as exc:
            last[0] = exc
            return None
        return last[0]

    return wait_until(attempt, what, deadline_s, 0.5, seen=lambda: repr(last[0]))


def traffic(gateway: httpx.Client, segments: int = 3) -> str:
    sid = gateway.post("/api/sessions", json={"user_id": "obs", "mode": "presentation"}
                       ).json()["session_id"]
    trace_id = ""
    for _ in range(segments):
        trace_id = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT
                                ).headers["x-trace-id"]
    gateway.get(f"/api/sessions/{sid}")
    return trace_id


# --- metrics -------------------------------------------------------------------------------

def exporter_metrics() -> str:
    return httpx.get(URLS.exporter_metrics,
                     timeout=5).text


def test_span_metrics_for_all_services_on_8889(gateway: httpx.Client) -> None:
    traffic(gateway)

    def red_metrics() -> set[str]:
        text = exporter_metrics()
        services = set(re.findall(
            r'^traces_span_metrics_calls_total\{[^}]*service_name="(\w+)"[^}]*'
            r'span_kind="SPAN_KIND_SERVER"', text, re.M))
        has_histogram = "traces_span_metrics_duration_milliseconds_bucket" in text
        return services if SERVICES <= services and has_histogram else set()

    poll(red_metrics, "calls and duration histograms for gateway, session and feedback")


def test_span_metrics_are_one_stream_per_service(gateway: httpx.Client) -> None:
    """Span metrics are labelled by service, not by process: a restarted service carries
    on the same series instead of starting new ones (infra/collector/config.yaml,
    span_metrics). The SDKs' own metrics do keep their process (`instance`), which is
    what shows that the label is looked for where it would be."""
    traffic(gateway, 1)

    def instance_labels() -> tuple[set[str], set[str]] | None:
        text = exporter_metrics()
        span = set(re.findall(r'^traces_span_metrics_calls_total\{[^}]*'
                              r'\binstance="([^"]+)"', text, re.M))
        sdk = set(re.findall(r'^http_server_request_duration_seconds_count\{[^}]*'
                             r'\binstance="([^"]+)"', text, re.M))
        calls = re.search(r'^traces_span_metrics_calls_total\{', text, re.M)
        return (span, sdk) if calls and sdk else None

    span, sdk = poll(instance_labels, "span metrics and the SDKs' HTTP metrics on 8889", 40)
    assert sdk, "the SDKs' metrics carry no instance label: nothing to compare with"
    assert not span, (f"span metrics carry process instances {sorted(span)}: one set of "
                      "series per process, a new one at every restart")


def test_service_http_metrics_reach_the_collector(gateway: httpx.Client) -> None:
    traffic(gateway, 1)

    def http_duration_jobs() -> set[str]:
        jobs = set(re.findall(r'^http_server_request_duration_seconds_bucket\{[^}]*'
                              r'job="haptitalk/(\w+)"', exporter_metrics(), re.M))
        return jobs if SERVICES <= jobs else set()

    # The SDKs export metrics every 10 s (OTEL_METRIC_EXPORT_INTERVAL).
    poll(http_duration_jobs, "http.server.request.duration from all three services", 40)


# The collector's pipelines as pipelinez must show them, written out here, not read from
# infra/collector/config.yaml: a pipeline or component renamed, dropped or reordered in
# the config (or an overlay) is a change this test names. Per COLLECTOR_SAMPLING overlay:
# (receivers, processors in order, exporters); pipelinez marks a connector as such.
SPAN_METRICS = "span_metrics (connector)"
PIPELINES = {
    "all": {
        "traces": (["otlp"], ["memory_limiter", "resource/environment", "redaction/speech",
                              "batch/traces"], ["otlp_grpc/jaeger", SPAN_METRICS]),
        "metrics": (["otlp"], ["memory_limiter", "resource/environment", "batch"],
                    ["prometheus"]),
        "metrics/span_metrics": ([SPAN_METRICS], ["memory_limiter",
                                                  "resource/one-stream-per-service",
                                                  "resource/environment", "batch"],
                                 ["prometheus"]),
        "logs": (["otlp"], ["memory_limiter", "resource/environment", "redaction/speech",
                            "batch"], ["otlp_http/victorialogs"]),
    },
}
PIPELINES["tail"] = {
    **PIPELINES["all"],
    "traces": (["otlp"], ["memory_limiter", "resource/environment", "redaction/speech",
                          "tail_sampling", "batch/traces"], ["otlp_grpc/jaeger"]),
    "traces/all-spans-for-metrics": (["otlp"], ["memory_limiter", "resource/environment"],
                                     [SPAN_METRICS]),
}


def pipelinez(text: str) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """The pipelines on /debug/pipelinez: each component is a link naming its pipeline,
    itself and its kind (processors in pipeline order)."""
    found: dict[str, tuple[list[str], list[str], list[str]]] = {}
    kinds = {"receiver": 0, "processor": 1, "exporter": 2}
    for pipeline, component, kind in re.findall(
            r'href="\?zpipelinename=([^&"]+)&zcomponentname=([^&"]+)&zcomponentkind=(\w+)"',
            text):
        lists = found.setdefault(unquote(pipeline), ([], [], []))
        lists[kinds[kind]].append(unquote(component))
    # Receivers and exporters have no order (the page's changes from run to run).
    return {name: (sorted(r), p, sorted(e)) for name, (r, p, e) in found.items()}


def test_zpages_show_the_collectors_pipelines() -> None:
    """pipelinez lists exactly the pipelines and components written above.
    (tracez shows the collector's *own* spans, sampled at 1 %: usually an empty table,
    not the services' spans passing through.)"""
    sampling = setting("COLLECTOR_SAMPLING")
    assert sampling in PIPELINES, f"no pipelines written here for COLLECTOR_SAMPLING={sampling}"
    page = httpx.get(f"{URLS.zpages}/debug/pipelinez", timeout=5)
    assert page.status_code == 200
    shown = pipelinez(html.unescape(page.text))
    expected = {name: (sorted(r), p, sorted(e)) for name, (r, p, e) in PIPELINES[sampling].items()}
    assert shown == expected, (
        "pipelinez differs from the pipelines this test expects:\n"
        + "\n".join(f"  {name}: expected {expected.get(name)}, shown {shown.get(name)}"
                    for name in sorted({*shown, *expected})
                    if shown.get(name) != expected.get(name)))
    for page in ("tracez", "servicez"):
        response = httpx.get(f"{URLS.zpages}/debug/{page}", timeout=5)
        assert response.status_code == 200, page


def _prometheus_up() -> bool:
    try:
        return httpx.get(f"{URLS.prometheus}/-/ready",
                         timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_prometheus_and_jaegers_monitor_tab(gateway: httpx.Client,
                                            endpoints: Endpoints) -> None:
    if not _prometheus_up():
        message = ("Prometheus is not running (local mode without Debian's prometheus "
                   "package: sudo apt-get install prometheus)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs it)")
        pytest.skip(message)
    traffic(gateway)
    prometheus = URLS.prometheus

    def in_prometheus() -> set[str]:
        result = httpx.get(f"{prometheus}/api/v1/query", timeout=5, params={
            "query": 'sum by (service_name) (traces_span_metrics_calls_total'
                     '{span_kind="SPAN_KIND_SERVER"})'}).json()["data"]["result"]
        found = {r["metric"]["service_name"] for r in result}
        return found if SERVICES <= found else set()

    poll(in_prometheus, "RED metrics of the three services in Prometheus", 45)

    def monitor_tab(service: str) -> Callable[[], object]:
        def check() -> object:
            body = httpx.get(f"{endpoints.jaeger}/api/metrics/calls", timeout=10, params={
                "service": service, "spanKind": "server", "step": 15000,
                "ratePer": 60000, "lookback": 600000}).json()
            points = [p for m in body.get("metrics", []) for p in m.get("metricPoints", [])
                      if p.get("gaugeValue", {}).get("doubleValue", 0) > 0]
            return points
        return check

    for service in sorted(SERVICES):
        poll(monitor_tab(service), f"call rates for {service} from Jaeger's metrics API", 60)


# --- what goes into traces and logs ---------------------------------------------------------

def test_speech_text_is_redacted_by_the_collector(jaeger: Jaeger) -> None:
    """A span that carries a user's words (as a careless debug attribute would) reaches
    Jaeger masked: the collector's redaction processor is the safety net."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    words = "I am nervous about this interview"
    post_span(trace_id, span_id, service="redaction-probe", name="debug segment",
              attributes={"haptitalk.segment.text": words, "haptitalk.mode": "interview"})
    trace = jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "the probe span")
    (span,) = trace.spans
    assert span.tags["haptitalk.mode"] == "interview"
    assert span.tags["haptitalk.segment.text"] != words
    assert set(span.tags["haptitalk.segment.text"]) == {"*"}
    assert words not in json.dumps(span.tags)


def test_resource_processor_sets_the_environment(gateway: httpx.Client, jaeger: Jaeger) -> None:
    trace_id = traffic(gateway, 1)
    jaeger.wait_for_trace(trace_id, lambda t: bool(t.spans), "the trace")
    raw = jaeger.http.get(f"/api/traces/{trace_id}").json()["data"][0]
    for process in raw["processes"].values():
        tags = {t["key"]: t["value"] for t in process["tags"]}
        assert tags["deployment.environment.name"] == setting("DEPLOYMENT_ENVIRONMENT")


# The log records' way to VictoriaLogs, by trace id: tests/e2e/test_logs.py.


def test_stdout_log_lines_carry_the_trace_id(gateway: httpx.Client) -> None:
    sid = gateway.post("/api/sessions", json={"user_id": "logs", "mode": "presentation"}
                       ).json()["session_id"]
    response = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    trace_id = response.headers["x-trace-id"]

    def line_of_this_request() -> list[str]:
        return [line for line in service_log("feedback").splitlines()
                if "haptic feedback" in line and sid in line]

    (line,) = poll(line_of_this_request, "feedback's log line about this request", 10)
    assert f"trace_id={trace_id}" in line, line
    assert re.search(r"span_id=[0-9a-f]{16}", line), line


# --- sampling --------------------------------------------------------------------------------

def _traceparent(trace_id: str, sampled: bool) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"}


def _assert_absent_once_later_trace_arrived(jaeger: Jaeger, absent: str | dict[str, str],
                                            later: str) -> None:
    """Each service's SDK exports spans in the order they end, and a wait returns a trace
    only once it has settled (the collector and Jaeger have passed on every span they had
    accepted): once the later trace is there, `absent` would be too, had it been recorded.
    `absent`: one trace id, or trace ids by what each stands for (named on failure)."""
    jaeger.wait_for_trace(later, complete, "the later, sampled trace")
    named = {absent: absent} if isinstance(absent, str) else absent
    recorded = [what for what, trace_id in named.items() if jaeger.get_trace(trace_id)]
    assert not recorded, f"recorded, though they should not be: {recorded}"


def test_children_follow_the_callers_sampling_decision(gateway: httpx.Client,
                                                       jaeger: Jaeger) -> None:
    sid = gateway.post("/api/sessions", json={"user_id": "s", "mode": "dating"}
                       ).json()["session_id"]
    not_sampled, sampled = uuid.uuid4().hex, uuid.uuid4().hex
    gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT,
                 headers=_traceparent(not_sampled, False))
    gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT,
                 headers=_traceparent(sampled, True))
    # Not sampled by the caller: no service records anything, across all three.
    _assert_absent_once_later_trace_arrived(jaeger, not_sampled, sampled)


def test_health_probes_make_no_traces(gateway: httpx.Client, jaeger: Jaeger,
                                      endpoints: Endpoints) -> None:
    """docs/instrumenting-a-service.md: `OTEL_PYTHON_FASTAPI_EXCLUDED_URLS=healthz`, no
    traces for health probes, even a probe that arrives with a sampled `traceparent`."""
    # In compose only the gateway is published; locally every service is probed.
    probed = ["gateway"] if stack_mode() == "compose" else sorted(SERVICES)
    probes = {name: uuid.uuid4().hex for name in probed}
    for name, trace_id in probes.items():
        response = httpx.get(f"{endpoints.service(name)}/healthz",
                             headers=_traceparent(trace_id, True), timeout=5)
        assert response.status_code == 200, (name, response.text)
    sid = gateway.post("/api/sessions", json={"user_id": "h", "mode": "dating"}
                       ).json()["session_id"]
    later = uuid.uuid4().hex
    assert gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT,
                        headers=_traceparent(later, True)).status_code == 200
    _assert_absent_once_later_trace_arrived(
        jaeger, {f"{name} /healthz": trace_id for name, trace_id in probes.items()}, later)


@pytest.fixture
def gateway_ratio_zero() -> Iterator[None]:
    restart_with(["gateway", "session", "feedback"], {"OTEL_TRACES_SAMPLER_ARG": "0"})
    try:
        yield
    finally:
        restart_with(["gateway", "session", "feedback"], {})


def test_sampling_ratio_zero_and_one(gateway: httpx.Client, jaeger: Jaeger,
                                     gateway_ratio_zero: None) -> None:
    sid = gateway.post("/api/sessions", json={"user_id": "s", "mode": "dating"}
                       ).json()["session_id"]
    # Ratio 0: a request that starts a trace is not recorded...
    dropped = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    assert dropped.status_code == 200
    dropped_id = dropped.headers["x-trace-id"]  # ids exist even when not recorded
    # ...but a caller's sampled decision still wins (parent-based).
    kept = uuid.uuid4().hex
    gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT,
                 headers=_traceparent(kept, True))
    _assert_absent_once_later_trace_arrived(jaeger, dropped_id, kept)


def test_sampling_ratio_one_records_every_root(gateway: httpx.Client, jaeger: Jaeger) -> None:
    ids = [traffic(gateway, 1) for _ in range(5)]
    for trace_id in ids:
        jaeger.wait_for_trace(trace_id, lambda t: SERVICES <= t.services, "every trace")


@pytest.fixture(params=["0", "100"], ids=["share 0%", "share 100%"])
def tail_sampling(request: pytest.FixtureRequest) -> Iterator[int]:
    restart_with(["otel-collector"], {"COLLECTOR_SAMPLING": "tail",
                                      "TAIL_SAMPLING_PERCENT": request.param,
                                      "TAIL_SAMPLING_SLOW_MS": "400"})
    try:
        yield int(request.param)
    finally:
        restart_with(["otel-collector"], {})


def _tail_decisions() -> float:
    """Traces the tail sampler has decided on (kept or dropped) since the collector started."""
    return collector_metric("otelcol_processor_tail_sampling_global_count_traces_sampled")


def _gateway_server_calls() -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in exporter_metrics().splitlines()
               if line.startswith("traces_span_metrics_calls_total{")
               and 'service_name="gateway"' in line and "SPAN_KIND_SERVER" in line)


def test_tail_sampling_keeps_errors_slow_traces_and_its_share(
    gateway: httpx.Client, jaeger: Jaeger, tail_sampling: int
) -> None:
    calls_before = _gateway_server_calls()
    sid = gateway.post("/api/sessions", json={"user_id": "tail", "mode": "presentation"}
                       ).json()["session_id"]
    fast_ok = [gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
               for _ in range(4)]
    error = gateway.get("/api/sessions/" + "0" * 32)
    assert error.status_code == 404
    gateway.put("/admin/scenarios/pool_of_one",
                json={"enabled": True, "params": {"scorer_ms": 500}})
    try:
        slow = gateway.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
    finally:
        gateway.put("/admin/scenarios/pool_of_one", json={"enabled": False})
    traces = 1 + len(fast_ok) + 1 + 1 + 2  # + the two admin calls' traces
    # Every trace decided (a count, not a wait for time to pass), then read Jaeger.
    poll(lambda: _tail_decisions() >= traces, f"tail-sampling decisions on {traces} traces")
    jaeger.wait_for_trace(error.headers["x-trace-id"], lambda t: bool(t.spans),
                          "the error trace (kept by the status_code policy)", 20)
    jaeger.wait_for_trace(slow.headers["x-trace-id"], lambda t: bool(t.spans),
                          "the slow trace (kept by the latency policy)", 20)
    kept = [jaeger.get_trace(r.headers["x-trace-id"]) is not None for r in fast_ok]
    assert kept == [tail_sampling == 100] * len(fast_ok), kept
    # Span metrics see every span, before sampling: RED metrics do not shrink with it.
    sent = 1 + len(fast_ok) + 1 + 1 + 2
    poll(lambda: _gateway_server_calls() - calls_before >= sent,
         f"span metrics counting all {sent} gateway requests")
    assert _gateway_server_calls() - calls_before == sent


# --- make doctor -----------------------------------------------------------------------------

def doctor(**env: str) -> subprocess.CompletedProcess[str]:
    # A bare environment (no PATH) but the stack's coordinates: which mode, which engine
    # and which images (the doctor asks compose about the unpublished services).
    stack = {k: os.environ[k] for k in ("STACK", "DOCKER_HOST", "IMAGES") if k in os.environ}
    return subprocess.run([sys.executable, "-m", "stackctl.doctor"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "", **stack, **env})


def doctor_line(result: subprocess.CompletedProcess[str], text: str) -> str:
    """The one line of the doctor's report that holds `text` (with its ✓, ✗ or !)."""
    lines = [line.strip() for line in result.stdout.splitlines() if text in line]
    assert len(lines) == 1, f"{text!r} in {len(lines)} lines of:\n{result.stdout}"
    return lines[0]


def test_doctor_on_a_healthy_stack(gateway: httpx.Client) -> None:
    traffic(gateway, 1)
    result = doctor()
    assert result.returncode == 0, result.stdout
    assert "all hops healthy" in result.stdout
    assert "probe trace" in result.stdout and "complete in Jaeger" in result.stdout
    # Both zPages the troubleshooting guide points at (docs/troubleshooting.md).
    assert doctor_line(result, "collector zPages answer (servicez, pipelinez at").startswith("✓")


def test_doctor_names_a_stopped_jaeger_and_the_queue_that_does_not_drain(
        gateway: httpx.Client) -> None:
    """The collector retries a batch for minutes before it counts its spans failed: with
    Jaeger down, "0 failed" must not pass for a healthy hop while batches wait."""
    stop_service("jaeger")
    try:
        traffic(gateway, 3)
        # Spans sent now wait in the collector: batches queued, or taken and retried.
        poll(lambda: collector_metric("otelcol_exporter_queue_size")
             + collector_metric("otelcol_exporter_in_flight_requests") > 0,
             "batches waiting in the collector for the stopped Jaeger")
        result = doctor()
    finally:
        start_service("jaeger")
    assert result.returncode == 1, result.stdout
    assert doctor_line(result, "Jaeger's query API does not answer at").startswith("✗")
    queue = doctor_line(result, "waiting in the queue")
    assert queue.startswith("✗") and "failed" in queue and "none sent in" in queue, queue
    assert "the collector cannot reach Jaeger" in result.stdout
    assert "probe trace" in result.stdout and "not complete" in result.stdout


def test_doctor_on_an_empty_pipeline_says_nothing_was_sent_yet() -> None:
    """A collector and a Jaeger that were just (re)started, with no traffic yet: 0 spans
    received and no service known are named as such, and the probe then goes through."""
    # The collector's queue is on disk: what waits in it now would reach the new Jaeger.
    poll(lambda: collector_metric("otelcol_exporter_queue_size")
         + collector_metric("otelcol_exporter_in_flight_requests") == 0,
         "the collector's queue to Jaeger to be empty", deadline_s=60)
    stop_service("otel-collector")
    try:
        stop_service("jaeger")
        start_service("jaeger")
    finally:
        start_service("otel-collector")
    result = doctor()
    assert result.returncode == 1, result.stdout
    assert doctor_line(result, "collector has received 0 spans").startswith("✗")
    missing = ", ".join(TOPOLOGY_SERVICES)
    assert f"no trace from {missing} yet" in result.stdout
    assert doctor_line(result, "probe trace").startswith("✓")


def test_doctor_names_the_process_holding_a_service_port() -> None:
    """A port of the suite held by another process: the doctor names that process. The
    doctor is pointed at a port this test holds (GATEWAY_URL, as for a stack elsewhere),
    so the running stack is left alone."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        result = doctor(GATEWAY_URL=url)
    assert result.returncode == 1, result.stdout
    assert doctor_line(result, f"gateway does not answer /healthz at {url}").startswith("✗")
    assert f"port is held by pid {os.getpid()} (" in result.stdout, result.stdout
    assert "not by the gateway service" in result.stdout


def test_doctor_names_a_stopped_collector() -> None:
    stop_service("otel-collector")
    try:
        result = doctor()
    finally:
        start_service("otel-collector")
    assert result.returncode == 1, result.stdout
    assert "the OpenTelemetry Collector is not running" in result.stdout
    assert "probe trace" in result.stdout and "not complete" in result.stdout
