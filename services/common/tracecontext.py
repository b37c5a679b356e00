"""The trace id of the current request, as a user sees it in Jaeger.

Only the OpenTelemetry *API* is used here: the SDK is set up by `opentelemetry-instrument`
outside the code. Without it (plain `uvicorn`), spans are non-recording and the trace id
is simply absent.
"""

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x")


def _traceresponse() -> tuple[str, str] | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    flags = "01" if ctx.trace_flags.sampled else "00"
    return (
        format(ctx.trace_id, "032x"),
        f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags}",
    )


class TraceIdHeaderMiddleware:
    """Adds `X-Trace-Id` and the W3C `traceresponse` header to every response.

    Pure ASGI (not BaseHTTPMiddleware) so it costs one dict lookup per response. It runs
    inside the server span that the FastAPI instrumentation opens, so the ids are the ones
    Jaeger shows: paste `X-Trace-Id` into the UI's search box, or `make trace ID=...`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                ids = _traceresponse()
                if ids is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-trace-id", ids[0].encode()))
                    headers.append((b"traceresponse", ids[1].encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span: how a later message can link back to
    this request's trace (services/feedback/cues.py)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{'01' if ctx.trace_flags.sampled else '00'}"
