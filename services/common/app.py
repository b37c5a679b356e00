"""The FastAPI app factory all three services share (error handlers, X-Trace-Id,
/healthz), and the one wiring function: `wire` hands a service the parts its handlers
depend on (its downstream services, its store); handlers read them with `part(...)`
dependencies. The service's lifespan wires the real parts; the unit tests wire in-process
ones through the same function.

Note what is *not* here: no TracerProvider, no exporter, no instrumentor. Tracing is
switched on from outside by `opentelemetry-instrument uvicorn ...` and configured with the
standard OTEL_* variables (see docker-compose.yml).
"""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import cache
from typing import Any

from fastapi import FastAPI, Request

from services.common.baggage import BaggageToSpanMiddleware
from services.common.downstream import Downstream
from services.common.errors import ERROR_RESPONSES, install_error_handlers
from services.common.limits import BodySizeLimitMiddleware
from services.common.tracecontext import TraceIdHeaderMiddleware

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


def wire(app: FastAPI, **parts: Any) -> None:
    """The one wiring function: what the service's handlers depend on, by name."""
    app.state.parts = dict(parts)


@cache  # one dependency per name, so tests can override it: dependency_overrides[part(..)]
def part(name: str) -> Callable[[Request], Any]:
    """A dependency on one wired part: `Annotated[SessionStore, Depends(part("store"))]`."""

    def wired_part(request: Request) -> Any:
        return request.app.state.parts[name]

    return wired_part


def downstreams(request: Request) -> Mapping[str, Downstream]:
    """The services this one calls, by name (from its wiring)."""
    return {k: v for k, v in request.app.state.parts.items() if isinstance(v, Downstream)}
