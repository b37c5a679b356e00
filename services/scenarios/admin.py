"""The admin API behind `make scenario`: read and flip the planted-bottleneck switches.

    GET /admin/scenarios                -> every scenario and its state
    PUT /admin/scenarios/{name}         {"enabled": true, "params": {"rate": 0.3}}

Every service serves it. A service answers for the scenarios it owns and routes the rest
to their owners (the gateway reaches session and feedback); it never keeps a copy of
another service's switches.

Off unless ADMIN_API=true: the routes are unauthenticated and each switch makes the service
slower or fail on purpose, so whoever reaches the gateway must not get them by default.
.env turns them on for `make up` (compose and local mode: the gateway listens on
127.0.0.1 only); the Helm chart leaves them off (`adminApi: false`). Every parameter is
bounded (ScenarioParams): a value beyond the bounds is a 422, not a service stopped.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.downstream import Downstream
from services.common.errors import NotFound, ServiceError
from services.scenarios import SCENARIOS, Scenario

# Switching slow_query on seeds up to 500 000 rows (ScenarioParams) in session before it
# answers.
ADMIN_TIMEOUT_S = 60.0


class InvalidParam(ServiceError):
    status_code = 422
    code = "validation_error"


class ScenarioParams(BaseModel):
    """Every parameter of every scenario (services/scenarios: `defaults`), each bounded so
    that a switch shows a bottleneck and cannot take the service down. A scenario takes
    only its own (checked per scenario below)."""

    model_config = ConfigDict(extra="forbid")

    # slow_query: session tops its segments table up to this many seeded rows. The
    # default (200 000) makes the full scan clearly slower than the index; the bound keeps
    # the seeding within ADMIN_TIMEOUT_S and the table within a few hundred MB.
    seed_rows: int | None = Field(None, ge=0, le=500_000)
    # pool_of_one: the one slot's model latency. 5000 (> the gateway's 3 s budget) is
    # what the slow-downstream fault test uses; 10 s is past every budget already.
    scorer_ms: float | None = Field(None, ge=0, le=10_000)
    # blocking_call: how long each lookup freezes feedback's event loop. One second per
    # request already stalls every other request; longer would fail its health checks.
    block_ms: float | None = Field(None, ge=0, le=1_000)
    # flaky_history, error_injection: a share of requests.
    failure_rate: float | None = Field(None, ge=0, le=1)
    rate: float | None = Field(None, ge=0, le=1)
    # slow_consumer: each buzz's write to the watch. A second per cue, one at a time,
    # already backs the queue up under any load; the durable queue holds the rest.
    handle_ms: float | None = Field(None, ge=0, le=1_000)

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        # Before the field checks, so that a misspelt name is answered with the names
        # there are (pydantic's own message says only "extra inputs are not permitted").
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"no parameter(s) {unknown}; parameters: "
                                 f"{', '.join(sorted(cls.model_fields))}")
        return data

    def given(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class ScenarioSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    # They tune the broken path, so they go with `enabled: true` only: "off" always
    # means the fixed path as shipped (the defaults), never a slowed one.
    params: ScenarioParams = Field(default_factory=ScenarioParams)


# Run by the owner after a switch (session seeds rows for slow_query).
OnSwitch = Callable[[Request, Scenario], Awaitable[None]]
# The services this one can reach, by name (read per request from the app's wiring).
Reach = Callable[[Request], Mapping[str, Downstream]]


def admin_router(service: str, reach: Reach | None = None,
                 on_switch: OnSwitch | None = None) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    def owner_of(request: Request, scenario: Scenario) -> Downstream:
        others = reach(request) if reach else {}
        if scenario.owner not in others:
            raise NotFound(f"scenario {scenario.name} belongs to {scenario.owner}, which "
                           f"{service} does not reach")
        return others[scenario.owner]

    @router.get("/scenarios")
    async def list_scenarios(request: Request) -> list[dict[str, Any]]:
        owners = {s.owner for s in SCENARIOS.values()} - {service}
        others = reach(request) if reach else {}
        states = {s["name"]: s for owner in sorted(owners & set(others))
                  for s in await others[owner].call("GET", "/admin/scenarios")}
        return [s.public() if s.owner == service else states[s.name]
                for s in SCENARIOS.values() if s.owner == service or s.name in states]

    @router.put("/scenarios/{name}")
    async def switch(name: str, body: ScenarioSwitch, request: Request) -> dict[str, Any]:
        if name not in SCENARIOS:
            raise NotFound(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        scenario = SCENARIOS[name]
        params = body.params.given()
        unknown = set(params) - set(scenario.defaults)
        if unknown:
            raise InvalidParam(f"scenario {name} has no parameter(s) {sorted(unknown)}; "
                               f"it takes {sorted(scenario.defaults) or 'none'}")
        if params and not body.enabled:
            raise InvalidParam(f"parameters tune scenario {name}'s broken path: give them "
                               "with enabled: true (off runs the fixed path as shipped)")
        if scenario.owner != service:
            return await owner_of(request, scenario).call(
                "PUT", f"/admin/scenarios/{name}",
                json={"enabled": body.enabled, "params": params},
                timeout_s=ADMIN_TIMEOUT_S)
        scenario.enabled = body.enabled
        scenario.params = params
        if on_switch is not None:
            await on_switch(request, scenario)
        return scenario.public()

    return router


def install_admin(app: FastAPI, service: str, reach: Reach | None = None,
                  on_switch: OnSwitch | None = None) -> None:
    """Adds the admin routes to a service when ADMIN_API=true (off by default)."""
    if os.environ.get("ADMIN_API", "false").strip().lower() == "true":
        app.include_router(admin_router(service, reach, on_switch))
