"""Compose and local mode must describe the same stack (issue: one source of truth).

The first test checks the real files. The second holds what local mode runs to
LOCAL_MODE, a table written by hand (not computed by the mapping under test). The others
edit one side alone, in a copy, and show that the check catches it.
"""

from __future__ import annotations

import copy
import re
import shutil
import sys
from pathlib import Path

import pytest

from stackctl import local as stack
from stackctl.local import Program
from stackctl.settings import ROOT, dotenv
from tests.infra.drift import check


@pytest.fixture(scope="module")
def model() -> dict:
    return stack.compose_model()


def problems_of(model: dict) -> list[str]:
    return check(model, stack.to_local(model))


def test_compose_and_local_mode_agree(model: dict) -> None:
    assert problems_of(model) == []


# What local mode must run for each compose service, written out by hand from the rule at
# the top of stackctl/local.py (not computed by the mapping under test): service hostnames
# and 0.0.0.0 become 127.0.0.1, mounted container paths the repository's files, named
# volumes folders under var/, an image's entrypoint the program x-local-programs names (a
# service's `opentelemetry-instrument`: the one beside the Python running it). `${NAME}` is
# .env's value, `${ROOT}` the checkout, `${VAR}` its var/, `${BIN}` that Python's folder.
# `changed`: the environment values that differ from compose's; every other value must
# reach the program exactly as compose has it.
OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:${OTLP_HTTP_PORT}"}
LOCAL_MODE: dict[str, dict] = {
    "jaeger": {
        "command": ["${ROOT}/.tools/jaeger-${JAEGER_VERSION}/jaeger",
                    "--config", "${ROOT}/infra/jaeger/config.yaml"],
        "health": "http://127.0.0.1:${JAEGER_HEALTH_PORT}/status",
        "changed": {"LISTEN_HOST": "127.0.0.1",
                    "JAEGER_UI_CONFIG": "${ROOT}/infra/jaeger/ui-config.json",
                    "PROMETHEUS_URL": "http://127.0.0.1:${PROMETHEUS_PORT}"},
        # x-local-programs: a build from Go modules reads the UI from .tools when it is there.
        "local_only": {"JAEGER_UI_ASSETS_PATH": "${ROOT}/.tools/jaeger-ui-${JAEGER_UI_VERSION}"},
    },
    "otel-collector": {
        "command": ["${ROOT}/.tools/otelcol-${OTELCOL_VERSION}/otelcol",
                    "--config", "${ROOT}/infra/collector/config.yaml",
                    "--config", "${ROOT}/infra/collector/sampling-${COLLECTOR_SAMPLING}.yaml"],
        "health": "http://127.0.0.1:${COLLECTOR_HEALTH_PORT}/",
        "changed": {"LISTEN_HOST": "127.0.0.1", "COLLECTOR_DATA_DIR": "${VAR}/collector-data",
                    "JAEGER_OTLP_GRPC_ENDPOINT": "127.0.0.1:${JAEGER_OTLP_GRPC_PORT}",
                    "VICTORIALOGS_ENDPOINT": "http://127.0.0.1:${VICTORIALOGS_PORT}"},
    },
    "victorialogs": {
        "command": ["${ROOT}/.tools/victorialogs-${VICTORIALOGS_VERSION}/victorialogs",
                    "--httpListenAddr=127.0.0.1:${VICTORIALOGS_PORT}",
                    "--storageDataPath=${VAR}/victorialogs-data",
                    "--retentionPeriod=${VICTORIALOGS_RETENTION}",
                    "--memory.allowedBytes=${VICTORIALOGS_MEMORY}"],
        "health": "http://127.0.0.1:${VICTORIALOGS_PORT}/health",
    },
    "prometheus": {
        "command": ["/usr/bin/prometheus",
                    "--config.file=${ROOT}/infra/prometheus/prometheus.yml",
                    "--storage.tsdb.path=${VAR}/prometheus-data",
                    "--storage.tsdb.retention.time=6h",
                    "--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}"],
        "health": "http://127.0.0.1:${PROMETHEUS_PORT}/-/ready",
    },
    "rabbitmq": {
        "command": ["${ROOT}/infra/rabbitmq/entrypoint.sh", "rabbitmq-server"],
        "health": "cmd:bash -c 'exec 3<>/dev/tcp/127.0.0.1/${RABBITMQ_PORT}'",
        "changed": {
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONFIG_FILE": "${ROOT}/infra/rabbitmq/rabbitmq.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": "${ROOT}/infra/rabbitmq/enabled_plugins",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": '-rabbitmq_management tcp_config '
                                                   '[{ip,"127.0.0.1"},{port,${RABBITMQ_MANAGEMENT_PORT}}]'
                                                   ' +S 1:1 +SDcpu 1:1 +SDio 1 +A 1 +Mea min'
                                                   ' +MMscs 0 +MMsco false',
            "RABBITMQ_MNESIA_BASE": "${VAR}/rabbitmq-data/mnesia",
            "RABBITMQ_LOG_BASE": "${VAR}/rabbitmq-data/log",
            "HOME": "${VAR}/rabbitmq-data"},
    },
    "session": {
        "command": ["${BIN}/opentelemetry-instrument", "uvicorn", "services.session.api:app",
                    "--no-access-log", "--host", "127.0.0.1", "--port", "${SESSION_PORT}"],
        "health": "http://127.0.0.1:${SESSION_PORT}/healthz",
        # SESSION_DATABASE_URL keeps `postgres:` without the profile: no such service to
        # map, and sqlite does not read it (the postgres profile below maps it).
        "changed": {**OTLP, "SESSION_DB_PATH": "${VAR}/session-data/session.db"},
    },
    "feedback": {
        "command": ["${BIN}/opentelemetry-instrument", "uvicorn", "services.feedback.api:app",
                    "--no-access-log", "--host", "127.0.0.1", "--port", "${FEEDBACK_PORT}"],
        "health": "http://127.0.0.1:${FEEDBACK_PORT}/healthz",
        "changed": {**OTLP, "SESSION_URL": "http://127.0.0.1:${SESSION_PORT}",
                    "BROKER_URL": "amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT}/"},
    },
    "gateway": {
        "command": ["${BIN}/opentelemetry-instrument", "uvicorn", "services.gateway.api:app",
                    "--no-access-log", "--host", "127.0.0.1", "--port", "${GATEWAY_PORT}"],
        "health": "http://127.0.0.1:${GATEWAY_PORT}/healthz",
        "changed": {**OTLP, "SESSION_URL": "http://127.0.0.1:${SESSION_PORT}",
                    "FEEDBACK_URL": "http://127.0.0.1:${FEEDBACK_PORT}"},
    },
    "watch": {
        "command": ["${BIN}/opentelemetry-instrument", "uvicorn", "services.watch.api:app",
                    "--no-access-log", "--host", "127.0.0.1", "--port", "${WATCH_PORT}"],
        "health": "http://127.0.0.1:${WATCH_PORT}/healthz",
        "changed": {**OTLP, "BROKER_URL": "amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT}/"},
    },
}
# SESSION_DB=postgres (compose profile `postgres`): PostgreSQL joins, and session reaches it.
WITH_POSTGRES: dict[str, dict] = {
    "postgres": {
        "command": ["${ROOT}/infra/postgres/entrypoint.sh", "postgres",
                    "-c", "listen_addresses=127.0.0.1", "-p", "${POSTGRES_PORT}"],
        "health": "cmd:pg_isready -h 127.0.0.1 -p ${POSTGRES_PORT} -U haptitalk",
        "changed": {"PGDATA": "${VAR}/postgres-data/pgdata"},
    },
    "session": {**LOCAL_MODE["session"], "changed": {
        **LOCAL_MODE["session"]["changed"],
        "SESSION_DATABASE_URL": "postgresql://haptitalk@127.0.0.1:${POSTGRES_PORT}/haptitalk"}},
}


