"""Compose and local mode must describe the same stack (issue: one source of truth).

The first test checks the real files. The others edit one side alone, in a copy, and
show that the check catches it.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from stackctl import local as stack
from tests.infra.drift import check


@pytest.fixture(scope="module")
def model() -> dict:
    return stack.compose_model()


def problems_of(model: dict) -> list[str]:
    return check(model, stack.to_local(model))


def test_compose_and_local_mode_agree(model: dict) -> None:
    assert problems_of(model) == []


def test_local_mode_runs_the_compose_commands_and_environment(model: dict) -> None:
    programs = {p.name: p for p in stack.to_local(model)}
    assert set(programs) == set(model["services"])
    for name, svc in model["services"].items():
        local = programs[name]
        assert set(local.environment) == set(svc.get("environment") or {}), name
        # Same arguments, after only the documented container -> host mapping.
        compose_args = [str(a) for a in svc["command"]]
        extra = len(local.command) - len(compose_args)  # 1: x-local-programs' program
        assert extra in (0, 1), name
        local_value = stack.local_mapper(model)
        # Counted from the front: a one-word command (rabbitmq's) has no arguments, and
        # `[-0:]` would be the whole list.
        assert local.command[extra + 1:] == [local_value(a) for a in compose_args[1:]], name
        # Except what only the local binary needs (`x-local-programs.<name>.environment`:
        # the Jaeger UI's assets, which the image embeds).
        local_only = (model.get("x-local-programs", {}).get(name) or {}).get("environment") or {}
        for key, value in (svc.get("environment") or {}).items():
            if key not in local_only:
                assert local.environment[key] == local_value(str(value)), (name, key)


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
