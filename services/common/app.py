"""The FastAPI app factory all three services share: error handlers, X-Trace-Id, /healthz.

Note what is *not* here: no TracerProvider, no exporter, no instrumentor. Tracing is
switched on from outside by `opentelemetry-instrument uvicorn ...` and configured with the
standard OTEL_* variables (see docker-compose.yml).
"""

import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from services.common.admin import OnSwitch, admin_router
from services.common.errors import ERROR_RESPONSES, install_error_handlers
from services.common.limits import BodySizeLimitMiddleware
from services.common.tracecontext import BaggageToSpanMiddleware, TraceIdHeaderMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    service: str,
    description: str,
    lifespan: Lifespan | None = None,
    on_scenario_switch: OnSwitch | None = None,
) -> FastAPI:
    app = FastAPI(title=f"HaptiTalk {service}", description=description, lifespan=lifespan,
                  responses=ERROR_RESPONSES)
    install_error_handlers(app, service)
    # Added last = outermost: the size check runs before anything reads the body, and the
    # trace id header is added to every response, the 413 included.
    app.add_middleware(BaggageToSpanMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, service=service)
    app.add_middleware(TraceIdHeaderMiddleware)
    if os.environ.get("ADMIN_API", "true").lower() != "false":
        app.include_router(admin_router(on_scenario_switch))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        # Excluded from tracing (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS) so health probes do
        # not flood Jaeger.
        return {"status": "ok", "service": service}

    return app

