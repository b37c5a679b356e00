"""The admin API behind `make scenario`: read and flip the planted-bottleneck switches.

    GET /admin/scenarios                -> every scenario and its state
    PUT /admin/scenarios/{name}         {"enabled": true, "params": {"rate": 0.3}}

Internal and unauthenticated, like the rest of this demo: in compose only the gateway is
published, and only on 127.0.0.1. Set ADMIN_API=false to remove these routes.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services import scenarios
from services.common.errors import NotFound, ServiceError


class InvalidParam(ServiceError):
    status_code = 422
    code = "validation_error"


class ScenarioSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    params: dict[str, float] = Field(default_factory=dict)


OnSwitch = Callable[[str, ScenarioSwitch], Awaitable[None]]


def admin_router(on_switch: OnSwitch | None = None) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/scenarios")
    async def list_scenarios() -> list[dict[str, Any]]:
        return [s.public() for s in scenarios.SCENARIOS.values()]

    @router.put("/scenarios/{name}")
    async def switch(name: str, body: ScenarioSwitch) -> dict[str, Any]:
        if name not in scenarios.SCENARIOS:
            raise NotFound(f"unknown scenario {name!r}; known: "
                           f"{', '.join(scenarios.SCENARIOS)}")
        scenario = scenarios.get(name)
        unknown = set(body.params) - set(scenario.defaults)
        if unknown:
            raise InvalidParam(f"scenario {name} has no parameter(s) {sorted(unknown)}; "
                               f"it takes {sorted(scenario.defaults) or 'none'}")
        scenario.enabled = body.enabled
        scenario.params = dict(body.params)
        if on_switch is not None:
            # The gateway forwards the switch to the other services; session seeds rows
            # for slow_query.
            await on_switch(name, body)
        return scenario.public()

    return router


def install_admin(app: FastAPI, on_switch: OnSwitch | None = None) -> None:
    """Adds the admin routes to a service (ADMIN_API=false leaves them out)."""
    if os.environ.get("ADMIN_API", "true").lower() != "false":
        app.include_router(admin_router(on_switch))
