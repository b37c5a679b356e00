"""Checks that compose and local mode describe the same stack (run by test_drift.py, beside it).

Local mode is *derived* from the compose model; what the derivation must produce is held
to a table written by hand (test_drift.py's LOCAL_MODE), not to the mapping itself. What
can still drift is everything around that derivation:

- a config file reads `${env:NAME}` that the compose service does not set: the file's
  default then applies silently, and compose and local differ from what .env says;
- a published port that the process does not listen on (the port in `ports:` but not in
  the command or environment);
- a command that names a container path no volume mounts (a config file that exists in
  one mode only);
- a container-only address (a service hostname, 0.0.0.0, a container path) left in what
  local mode runs;
- a service without a healthcheck (local mode waits on the same URL compose probes).
"""

from __future__ import annotations

import re
from pathlib import Path

from stackctl.local import Program

ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-[^}]*)?\}")


def config_env_refs(path: Path) -> set[str]:
    return set(ENV_REF.findall(path.read_text()))


def _scrape_targets(name: str, svc: dict, config: Path, services: dict) -> list[str]:
    """Prometheus config cannot read the environment, so its targets are checked here:
    each localhost port it scrapes must be one the host service is configured with."""
    host = (svc.get("network_mode") or "").removeprefix("service:")
    host_env = {str(v) for v in (services.get(host, {}).get("environment") or {}).values()}
    return [
        f"{name}: prometheus.yml scrapes localhost:{port}, which {host or 'no service'} "
        "is not configured to serve"
        for port in re.findall(r"localhost:(\d+)", config.read_text())
        if port not in host_env
    ]


def check(model: dict, programs: list[Program]) -> list[str]:
    problems: list[str] = []
    services = model["services"]
    for name, svc in services.items():
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        command = [str(a) for a in svc.get("command") or []]
        mounts = {v["target"]: v for v in svc.get("volumes", [])}

        for vol in mounts.values():
            if vol["type"] != "bind":
                continue
            source = Path(vol["source"])
            if not source.exists():
                problems.append(f"{name}: mounted file {source} does not exist")
                continue
            configs = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
            for config in configs:
                if config.suffix not in (".yaml", ".yml"):
                    continue
                for ref in sorted(config_env_refs(config) - set(env)):
                    problems.append(
                        f"{name}: {config.name} reads ${{env:{ref}}} but the compose "
                        "service does not set it")
            if source.name == "prometheus.yml":
                problems += _scrape_targets(name, svc, source, services)
        for arg in command:
            path = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
            if path.startswith("/") and not any(
                path == t or path.startswith(t + "/") for t in mounts
            ):
                problems.append(f"{name}: command uses {path}, which no volume mounts")

        # Services in this one's network namespace (network_mode: service:<name>) listen
        # on its published ports too.
        guests = [g for g in services.values() if g.get("network_mode") == f"service:{name}"]
        for guest in guests:
            command = command + [str(a) for a in guest.get("command") or []]
        listening = " ".join(command + list(env.values()))
        for port in svc.get("ports", []):
            target = str(port["target"])
            if not re.search(rf"(?<!\d){target}(?!\d)", listening):
                problems.append(
                    f"{name}: publishes port {target} but neither its command nor its "
                    "environment mentions it")

        if not (svc.get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: no healthcheck")

    hostnames = set(services)
    container_paths = {v["target"] for s in services.values() for v in s.get("volumes", [])}
    for program in programs:
        if program.health_url is None:
            problems.append(f"{program.name}: local mode has no health URL to wait on")
        values = [*program.command, *program.environment.values()]
        for value in values:
            if "0.0.0.0" in value:
                problems.append(f"{program.name}: local mode would listen on 0.0.0.0 ({value})")
            for host in hostnames:
                if re.search(rf"(?<![\w.-]){re.escape(host)}:\d+", value):
                    problems.append(
                        f"{program.name}: local mode keeps container hostname {host} ({value})")
            for path in container_paths:
                if re.search(rf"(^|=){re.escape(path)}(/|$)", value):
                    problems.append(
                        f"{program.name}: local mode keeps container path {path} ({value})")
    return problems
