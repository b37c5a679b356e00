"""slow_query's set-up: switched on, session's table gets `seed_rows` rows of other
sessions first, so that the full scan the scenario plants has work to do (the store's
`seed`: services/session/store.py). Run by session's admin API after the switch.
"""

from __future__ import annotations

from fastapi import Request

from services.common.app import part
from services.scenarios import Scenario


async def seed(request: Request, scenario: Scenario) -> None:
    if scenario.name == "slow_query" and scenario.enabled:
        await part("store")(request).seed(int(scenario.param("seed_rows")))