def local_mode_differences(services: dict, programs: list[Program], expected: dict,
                           values: dict[str, str]) -> list[str]:
    """Where what local mode runs differs from `expected` (LOCAL_MODE's form, `${NAME}`
    filled from `values`); every environment value `changed` leaves out must equal
    compose's."""
    def fill(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)

    got = {p.name: p for p in programs}
    problems = [f"local mode runs {sorted(got)}, expected {sorted(expected)}"
                ] if set(got) != set(expected) else []
    for name in sorted(set(got) & set(expected)):
        program, want = got[name], expected[name]
        command = [fill(a) for a in want["command"]]
        if program.command != command:
            problems.append(f"{name}: runs {program.command}, expected {command}")
        if program.health_url != fill(want["health"]):
            problems.append(f"{name}: waits on {program.health_url}, expected "
                            f"{fill(want['health'])}")
        compose_env = {k: str(v) for k, v in (services[name].get("environment") or {}).items()}
        changed = {k: fill(v) for k, v in want.get("changed", {}).items()}
        local_only = {k: fill(v) for k, v in want.get("local_only", {}).items()}
        for key in sorted(set(compose_env) | set(program.environment) | set(changed)):
            value = program.environment.get(key)
            allowed = {changed.get(key, compose_env.get(key)), local_only.get(key)} - {None}
            if value not in allowed:
                problems.append(f"{name}: {key}={value!r} in local mode, expected "
                                f"{' or '.join(map(repr, sorted(allowed))) or 'unset'} "
                                f"(compose: {compose_env.get(key)!r})")
    return problems


