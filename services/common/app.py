"""The FastAPI app factory all three services share: error handlers, X-Trace-Id, /healthz.

Note what is *not* here: no TracerProvider, no exporter, no instrumentor. Tracing is
switched on from outside by `opentelemetry-instrument uvicorn ...` and configured with the
standard OTEL_* variables (see docker-compose.yml).
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from services.common.errors import ERROR_RESPONSES, install_error_handlers
from services.common.limits import BodySizeLimitMiddleware
from services.common.tracecontext import BaggageToSpanMiddleware, TraceIdHeaderMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    service: str,
    description: str,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    app = FastAPI(title=f"HaptiTalk {service}", description=description, lifespan=lifespan,
                  responses=ERROR_RESPONSES)
    install_error_handlers(app, service)
    # Added last = outermost: the size check runs before anything reads the body, and the
    # trace id header is added to every response, the 413 included.
    app.add_middleware(BaggageToSpanMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, service=service)
    app.add_middleware(TraceIdHeaderMiddleware)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        # Excluded from tracing (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS) so health probes do
        # not flood Jaeger.
        return {"status": "ok", "service": service}

    return app

