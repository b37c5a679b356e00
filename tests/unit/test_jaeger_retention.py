"""Jaeger's retention, visible (issue 20, item 7): its memory store keeps the newest
JAEGER_MAX_TRACES traces and answers a search deeper than that with a 500, so

- the client (stackctl/jaeger.py) keeps every `limit` it sends below the bound;
- `make load`'s summary links only traces Jaeger still holds, and says when the run
  made more traces than Jaeger keeps;
- `make trace` of an evicted id says so in one line and exits non-zero;
- `make slowest` asks for no more than Jaeger keeps.

Against a real Jaeger: the binary `make tools` installs, with infra/jaeger/config.yaml,
started here on free loopback ports with a bound of 20 traces (the shared stack is never
asked), then sent more traces than it keeps, in three rounds, each stored (Jaeger's own
counter) before the next: within one batch the store's order is not the sending order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.text import Text

from loadtest.run import trace_lines
from stackctl.collector_metrics import JAEGER_STORE, metric_sum
from stackctl.jaeger import Jaeger
from stackctl.tools import binary
from stackctl.wait import wait_until
from tests.support.otlp import post_span
from tests.support.ports import free_ports
from tests.support.stack import ROOT, dotenv

MAX_TRACES = 20
SERVICE = "retention-probe"
EVICTED_LINE = ("not in Jaeger: evicted (it keeps the newest 20 traces) or not exported "
                "yet")


@dataclass(frozen=True)
class PrivateJaeger:
    client: Jaeger  # told the bound, as JAEGER_MAX_TRACES=20 would tell it
    url: str
    old: list[str]  # sent first, then 28 newer: evicted
    newest: list[str]  # sent last: held


def new_ids(n: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(n)]


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateJaeger]:
    program = binary("jaeger")
    if not program.exists():
        pytest.fail(f"{program.relative_to(ROOT)} is not installed: run `make tools`")
    names = ("JAEGER_UI_PORT", "JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT",
             "JAEGER_HEALTH_PORT", "JAEGER_TELEMETRY_PORT", "JAEGER_QUERY_GRPC_PORT")
    *numbers, prometheus = free_ports(len(names) + 1)
    ports = {name: str(number) for name, number in zip(names, numbers, strict=True)}
    env = {**os.environ, **ports, "LISTEN_HOST": "127.0.0.1",
           "JAEGER_MAX_TRACES": str(MAX_TRACES), "JAEGER_UI_ASSETS_PATH": "",
           "JAEGER_UI_CONFIG": "", "PROMETHEUS_URL": f"http://127.0.0.1:{prometheus}"}
    log = tmp_path_factory.mktemp("jaeger") / "jaeger.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(program), "--config",
                                 str(ROOT / "infra/jaeger/config.yaml")],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    health = f"http://127.0.0.1:{ports['JAEGER_HEALTH_PORT']}/status"
    telemetry = f"http://127.0.0.1:{ports['JAEGER_TELEMETRY_PORT']}/metrics"
    otlp = f"http://127.0.0.1:{ports['JAEGER_OTLP_HTTP_PORT']}"
    url = f"http://127.0.0.1:{ports['JAEGER_UI_PORT']}"

    def answers(address: str) -> bool:
        try:
            return httpx.get(address, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stored() -> float:
        return metric_sum(httpx.get(telemetry, timeout=2).text,
                          "otelcol_exporter_sent_spans", exporter=JAEGER_STORE)

    def send(ids: list[str]) -> None:
        before = stored()
        for trace_id in ids:
            post_span(trace_id, trace_id[:16], service=SERVICE, otlp_http=otlp)
        wait_until(lambda: stored() >= before + len(ids),
                   f"Jaeger to store {len(ids)} spans", 20, seen=lambda: str(stored()))

    try:
        wait_until(lambda: proc.poll() is not None or (answers(health) and answers(url)),
                   "the private Jaeger to answer", 30)
        assert proc.poll() is None, log.read_text()[-2000:]
        old, newest = new_ids(3), new_ids(3)
        send(old)
        send(new_ids(25))
        send(newest)
        yield PrivateJaeger(Jaeger(url, max_traces=MAX_TRACES), url, old, newest)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_jaeger_refuses_a_deeper_search_and_the_client_never_asks_one(
        jaeger: PrivateJaeger) -> None:
    for trace_id in jaeger.old:
        assert jaeger.client.get_trace(trace_id) is None, "sent before 28 newer: evicted"
    deeper = httpx.get(f"{jaeger.url}/api/traces",
                       params={"service": SERVICE, "limit": MAX_TRACES + 1}, timeout=5)
    assert deeper.status_code == 500 and "less than max traces" in deeper.text
    # Jaeger's own default (100) is deeper than this store too.
    assert httpx.get(f"{jaeger.url}/api/traces", params={"service": SERVICE},
                     timeout=5).status_code == 500
    for asked in ({"limit": 1000}, {}):
        found = jaeger.client.find_traces(SERVICE, lookback="1h", **asked)
        assert len(found) == MAX_TRACES - 1, asked
    assert jaeger.client.search_limit(10**6) < MAX_TRACES


def test_the_bound_is_jaeger_max_traces_from_the_environment_or_env(
        jaeger: PrivateJaeger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAEGER_MAX_TRACES", str(MAX_TRACES))
    assert Jaeger(jaeger.url).max_traces == MAX_TRACES
    monkeypatch.delenv("JAEGER_MAX_TRACES")
    assert Jaeger(jaeger.url).max_traces == int(dotenv()["JAEGER_MAX_TRACES"])


def plain(line: str) -> str:
    return Text.from_markup(line).plain


def test_the_load_summary_links_only_held_traces_and_says_the_run_made_more(
        jaeger: PrivateJaeger) -> None:
    slow = [{"name": "POST /api/sessions/[id]/segments", "ms": 900.0 - i, "trace_id": t}
            for i, t in enumerate(jaeger.old[:2] + jaeger.newest[:2])]
    failed = [{"name": "GET /api/sessions/[id]", "ms": 12.0, "trace_id": jaeger.newest[2],
               "error": "HTTPError('503')"}]
    lines = [plain(line) for line in
             trace_lines(jaeger.client, {"slowest": slow, "failed": failed}, made=31,
                         deadline_s=2)]
    out = "\n".join(lines)
    for trace_id in jaeger.newest:
        assert jaeger.client.trace_url(trace_id) in out, out
    for trace_id in jaeger.old:
        assert trace_id not in out, out
    assert out.count("(trace not in Jaeger)") == 2, out
    made = [line for line in lines if "this run made" in line]
    assert made == ["this run made 31 traces; Jaeger keeps the newest 20 "
                    "(JAEGER_MAX_TRACES)"], out
    assert len(made[0]) <= 80
    # A run within the bound: no such line.
    within = trace_lines(jaeger.client, {"slowest": slow[2:], "failed": []}, made=20,
                         deadline_s=2)
    assert not any("this run made" in line for line in within), within


def make(*args: str, jaeger: PrivateJaeger) -> subprocess.CompletedProcess[str]:
    """A make target as a user types it, at 80 columns, against the private Jaeger."""
    # VENV: the Python running these tests (in a copy of the tree without a .venv, as
    # test_scenarios_confined makes, `make` would otherwise install a new one first).
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "--no-print-directory", f"VENV={venv}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80", "JAEGER_URL": jaeger.url,
                               "JAEGER_MAX_TRACES": str(MAX_TRACES)})


def test_make_trace_of_an_evicted_id_says_so_in_one_line_and_fails(
        jaeger: PrivateJaeger) -> None:
    result = make(f"ID={jaeger.old[0]}", "trace", jaeger=jaeger)
    assert result.returncode != 0, result.stdout
    assert result.stdout.splitlines() == [EVICTED_LINE], result.stdout
    assert len(EVICTED_LINE) <= 80
    held = make(f"ID={jaeger.newest[0]}", "trace", jaeger=jaeger)
    assert held.returncode == 0, held.stdout + held.stderr
    assert held.stdout.splitlines()[-1] == jaeger.client.trace_url(jaeger.newest[0])


def test_make_slowest_searches_no_deeper_than_jaeger_keeps(jaeger: PrivateJaeger) -> None:
    result = make("slowest", "N=8", f"SERVICE={SERVICE}", jaeger=jaeger)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert (f"of the newest {MAX_TRACES - 1} Jaeger holds; it keeps {MAX_TRACES} traces "
            "in all (JAEGER_MAX_TRACES)") in lines, result.stdout
    linked = re.findall(r"/trace/([0-9a-f]{32})$", result.stdout, re.MULTILINE)
    assert len(linked) == 8, result.stdout
    assert not set(linked) & set(jaeger.old)
    assert all(jaeger.client.get_trace(t) is not None for t in linked)


def test_no_tool_sends_a_limit_but_through_the_client() -> None:
    """Every search goes through Jaeger.find_traces (the clamp): no other code of ours
    builds a /api/traces search with a limit of its own."""
    search = re.compile(r"/api/traces[\"'?]")  # the search, not /api/traces/<id>
    offenders = [str(path.relative_to(ROOT))
                 for folder in ("stackctl", "loadtest", "bench", "tests/support", "tests/e2e")
                 for path in sorted((ROOT / folder).rglob("*.py"))
                 if path != ROOT / "stackctl/jaeger.py" and search.search(path.read_text())]
    assert not offenders, offenders
