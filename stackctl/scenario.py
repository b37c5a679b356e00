"""`make scenario NAME=... STATE=on|off [PARAMS='{"rate": 0.5}']`: flip a planted bottleneck.

A scenario is switched in the service that owns it (services/scenarios: `owner`), and
this tool reaches that owner the way the stack lets it: through the gateway's admin API
for the services the gateway calls (it routes the switch on to session or feedback, whose
ports compose does not publish), directly for a service nothing calls over HTTP: the
watch, whose cues arrive through RabbitMQ, at its own port (WATCH_PORT, published on
loopback for the watch app). `make scenario` with no NAME lists every scenario of every
owner and its state.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
from rich.console import Console
from rich.table import Table

from stackctl.settings import endpoints
from stackctl.topology import SERVICES, WATCH, reached_from


def gateway_url() -> str:
    return endpoints().gateway


def admin_urls() -> list[str]:
    """Every admin API that together lists all scenarios, the gateway first: the gateway
    routes to the services its calls reach (stackctl/topology.py); a service nothing calls
    over HTTP (the watch) is asked at its own URL."""
    urls = endpoints()
    apart = [name for name in (*SERVICES, WATCH) if name not in reached_from("gateway")]
    return [urls.gateway, *(urls.service(name) for name in apart)]


class Unreachable(Exception):
    def __init__(self, url: str, error: httpx.HTTPError) -> None:
        super().__init__(f"cannot reach {url}: {error}")
        self.url = url


# A service answers 404 on every /admin path when the admin API is off (the services'
# default; .env turns it on for `make up`, the Helm chart leaves it off).
ADMIN_OFF = ("the service at {url} has no admin API (404 on /admin): the services leave it "
             "off unless ADMIN_API=true. `make up` reads it from .env (ADMIN_API=true); set "
             "it there and restart the stack (make down && make up). On Kubernetes: "
             "--set adminApi=true, on a cluster only you reach.")


class Refused(SystemExit):
    """A service said no; the message says why and, for a missing admin API, what to do."""


def _answer(response: httpx.Response, url: str) -> list | dict:
    if response.status_code == 200:
        return response.json()
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    message = error.get("message", response.text)
    if response.status_code == 404 and "scenario" not in message:
        raise Refused(ADMIN_OFF.format(url=url))
    raise Refused(f"refused ({response.status_code}): {message}")


def switch(name: str, enabled: bool, params: dict | None = None) -> dict:
    """Used by `make bench-scenario` too. Raises with the server's message on refusal.
    An unknown name goes to the gateway, whose answer lists the names there are."""
    url = owner_url(name)
    try:
        response = httpx.put(f"{url}/admin/scenarios/{name}",
                             json={"enabled": enabled, "params": params or {}}, timeout=120)
    except httpx.HTTPError as error:
        raise Unreachable(url, error) from error
    return _answer(response, url)


def owner_url(name: str) -> str:
    """The admin API whose list holds `name` (each lists what it switches); an unknown name
    goes to the gateway, whose refusal names the scenarios there are."""
    for url in admin_urls()[1:]:
        try:
            response = httpx.get(f"{url}/admin/scenarios", timeout=10)
        except httpx.HTTPError as error:
            raise Unreachable(url, error) from error
        if any(s.get("name") == name for s in _answer(response, url)):
            return url
    return gateway_url()


def listing() -> list[dict]:
    found: list[dict] = []
    for url in admin_urls():
        try:
            response = httpx.get(f"{url}/admin/scenarios", timeout=10)
        except httpx.HTTPError as error:
            raise Unreachable(url, error) from error
        found += _answer(response, url)
    return found


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
    except Unreachable as unreachable:
        console.print(f"{unreachable} (is the stack up? `make status`; `make doctor` says "
                      "which part is down)", style="red", markup=False, soft_wrap=True)
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
