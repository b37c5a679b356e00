"""What `make up` (local mode: stackctl.local) says when a program cannot do its job,
run for real on a private copy of the runner's state, never the shared stack's:

- a bad collector config makes the collector exit at once, and `make up` names it and
  prints the tail of its log (docs/troubleshooting.md, "Collector problems");
- without the Jaeger UI's assets, Jaeger still starts and serves its placeholder page
  (the query API works), and `make up` says so and how to fix it (README, "Jaeger UI").

Each test gives the runner its own supervisord (folders under a short temporary path:
a unix socket path is limited to 107 bytes) and stops it afterwards; the Jaeger one
listens on free ports, so a stack that is up is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackctl import local
from stackctl.jaeger_ui import PLACEHOLDER_TEXT
from stackctl.tools import binary
from stackctl.wait import wait_until
from tests.support.ports import free_ports
from tests.support.stack import ROOT, dotenv

ENV = dotenv()
OTELCOL = binary("otelcol")
JAEGER = binary("jaeger")


def _require(binary: Path) -> None:
    if not binary.exists():
        pytest.fail(f"{binary.relative_to(ROOT)} is not built: run `make tools`")


@pytest.fixture
def private_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """stackctl.local with its var/ folder (supervisord's socket, pid file, logs and the
    named volumes) in a fresh temporary folder; its supervisord is shut down at the end."""
    var = Path(tempfile.mkdtemp(prefix="ht-runner-", dir="/tmp"))
    for name, path in {"VAR": var, "RUN": var / "run", "LOG": var / "log",
                       "CONF": var / "run/supervisord.conf",
                       "SOCK": var / "run/supervisor.sock",
                       "PIDFILE": var / "run/supervisord.pid"}.items():
        monkeypatch.setattr(local, name, path)
    try:
        yield var
    finally:
        local.cmd_down(None)
        assert not local.supervisord_running(), "the private supervisord is still running"
        shutil.rmtree(var)


def ports_for(monkeypatch: pytest.MonkeyPatch, *names: str) -> dict[str, str]:
    """Each port setting (.env) of a program on a free port, all different, for this
    test's copy: its health URL must not be answered by the stack that may be up."""
    ports = {name: str(port) for name, port in zip(names, free_ports(len(names)),
                                                     strict=True)}
    for name, port in ports.items():
        monkeypatch.setenv(name, port)
    return ports


