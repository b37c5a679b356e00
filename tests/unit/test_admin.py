"""The scenario admin API (services/scenarios/admin.py) when it is on: every parameter
bounded (422 beyond), parameters only with the switch on, and a switched-off scenario
running its fixed path as shipped. Each owner's router runs alone here (no forwarding), in
an app built like the services' (create_service_app: the same error format)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
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
from services.watch import consumer
from stackctl.sample import SEGMENT
from stackctl.settings import ROOT


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


@pytest.mark.parametrize(("name", "param", "constant"), [
    ("pool_of_one", "scorer_ms", scorer.SCORER_MS),
    ("blocking_call", "block_ms", scorer.PROFILE_LOOKUP_MS),
    ("slow_consumer", "handle_ms", consumer.BUZZ_MS),
])
def test_a_latency_default_is_the_fixed_paths_own(name: str, param: str,
                                                   constant: float) -> None:
    """Switched on with no parameters, only the switch differs (make bench-scenario
    compares the two): the latency a scenario overrides defaults to the service's own."""
    assert scenarios.SCENARIOS[name].defaults[param] == constant


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


_ADMIN_PROBE = """
import json
from fastapi.testclient import TestClient
from services.feedback.api import app as feedback
from services.gateway.api import app as gateway
from services.session.api import app as session
print(json.dumps({name: [TestClient(app, raise_server_exceptions=False)
                         .get("/admin/scenarios").status_code,
                         any(p.startswith("/admin") for p in app.openapi()["paths"])]
                  for name, app in (("gateway", gateway), ("session", session),
                                    ("feedback", feedback))}))
"""


def test_admin_api_is_off_unless_admin_api_is_true() -> None:
    """docs/reliability.md: a service started without ADMIN_API (the Helm chart's default)
    answers 404 on /admin and documents no /admin route; ADMIN_API=true (.env, for `make
    up`) adds them. The apps read it when they are built (at import), so each setting is a
    fresh interpreter."""
    def probe(**env: str) -> dict[str, list]:
        variables = {k: v for k, v in os.environ.items() if k != "ADMIN_API"}
        variables.update(env, SESSION_URL="http://session", FEEDBACK_URL="http://feedback")
        result = subprocess.run([sys.executable, "-c", _ADMIN_PROBE], env=variables,
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    off = {name: [404, False] for name in ("gateway", "session", "feedback")}
    assert probe() == off, "no ADMIN_API: the admin API must be off"
    assert probe(ADMIN_API="false") == off
    assert probe(ADMIN_API="yes") == off, "only the word true turns it on"
    # The control: on, session and feedback serve their own lists (they ask nobody
    # else; the gateway, unwired here, would ask them), and every service documents them.
    on = probe(ADMIN_API="true")
    assert on["session"] == on["feedback"] == [200, True], on
    assert all(documented for _, documented in on.values())
