"""The compose stack is locked down, checked on the resolved model (`docker-compose config`).

- only the gateway, the Jaeger UI, the OTLP receivers and the metrics/debug/health ports are
  published, all bound to BIND_ADDRESS (127.0.0.1 by default); session and feedback are not;
- every container: no-new-privileges, all capabilities dropped, a read-only root
  filesystem, a memory limit, a healthcheck; images pinned to a version;
- the services' image runs as uid 10001; the collector's OTLP HTTP receiver allows
  CORS from the gateway's origin only; no secrets in the repository.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from stackctl import local as stack
from tests.support.stack import ROOT, dotenv

ENV = dotenv()
PUBLISHED = {
    "gateway": {ENV["GATEWAY_PORT"]},
    "jaeger": {ENV["JAEGER_UI_PORT"], ENV["JAEGER_TELEMETRY_PORT"]},
    "otel-collector": {ENV["OTLP_GRPC_PORT"], ENV["OTLP_HTTP_PORT"],
                       ENV["COLLECTOR_PROMETHEUS_PORT"], ENV["ZPAGES_PORT"],
                       ENV["COLLECTOR_HEALTH_PORT"], ENV["COLLECTOR_TELEMETRY_PORT"],
                       ENV["PROMETHEUS_PORT"]},
    "victorialogs": {ENV["VICTORIALOGS_PORT"]},
    # The management UI (queues, consumers, the rates); AMQP stays on the compose network.
    "rabbitmq": {ENV["RABBITMQ_MANAGEMENT_PORT"]},
    # The watch app's cue stream.
    "watch": {ENV["WATCH_PORT"]},
}


@pytest.fixture(scope="module")
def services() -> dict:
    return stack.compose_model()["services"]


def test_only_the_public_ports_are_published_and_only_on_loopback(services: dict) -> None:
    for name, svc in services.items():
        ports = svc.get("ports", [])
        assert {str(p["published"]) for p in ports} == PUBLISHED.get(name, set()), name
        for port in ports:
            assert port["host_ip"] == ENV["BIND_ADDRESS"] == "127.0.0.1", (name, port)


@pytest.mark.parametrize("name", ["jaeger", "otel-collector", "prometheus", "gateway",
                                  "session", "feedback", "rabbitmq", "watch"])
def test_every_container_is_locked_down(services: dict, name: str) -> None:
    svc = services[name]
    assert "no-new-privileges:true" in svc.get("security_opt", []), name
    assert svc.get("cap_drop") == ["ALL"], name
    assert svc.get("read_only") is True, name
    assert svc.get("mem_limit"), name
    assert svc.get("healthcheck", {}).get("test"), name
    assert svc.get("restart") == "unless-stopped", name
    # Pinned: a pulled image by its version tag; a built one by the base images it names.
    pulled = [svc["image"]] if "build" not in svc else [
        v for k, v in svc["build"].get("args", {}).items() if k.endswith("_IMAGE")]
    for image in pulled:
        assert re.search(r":[\w.-]*\d[\w.-]*$", image) and not image.endswith(":latest"), image


def test_images_run_as_uid_10001(services: dict) -> None:
    """docs/reliability.md: the services' image runs as uid 10001, the user it creates (who
    owns /data); compose does not override it. The collector's base image runs as 10001;
    ours keeps it (no USER added)."""
    text = (ROOT / "services/Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] == "10001", users
    assert re.search(r"^RUN useradd [^\n]*--uid 10001 ", text, re.M)
    for name in ("gateway", "session", "feedback", "watch"):
        assert services[name].get("user") in (None, "10001"), name
    assert "USER" not in (ROOT / "infra/collector/Dockerfile").read_text()


def test_the_broker_runs_as_its_own_user_with_no_capability(services: dict) -> None:
    """The official rabbitmq image started as root chowns its data and steps down with
    gosu (CHOWN, SETUID, SETGID); started as its own user (999) it needs none. The
    offline stand-in has the same user. Its memory hint is absolute and under the
    container's limit: a relative one reads the host's RAM."""
    broker = services["rabbitmq"]
    assert broker.get("user") == "999:999"
    assert not broker.get("cap_add")
    stand_in = (ROOT / "infra/builds/offline-images/rabbitmq.Dockerfile").read_text()
    assert re.findall(r"^USER\s+(\S+)", stand_in, re.M)[-1] == "999:999"
    conf = (ROOT / "infra/rabbitmq/rabbitmq.conf").read_text()
    hint = re.search(r"^vm_memory_high_watermark\.absolute = (\d+)MB$", conf, re.M)
    assert hint, "rabbitmq.conf: no absolute vm_memory_high_watermark"
    assert int(hint[1]) * 10**6 < int(broker["mem_limit"]) * 0.75


def test_otlp_http_cors_allows_the_gateways_origin_only() -> None:
    """docs/reliability.md: the OTLP HTTP receiver allows CORS only from the gateway's
    origin (as a browser writes it: localhost or 127.0.0.1, the gateway's port)."""
    config = yaml.safe_load((ROOT / "infra/collector/config.yaml").read_text())
    cors = config["receivers"]["otlp"]["protocols"]["http"]["cors"]
    port = f"${{env:GATEWAY_PORT:-{ENV['GATEWAY_PORT']}}}"
    assert cors["allowed_origins"] == [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]


def test_no_secrets_in_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    pattern = re.compile(
        r"(password|passwd|secret|api[_-]?key|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{8,}"
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}", re.I)
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".sum", ".png") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{name}: {m.group(0)[:40]}" for m in pattern.finditer(text)]
    assert offenders == []
