"""Where the stack under test is, and how to stop and start one of its services.

The end-to-end tests take every URL from stackctl.settings.endpoints() (the environment,
defaults from .env), so the same suite runs against local processes (`make test`) and
against the compose stack (the GitHub workflow sets STACK=compose).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile

from stackctl import compose
from stackctl.collector_metrics import collector_metric  # noqa: F401  (re-exported for tests)
from stackctl.local import rss_mb as rss_mb_of
from stackctl.local import supervisorctl
from stackctl.settings import ROOT, Endpoints, dotenv, endpoints, setting  # noqa: F401


def stack_mode() -> str:
    return os.environ.get("STACK", "local")


def _compose(*args: str) -> list[str]:
    return compose.command(*args)


def _run(args: list[str]) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=compose.environment())
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def stop_service(name: str) -> None:
    if stack_mode() == "compose":
        _run(_compose("stop", name))
    else:
        _run([sys.executable, "-m", "stackctl.local", "stop", name])


def _rejoin_collector_namespace(services: list[str]) -> None:
    """Prometheus runs in the collector's network namespace (docker-compose.yml); a
    collector container started again gets a new one, which Prometheus joins only when
    it starts again too (until then it is unreachable, and Jaeger's Monitor tab empty).
    Recreated, not restarted: a collector recreated with other settings (restart_with)
    is a new container, and `restart` fails on the old one's id (seen in CI)."""
    if "otel-collector" in services:
        _run(_compose("up", "--detach", "--wait", "--force-recreate", "--no-deps",
                      "prometheus"))


def start_service(name: str) -> None:
    """Start a stopped service and return once it is healthy."""
    if stack_mode() == "compose":
        _run(_compose("up", "--detach", "--wait", "--no-recreate", name))
        _rejoin_collector_namespace([name])
    else:
        _run([sys.executable, "-m", "stackctl.local", "start", name])


def _signal(name: str, signum: int) -> None:
    os.kill(int(supervisorctl("pid", name).stdout.strip()), signum)


def pause_service(name: str) -> None:
    """Freeze a service: its port still accepts connections, and it never answers (a hung
    process, unlike a stopped one, whose port refuses at once)."""
    if stack_mode() == "compose":
        _run(_compose("pause", name))
    else:
        _signal(name, signal.SIGSTOP)


def resume_service(name: str) -> None:
    if stack_mode() == "compose":
        _run(_compose("unpause", name))
    else:
        _signal(name, signal.SIGCONT)


def collector_file(name: str) -> str:
    """A file from the collector's data folder (the local folder, or the compose volume)."""
    if stack_mode() == "compose":
        # The collector image has no shell or cat: copy the file out (a tar stream).
        out = subprocess.run(_compose("cp", f"otel-collector:/var/lib/otelcol/{name}", "-"),
                             env=compose.environment(),
                             cwd=ROOT, capture_output=True, timeout=60)
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            return member.read().decode() if member else ""
    path = ROOT / "var" / "collector-data" / name
    return path.read_text() if path.exists() else ""


def restart_with(services: list[str], env: dict[str, str]) -> None:
    """Restart services with extra environment (compose interpolation picks it up), and
    return once they are healthy. Call again with {} to restore the defaults."""
    full_env = {**os.environ, **env}
    for key in ("OTEL_TRACES_SAMPLER_ARG", "COLLECTOR_SAMPLING", "TAIL_SAMPLING_PERCENT",
                "TAIL_SAMPLING_SLOW_MS"):
        if key not in env:
            full_env.pop(key, None)
    if stack_mode() == "compose":
        args = _compose("up", "--detach", "--wait", *services)
    else:
        args = [sys.executable, "-m", "stackctl.local", "restart", *services]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env=compose.environment(full_env) if stack_mode() == "compose"
                            else full_env)
    if result.returncode != 0:
        raise RuntimeError(f"restart of {services} failed:\n{result.stdout}\n{result.stderr}")
    if stack_mode() == "compose":
        _rejoin_collector_namespace(services)


def service_log(name: str) -> str:
    """Everything the service wrote to stdout/stderr (local log file, or compose logs)."""
    if stack_mode() == "compose":
        return subprocess.run(_compose("logs", "--no-color", name), cwd=ROOT,
                              env=compose.environment(),
                              capture_output=True, text=True, timeout=60).stdout
    path = ROOT / "var" / "log" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def rss_mb(name: str) -> float:
    """Resident memory of a service's process, from /proc in both modes: a container's
    process is a process of this machine too (its pid from `docker inspect`). Not
    `docker stats`: that is the container's cgroup usage, page cache and tmpfs included,
    which moved by 3.3 MB in a run where the process did not leak."""
    if stack_mode() == "compose":
        pid = subprocess.run(["docker", "inspect", "--format", "{{.State.Pid}}",
                              f"haptitalk-{name}"], capture_output=True, text=True,
                             timeout=60).stdout.strip()
    else:
        pid = supervisorctl("pid", name).stdout.strip()
    return rss_mb_of(int(pid))
