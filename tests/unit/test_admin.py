"""The scenario admin API (services/scenarios/admin.py) when it is on: every parameter
bounded (422 beyond), parameters only with the switch on, and a switched-off scenario
running its fixed path as shipped. Each owner's router runs alone here (no forwarding), in
an app built like the services' (create_service_app: the same error format)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services import scenarios
from services.common.app import create_service_app
from services.feedback import scorer
from services.scenarios.admin import ScenarioParams, admin_router
from services.session.models import Segment
from stackctl.sample import SEGMENT


def owner_app(service: str) -> FastAPI:
    app = create_service_app(service, "admin API under test")
    app.include_router(admin_router(service))
    return app


@pytest.fixture(autouse=True)
def switches_off() -> Iterator[None]:
    """The switches are process-wide: every test leaves them as it found them (off)."""
    yield
    for scenario in scenarios.SCENARIOS.values():
        scenario.enabled, scenario.params = False, {}


def put(name: str, enabled: bool, **params: float):
    owner = scenarios.SCENARIOS[name].owner
    with TestClient(owner_app(owner), raise_server_exceptions=False) as client:
        return client.put(f"/admin/scenarios/{name}",
                          json={"enabled": enabled, "params": params})


def test_every_default_is_a_bounded_parameter() -> None:
    """The catalogue's defaults and the bounds are written in two places: each default
    must be a known parameter and within its bounds, or switching on without params would
    run a value the API refuses."""
    for scenario in scenarios.SCENARIOS.values():
        assert set(scenario.defaults) <= set(ScenarioParams.model_fields), scenario.name
        ScenarioParams.model_validate(scenario.defaults)


# (scenario, parameter, the largest value taken, the smallest refused above it)
BOUNDS = [
    ("slow_query", "seed_rows", 500_000, 500_001),
    ("pool_of_one", "scorer_ms", 10_000, 10_000.5),
    ("blocking_call", "block_ms", 1_000, 1_001),
    ("flaky_history", "failure_rate", 1.0, 1.01),
    ("error_injection", "rate", 1.0, 1.5),
]


@pytest.mark.parametrize(("name", "param", "largest", "refused"), BOUNDS,
                         ids=[b[1] for b in BOUNDS])
def test_each_parameter_is_bounded(name: str, param: str, largest: float,
                                   refused: float) -> None:
    for value in (refused, -1):
        response = put(name, True, **{param: value})
        assert response.status_code == 422, (value, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error" and param in error["message"], error
        assert not scenarios.SCENARIOS[name].enabled, "a refused switch changed nothing"
    response = put(name, True, **{param: largest})
    assert response.status_code == 200, response.text
    assert response.json()["params"][param] == largest


def test_a_misspelt_parameter_is_answered_with_the_names_there_are() -> None:
    response = put("error_injection", True, ratio=1)
    assert response.status_code == 422
    assert "ratio" in response.json()["error"]["message"]
    assert "rate" in response.json()["error"]["message"]
    # Another scenario's parameter: the names this one takes.
    response = put("error_injection", True, block_ms=1)
    assert response.status_code == 422
    assert "it takes ['rate']" in response.json()["error"]["message"]


def test_parameters_go_with_the_switch_on_only() -> None:
    response = put("pool_of_one", False, scorer_ms=5000)
    assert response.status_code == 422
    assert "enabled: true" in response.json()["error"]["message"]
    assert put("pool_of_one", False).status_code == 200


def test_scorer_ms_does_not_apply_when_the_switch_is_off() -> None:
    """Switched off, the scorer takes its default 5 ms whatever scorer_ms was last set to
    (before: `{"enabled": false, "params": {"scorer_ms": 5000}}` slowed every segment
    while `make scenario` said pool_of_one was off)."""
    segment = Segment(segment_id="s1", session_id="s", seq=1,
                      created_at=datetime.now(UTC), **SEGMENT)

    def seconds_to_score() -> float:
        started = time.monotonic()
        asyncio.run(scorer.score(segment))
        return time.monotonic() - started

    assert put("pool_of_one", True, scorer_ms=400).status_code == 200
    assert seconds_to_score() >= 0.4, "the control: on, scorer_ms applies"
    assert put("pool_of_one", False).status_code == 200
    pool = scenarios.SCENARIOS["pool_of_one"]
    pool.params = {"scorer_ms": 5000}  # even if it were still set
    assert seconds_to_score() < 0.2


# Schemathesis over the admin routes of each owner, in process, with the checks the e2e run
# uses on the running stack (tests/e2e/test_bad_input.py, where the admin API is on too).
@pytest.fixture(params=["gateway", "session", "feedback"])
def admin_schema(request: pytest.FixtureRequest) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", owner_app(request.param))
    return schema.include(path_regex="^/admin")


@schemathesis.pytest.from_fixture("admin_schema").parametrize()
@hypothesis.settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_schemathesis_on_the_admin_api(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.response_schema_conformance,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.negative_data_rejection,
    ])
