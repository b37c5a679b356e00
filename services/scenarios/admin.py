"""The admin API behind `make scenario`: read and flip the planted-bottleneck switches.

    GET /admin/scenarios                -> every scenario and its state
    PUT /admin/scenarios/{name}         {"enabled": true, "params": {"rate": 0.3}}

Every service serves it. A service answers for the scenarios it owns and routes the rest
to their owners (the gateway reaches session and feedback); it never keeps a copy of
another service's switches. Internal and unauthenticated, like the rest of this demo: in
compose only the gateway is published, and only on 127.0.0.1. Set ADMIN_API=false to
remove these routes.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from services.common.downstream import Downstream
from services.common.errors import NotFound, ServiceError
from services.scenarios import SCENARIOS, Scenario

# Switching slow_query on seeds ~200 000 rows in session before it answers.
ADMIN_TIMEOUT_S = 60.0


class InvalidParam(ServiceError):
    status_code = 422
    code = "validation_error"


class ScenarioSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    params: dict[str, float] = Field(default_factory=dict)


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
        unknown = set(body.params) - set(scenario.defaults)
        if unknown:
            raise InvalidParam(f"scenario {name} has no parameter(s) {sorted(unknown)}; "
                               f"it takes {sorted(scenario.defaults) or 'none'}")
        if scenario.owner != service:
            return await owner_of(request, scenario).call(
                "PUT", f"/admin/scenarios/{name}", json=body.model_dump(),
                timeout_s=ADMIN_TIMEOUT_S)
        scenario.enabled = body.enabled
        scenario.params = dict(body.params)
        if on_switch is not None:
            await on_switch(request, scenario)
        return scenario.public()

    return router


def install_admin(app: FastAPI, service: str, reach: Reach | None = None,
                  on_switch: OnSwitch | None = None) -> None:
    """Adds the admin routes to a service (ADMIN_API=false leaves them out)."""
    if os.environ.get("ADMIN_API", "true").lower() != "false":
        app.include_router(admin_router(service, reach, on_switch))
