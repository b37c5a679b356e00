"""One JSON error shape for every service, carrying the trace id.

    {"error": {"code": "not_found", "message": "session 3f2a... not found",
               "service": "session", "trace_id": "4bf92f35..."}}

`code` is stable and machine-readable; `message` is for people; `service` names the
service that produced the error (for a 503, the dependency that is down is in
`dependency`); `trace_id` is the trace to open in Jaeger. Validation errors add `fields`.

Every error is also recorded on the current span (`record_exception` + ERROR status), so
the red span in Jaeger carries the same message the caller got.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.tracecontext import current_trace_id


class ServiceError(Exception):
    """An error a handler raises on purpose; it becomes the JSON error response."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class DependencyUnavailable(ServiceError):
    """A downstream service is down, timed out or answered 5xx: we answer 503 naming it."""

    status_code = 503
    code = "dependency_unavailable"

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} service unavailable: {reason}", dependency=dependency)


class DownstreamError(ServiceError):
    """A downstream service refused the request (4xx): pass its status and message on."""

    def __init__(self, dependency: str, status_code: int, code: str, message: str) -> None:
        super().__init__(message, dependency=dependency)
        self.status_code = status_code
        self.code = code


def error_body(service: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "service": service}
    body.update({k: v for k, v in extra.items() if v is not None})
    body["trace_id"] = current_trace_id()
    return {"error": body}


def _mark_span(exc: Exception, description: str) -> None:
    span = trace.get_current_span()
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, description))


def install_error_handlers(app: FastAPI, service: str) -> None:
    # With OTEL_PYTHON_LOG_CORRELATION=true these lines carry trace_id and span_id, and
    # the OTLP log exporter ships them to the collector.
    log = logging.getLogger(f"haptitalk.{service}")

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _mark_span(exc, exc.message)
        level = logging.WARNING if exc.status_code >= 500 else logging.INFO
        log.log(level, "%s %s -> %s %s: %s", request.method, request.url.path,
                exc.status_code, exc.code, exc.message)
        return JSONResponse(
            error_body(service, exc.code, exc.message, **exc.extra), status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                # ("body", "words_per_minute") -> "words_per_minute"; path/query keep a prefix
                "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                "location": str(err["loc"][0]),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        _mark_span(exc, f"invalid request: {summary}")
        # Pydantic's messages name the rule, not the value ("String should have at most
        # 2000 characters"): the rejected input, perhaps a user's words, stays out.
        log.info("%s %s -> 422 validation_error: %s", request.method, request.url.path,
                 summary)
        return JSONResponse(
            error_body(service, "validation_error", f"invalid request: {summary}", fields=fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routing errors (unknown path, wrong method) and oversized bodies.
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        log.log(logging.WARNING if exc.status_code >= 500 else logging.INFO,
                "%s %s -> %s %s: %s", request.method, request.url.path, exc.status_code,
                code, exc.detail)
        return JSONResponse(
            error_body(service, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The instrumentation records the exception too; the body never leaks a stack trace.
        _mark_span(exc, f"{type(exc).__name__}: {exc}")
        log.exception("%s %s -> 500", request.method, request.url.path)
        return JSONResponse(
            error_body(service, "internal_error", f"unexpected error: {type(exc).__name__}"),
            status_code=500,
        )


class ErrorDetail(BaseModel):
    code: str
    message: str
    service: str
    trace_id: str | None = None
    dependency: str | None = None
    fields: list[dict[str, str]] | None = None


class ErrorResponse(BaseModel):
    """The one error shape, as documented in every service's OpenAPI."""

    error: ErrorDetail


# Declared on every route (FastAPI(responses=...)), so clients and schemathesis know the
# error bodies; 422 replaces FastAPI's default validation schema with ours.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not valid JSON"},
    404: {"model": ErrorResponse, "description": "unknown session or segment"},
    409: {"model": ErrorResponse, "description": "the session has ended"},
    413: {"model": ErrorResponse, "description": "request body too large"},
    422: {"model": ErrorResponse, "description": "invalid request; `fields` names each problem"},
    500: {"model": ErrorResponse, "description": "unexpected error (or an injected one)"},
    503: {"model": ErrorResponse, "description": "a downstream service is down or too slow"},
}
