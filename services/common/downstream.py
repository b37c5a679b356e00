"""Calling another service: one shared `httpx.AsyncClient`, a deadline on every call, and
failures turned into errors that name the service.

The httpx instrumentation (zero-code) makes each call a CLIENT span and injects the W3C
`traceparent` header, so the callee's SERVER span becomes its child in Jaeger. A call
names its route as a template (`"/sessions/{session_id}/segments"`) and the values apart;
the template rides along as the request extension `url_template`, which the project's
distro (services/telemetry/distro.py) turns into the span's name and `url.template`:
`POST /sessions/{session_id}/segments` in Jaeger, not `POST`. An extension is not sent on
the wire, and no tracing call is needed here.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx

from services.common.errors import DependencyUnavailable, DownstreamError

# httpx logs every request at INFO: a log line per call that only repeats its CLIENT span.
logging.getLogger("httpx").setLevel(logging.WARNING)


# How long after its budget a call is cancelled if bytes still trickle in.
WHOLE_CALL_MARGIN_S = 0.2


def timeout_from_env(default_s: float) -> float:
    return float(os.environ.get("DOWNSTREAM_TIMEOUT_S", default_s))


def base_url(service: str) -> str:
    """Where a service is: `<SERVICE>_URL`, set by docker-compose.yml from .env (no
    default here: a port is written once, in .env)."""
    variable = f"{service.upper()}_URL"
    url = os.environ.get(variable)
    if not url:
        raise RuntimeError(f"{variable} is not set: the base URL of the {service} service "
                           "(docker-compose.yml sets it from .env)")
    return url


def new_http_client(timeout_s: float) -> httpx.AsyncClient:
    """The one client a service shares for all its calls (opened and closed in `lifespan`).

    Pooled connections matter: a new TCP connection per call shows up in traces as a
    slower first span and costs throughput.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


class Downstream:
    """One dependency: its name (as it appears in errors and 503s), base URL and deadline."""

    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient, timeout_s: float):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout_s = timeout_s

    async def call(
        self,
        method: str,
        route: str,
        *,
        path_params: Mapping[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """`route` is the callee's route template, filled in from `path_params` (each value
        escaped, so an id can never add a path segment)."""
        path = route.format_map({k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
        url = f"{self.base_url}{path}"
        budget = timeout_s or self.timeout_s
        try:
            # httpx's own timeout bounds each phase (connect, read, ...) and fires first for
            # a dependency that never answers: an exception inside the instrumented call,
            # so its CLIENT span is red in Jaeger. The whole-call deadline, a moment later,
            # stops a slow trickle of bytes; a cancellation is not an exception to
            # OpenTelemetry, so that span stays unmarked (the caller's span has the 503).
            async with asyncio.timeout(budget + WHOLE_CALL_MARGIN_S):
                response = await self.client.request(
                    method, url, json=json, params=params, timeout=budget,
                    extensions={"url_template": route})
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise DependencyUnavailable(self.name, f"no answer within {budget:g}s") from exc
        except httpx.TransportError as exc:
            raise DependencyUnavailable(
                self.name, f"cannot reach {self.base_url} ({type(exc).__name__})"
            ) from exc

        if response.status_code < 400:
            return response.json()
        error = _error_of(response)
        if response.status_code >= 500:
            raise DependencyUnavailable(
                self.name, f"answered {response.status_code}: {error.get('message', '')}"
            )
        raise DownstreamError(
            self.name,
            response.status_code,
            error.get("code", "downstream_error"),
            error.get("message", f"{self.name} answered {response.status_code}"),
        )


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {"message": str(body)[:200]}


@asynccontextmanager
async def connect(default_timeout_s: float, *services: str) -> AsyncIterator[dict[str, Downstream]]:
    """For a lifespan: one pooled client, and a Downstream for each named service."""
    timeout = timeout_from_env(default_timeout_s)
    urls = {name: base_url(name) for name in services}
    async with new_http_client(timeout) as http:
        yield {name: Downstream(name, url, http, timeout) for name, url in urls.items()}
