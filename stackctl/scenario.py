"""`make scenario NAME=... STATE=on|off [PARAMS='{"rate": 0.5}']`: flip a planted bottleneck.

Talks to the gateway's admin API, which routes each switch to the service that owns it.
`make scenario` with no NAME lists every scenario and its state.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
from rich.console import Console
from rich.table import Table

from stackctl.settings import endpoints


def gateway_url() -> str:
    return endpoints().gateway


# The gateway answers 404 on every /admin path when the admin API is off (the services'
# default; .env turns it on for `make up`, the Helm chart leaves it off).
ADMIN_OFF = ("the gateway at {url} has no admin API (404 on /admin): the services leave it "
             "off unless ADMIN_API=true. `make up` reads it from .env (ADMIN_API=true); set "
             "it there and restart the stack (make down && make up). On Kubernetes: "
             "--set adminApi=true, on a cluster only you reach.")


class Refused(SystemExit):
    """The gateway said no; the message says why and, for a missing admin API, what to do."""


def _answer(response: httpx.Response) -> list | dict:
    if response.status_code == 200:
        return response.json()
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    message = error.get("message", response.text)
    if response.status_code == 404 and "scenario" not in message:
        raise Refused(ADMIN_OFF.format(url=gateway_url()))
    raise Refused(f"refused ({response.status_code}): {message}")


def switch(name: str, enabled: bool, params: dict | None = None) -> dict:
    """Used by `make bench-scenario` too. Raises with the server's message on refusal."""
    return _answer(httpx.put(f"{gateway_url()}/admin/scenarios/{name}",
                             json={"enabled": enabled, "params": params or {}}, timeout=120))


def listing() -> list[dict]:
    return _answer(httpx.get(f"{gateway_url()}/admin/scenarios", timeout=10))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?")
    parser.add_argument("state", nargs="?", choices=["on", "off"])
    parser.add_argument("--params", default="", help='JSON, e.g. \'{"rate": 0.5}\'')
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.name and args.state:
            params = json.loads(args.params) if args.params else {}
            result = switch(args.name, args.state == "on", params)
            on = result["enabled"]
            console.print(f"[bold]{result['name']}[/bold] is now "
                          f"{'[red]ON[/red]' if on else '[green]off[/green]'} "
                          f"(params {result['params']})")
            console.print(f"  {'broken' if on else 'fixed'}: "
                          f"{result['broken' if on else 'fixed']}")
            if on:
                console.print(f"  find it in Jaeger: tag demo.scenario={result['name']}")
            return 0
        scenarios = listing()
    except Refused as refused:
        console.print(str(refused), style="red", markup=False, soft_wrap=True)
        return 1
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the gateway at {gateway_url()}: {exc}[/red] "
                      "(is the stack up? `make status`)")
        return 2
    table = Table(title="planted bottlenecks (make scenario NAME=... STATE=on|off)")
    for column in ("name", "state", "in", "when on", "params"):
        table.add_column(column)
    for s in scenarios:
        table.add_row(s["name"], "[red]ON[/red]" if s["enabled"] else "off", s["owner"],
                      s["broken"], json.dumps(s["params"]))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
