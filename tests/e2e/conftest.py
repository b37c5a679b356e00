"""End-to-end fixtures: the real stack (Jaeger, collector, three services under
`opentelemetry-instrument`), reached over HTTP like a user would.

If the stack is already up (`make up`, or compose in CI), the tests use it. Otherwise,
in local mode, they start it and stop it again at the end (`make test` on a fresh clone).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from stackctl import scenario
from stackctl.jaeger import Jaeger
from stackctl.settings import endpoints as stack_endpoints
from stackctl.topology import PUBLIC, SERVICES
from tests.support.stack import ROOT, Endpoints, stack_mode


def _all_healthy(endpoints: Endpoints) -> bool:
    # In compose, session and feedback are internal (not published): compose's own
    # healthchecks gate the gateway's start on them.
    checked = PUBLIC if stack_mode() == "compose" else SERVICES
    for url in (endpoints.service(name) for name in checked):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    try:
        return httpx.get(f"{endpoints.jaeger}/api/services", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    endpoints = stack_endpoints()
    started_here = False
    if not _all_healthy(endpoints):
        if stack_mode() != "local":
            pytest.fail(f"the {stack_mode()} stack is not up and healthy at {endpoints}")
        result = subprocess.run(
            [sys.executable, "-m", "stackctl.local", "up"],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )
        if result.returncode != 0:
            pytest.fail(f"could not start the local stack:\n{result.stdout}\n{result.stderr}")
        started_here = True
    yield endpoints
    if started_here:
        subprocess.run([sys.executable, "-m", "stackctl.local", "down"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def jaeger(endpoints: Endpoints) -> Jaeger:
    return Jaeger(endpoints.jaeger)


@pytest.fixture
def gateway(endpoints: Endpoints) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=endpoints.gateway, timeout=10.0) as client:
        yield client


@pytest.fixture
def user_id() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"




@pytest.fixture
def session_id(gateway: httpx.Client, user_id: str) -> str:
    response = gateway.post("/api/sessions", json={"user_id": user_id, "mode": "presentation"})
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


@pytest.fixture(autouse=True)
def no_scenario_left_on(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the stack: every planted bottleneck is off again, or the
    test fails, naming it (one left on breaks every later test in ways that point
    elsewhere: a CI run lost 19 tests to error_injection left on by a fuzzer)."""
    yield
    if "endpoints" not in request.fixturenames:
        return
    try:
        left_on = [s["name"] for s in scenario.listing() if s["enabled"]]
    except (scenario.Unreachable, scenario.Refused):
        return  # a stack partly down (fault tests restore it themselves) or no admin API
    for name in left_on:
        scenario.switch(name, False)
    if left_on:
        pytest.fail(f"left planted bottleneck(s) on: {', '.join(left_on)} (switched off now)")
