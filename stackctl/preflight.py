"""Before a command that drives traffic (`make load`, `make load-ui`, `make
bench-scenario`): is the stack up? A clear "start it first" instead of a minute of
failed requests or a stack trace."""

from __future__ import annotations

import sys

import httpx

from stackctl.settings import endpoints


def stack_down_reason() -> str | None:
    """Why the stack cannot take traffic (the gateway's /healthz does not answer 200), or
    None when it can."""
    url = f"{endpoints().gateway}/healthz"
    try:
        status = httpx.get(url, timeout=3).status_code
    except httpx.HTTPError as exc:
        return f"the gateway does not answer at\n  {url} ({type(exc).__name__})"
    return None if status == 200 else f"the gateway answers {status} at\n  {url}"


def require_stack(command: str) -> None:
    """Exit 2 naming what is wrong when the stack cannot take traffic."""
    reason = stack_down_reason()
    if reason:
        print(f"{command}: the stack is not up:\n  {reason}.\n"
              "  Start it first: `make up` (`make status`: what runs, `make doctor`:\n"
              "  what is wrong).", file=sys.stderr)
        sys.exit(2)