@pytest.mark.parametrize("profile", ["", "postgres"])
def test_local_mode_runs_what_the_table_says(profile: str) -> None:
    """Local mode against LOCAL_MODE, the hand-written table above, with .env's values as
    they are in the file (the environment of this run cannot move them)."""
    env = dotenv()
    model = stack.compose_model({**env, "COMPOSE_PROFILES": profile})
    expected = {**LOCAL_MODE, **(WITH_POSTGRES if profile else {})}
    values = {**env, "ROOT": str(ROOT), "VAR": str(ROOT / "var"),
              "BIN": str(Path(sys.executable).parent)}
    problems = local_mode_differences(model["services"], stack.to_local(model), expected,
                                      values)
    assert problems == [], "\n".join(problems)


def test_config_reading_an_unset_variable_is_drift(model: dict, tmp_path: Path) -> None:
    edited = copy.deepcopy(model)
    (mount,) = [v for v in edited["services"]["otel-collector"]["volumes"]
                if v["target"] == "/etc/otelcol"]
    copied = tmp_path / "collector"
    shutil.copytree(mount["source"], copied)
    config = copied / "config.yaml"
    config.write_text(config.read_text() + "\n# ${env:NEW_PORT_ONLY_IN_THE_FILE}\n")
    mount["source"] = str(copied)
    assert problems_of(edited) == [
        "otel-collector: config.yaml reads ${env:NEW_PORT_ONLY_IN_THE_FILE} but the "
        "compose service does not set it"]


def test_prometheus_scraping_a_port_the_collector_does_not_serve_is_drift(
    model: dict
) -> None:
    edited = copy.deepcopy(model)
    edited["services"]["otel-collector"]["environment"]["COLLECTOR_PROMETHEUS_PORT"] = "9889"
    problems = problems_of(edited)
    assert ("prometheus: prometheus.yml scrapes localhost:8889, which otel-collector is not "
            "configured to serve") in problems


def test_port_published_but_not_listened_on_is_drift(model: dict) -> None:
    edited = copy.deepcopy(model)
    command = edited["services"]["gateway"]["command"]
    command[command.index("--port") + 1] = "9999"
    problems = problems_of(edited)
    assert any("gateway: publishes port" in p for p in problems), problems


def test_config_path_not_mounted_is_drift(model: dict) -> None:
    edited = copy.deepcopy(model)
    edited["services"]["jaeger"]["command"] = ["--config", "/etc/jaeger/other.yaml"]
    problems = problems_of(edited)
    assert "jaeger: command uses /etc/jaeger/other.yaml, which no volume mounts" in problems


def test_missing_healthcheck_is_drift(model: dict) -> None:
    edited = copy.deepcopy(model)
    del edited["services"]["feedback"]["healthcheck"]
    problems = problems_of(edited)
    assert "feedback: no healthcheck" in problems
    assert "feedback: local mode has no health URL to wait on" in problems