def test_a_bad_collector_config_is_named_with_its_log_tail(
        private_runner: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _require(OTELCOL)
    broken = private_runner / "config.yaml"
    broken.write_text((ROOT / "infra/collector/config.yaml").read_text()
                      .replace("memory_limiter:\n", "memory_limitr:\n", 1))
    assert "memory_limitr:" in broken.read_text()
    real_model = local.compose_model

    def model_with_the_broken_copy(env: dict[str, str] | None = None) -> dict:
        model = real_model(env)
        command = model["services"]["otel-collector"]["command"]
        model["services"]["otel-collector"]["command"] = [
            str(broken) if arg == "/etc/otelcol/config.yaml" else arg for arg in command]
        assert str(broken) in model["services"]["otel-collector"]["command"]
        return model

    monkeypatch.setattr(local, "compose_model", model_with_the_broken_copy)
    ports_for(monkeypatch, "OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "COLLECTOR_PROMETHEUS_PORT",
               "ZPAGES_PORT", "COLLECTOR_HEALTH_PORT", "COLLECTOR_TELEMETRY_PORT")
    started = time.monotonic()
    status = local.cmd_up(["otel-collector"])
    took = time.monotonic() - started
    out = capsys.readouterr().out
    assert status == 1, out
    # Named as a program that died, not as one that never answered (a 60 s timeout).
    assert "otel-collector  NOT HEALTHY: otel-collector exited" in out, out
    assert took < local.HEALTH_TIMEOUT_S / 2, f"{took:.1f} s: not 'at once'"
    header = "--- last lines of var/log/otel-collector.log ---"
    assert header in out, out
    tail = out.split(header, 1)[1]
    # The collector's own words about the broken key, from its log.
    assert "memory_limitr" in tail, tail

    # `make status` names it as not running, in 80 columns.
    assert local.cmd_status() == 1
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    (row,) = [line for line in out.splitlines() if line.startswith("otel-collector ")]
    assert row.split()[1] in {"FATAL", "BACKOFF", "EXITED", "STARTING"}, out


def test_without_ui_assets_jaeger_serves_its_placeholder_and_make_up_says_how_to_fix_it(
        private_runner: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _require(JAEGER)
    # A checkout whose .tools has the Jaeger binary and no UI assets.
    checkout = private_runner / "checkout"
    jaeger_dir = JAEGER.parent.relative_to(ROOT)
    (checkout / jaeger_dir).parent.mkdir(parents=True)
    (checkout / jaeger_dir).symlink_to(JAEGER.parent)
    monkeypatch.setattr(local, "ROOT", checkout)
    ports = ports_for(monkeypatch, "JAEGER_UI_PORT", "JAEGER_OTLP_GRPC_PORT",
                       "JAEGER_OTLP_HTTP_PORT", "JAEGER_HEALTH_PORT", "JAEGER_TELEMETRY_PORT",
                       "JAEGER_QUERY_GRPC_PORT")

    status = local.cmd_up(["jaeger"])
    out = capsys.readouterr().out
    assert status == 0, out
    note = " ".join(out.split())  # the note is wrapped to fit 80 columns
    assert (f"note: jaeger: .tools/jaeger-ui-{ENV['JAEGER_UI_VERSION']} missing: Jaeger "
            "serves its placeholder page, not the web UI (its API works); get the UI "
            "with `make tools`") in note, out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    ui = f"http://127.0.0.1:{ports['JAEGER_UI_PORT']}"
    page = httpx.get(f"{ui}/", timeout=5)
    assert page.status_code == 200 and PLACEHOLDER_TEXT in page.text, page.text[:300]
    api = httpx.get(f"{ui}/api/services", timeout=5)
    assert api.status_code == 200 and "data" in api.json(), api.text

    # `make status`: a row per program in 80 columns (supervisord's own lines are 83),
    # Jaeger's with its pid and our health check (the other programs were not started).
    local.cmd_status()
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    (row,) = [line for line in out.splitlines() if line.startswith("jaeger ")]
    assert re.fullmatch(r"jaeger +RUNNING +pid \d+, up [\d:]+ +healthy", row), out


def test_a_port_held_by_another_process_is_named_not_called_healthy(
        private_runner: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Something else answers the collector's health port: `make up` names the holder
    instead of taking its answer for the collector's (it once said "healthy" for a
    collector that crash-looped, because the shared stack's collector answered)."""
    _require(OTELCOL)
    ports = ports_for(monkeypatch, "OTLP_GRPC_PORT", "OTLP_HTTP_PORT",
                       "COLLECTOR_PROMETHEUS_PORT", "ZPAGES_PORT", "COLLECTOR_HEALTH_PORT",
                       "COLLECTOR_TELEMETRY_PORT")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(ports["COLLECTOR_HEALTH_PORT"])))
        holder.listen()
        status = local.cmd_up(["otel-collector"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "otel-collector NOT STARTED" in " ".join(out.split()), out
    assert (f"port {ports['COLLECTOR_HEALTH_PORT']} (otel-collector's health URL) is held "
            f"by pid {os.getpid()}") in " ".join(out.split()), out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "RUNNING" not in local.supervisorctl("status", "otel-collector").stdout


# -- memory readings: a check never compares 0 with 0 --------------------------------------

def test_a_memory_reading_of_a_live_process_is_its_resident_size() -> None:
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    vm_rss_kb = int(next(line.split()[1] for line in status.splitlines()
                         if line.startswith("VmRSS:")))
    # This process and its children (pytest has none here): within a few MB of VmRSS.
    assert abs(local.rss_mb(os.getpid()) - vm_rss_kb / 1024) < 5


def test_a_proportional_reading_counts_shared_pages_once() -> None:
    """PSS: at most the resident size; less when pages are shared. A child started from
    this interpreter shares its binary and libraries, so the pair's PSS is below the sum
    of their RSS (what made the stack's footprint overstated)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        wait_until(lambda: local.rss_mb(child.pid) > 5, "the child's memory", 10, 0.05)
        rss = local.rss_mb(child.pid)
        pss = local.pss_mb(child.pid)
        assert 0 < pss < rss, (pss, rss)
    finally:
        child.communicate(b"")


@pytest.mark.parametrize("pid", [0, -1], ids=["pid 0 (a stopped container)", "pid -1"])
@pytest.mark.parametrize("reading", ["rss_mb", "pss_mb"])
def test_no_process_is_no_reading_not_zero(pid: int, reading: str) -> None:
    with pytest.raises(local.NoMemoryReading, match="no process to measure"):
        getattr(local, reading)(pid)


def test_a_process_this_machine_cannot_read_is_no_reading_not_zero() -> None:
    """A pid of another machine (a remote DOCKER_HOST's container) or one that has exited:
    no /proc entry here."""
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    with pytest.raises(local.NoMemoryReading, match=f"/proc/{gone}/status"):
        local.rss_mb(gone)
