"""`make scenario` (stackctl/scenario.py) against a gateway and a watch built the way the services
build themselves (create_service_app + install_admin), without and with ADMIN_API=true."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.app import create_service_app
from services.scenarios import SCENARIOS
from services.scenarios.admin import install_admin
from stackctl import scenario as cli
from stackctl.settings import endpoints


def services(monkeypatch: pytest.MonkeyPatch, admin_api: str | None,
             down: tuple[str, ...] = ()) -> list[str]:
    """The CLI's calls go to a gateway and a watch app in process, each built the way the
    service builds itself, picked by the URL the CLI asks for (.env's ports); a service
    in `down` refuses the connection. `admin_api` is their ADMIN_API. Returns the URLs
    called, in order."""
    if admin_api is None:
        monkeypatch.delenv("ADMIN_API", raising=False)  # `make` exports .env's
    else:
        monkeypatch.setenv("ADMIN_API", admin_api)
    urls = endpoints()
    clients = {}
    for name in ("gateway", "watch"):
        app = create_service_app(name, f"{name} under test")
        install_admin(app, name)
        clients[urls.service(name)] = (name, TestClient(app, raise_server_exceptions=False))
    called: list[str] = []

    def client(url: str) -> TestClient:
        called.append(url)
        for base, (name, test_client) in clients.items():
            if url.startswith(base + "/") and name not in down:
                return test_client
        raise httpx.ConnectError(f"connection refused: {url}")

    # TestClient has no socket to time out: the CLI's timeouts are dropped.
    monkeypatch.setattr(httpx, "get", lambda url, timeout: client(url).get(url))
    monkeypatch.setattr(httpx, "put",
                        lambda url, json, timeout: client(url).put(url, json=json))
    return called


@pytest.mark.parametrize("argv", [[], ["sequential_fanout", "on"]], ids=["list", "switch"])
def test_make_scenario_says_how_to_turn_the_admin_api_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    services(monkeypatch, admin_api=None)
    assert cli.main(argv) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "404 on /admin" in said
    assert "ADMIN_API=true" in said and ".env" in said
    assert "make down && make up" in said


def test_make_scenario_lists_and_switches_when_it_is_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    services(monkeypatch, admin_api="true")
    try:
        assert cli.main(["sequential_fanout", "on"]) == 0
        assert "sequential_fanout is now ON" in capsys.readouterr().out
    finally:
        assert cli.main(["sequential_fanout", "off"]) == 0
    assert cli.main([]) == 0
    assert "sequential_fanout" in capsys.readouterr().out


def test_an_unknown_scenario_is_not_mistaken_for_a_missing_admin_api(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    services(monkeypatch, admin_api="true")
    assert cli.main(["nope", "on"]) == 1
    said = capsys.readouterr().out
    assert "unknown scenario 'nope'" in said and "ADMIN_API" not in said


def test_a_scenario_is_switched_where_its_owner_is_reached(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The gateway routes only to the services it calls: slow_consumer (the watch's, fed
    by RabbitMQ) goes to the watch's own port, sequential_fanout to the gateway."""
    called = services(monkeypatch, admin_api="true")
    urls = endpoints()
    try:
        assert cli.main(["slow_consumer", "on", "--params", '{"handle_ms": 50}']) == 0
        assert "slow_consumer is now ON" in capsys.readouterr().out
        # Lists are read to find the owner; the switch itself goes to the owner only.
        assert switched(called, "slow_consumer") == [f"{urls.watch}/admin/scenarios/slow_consumer"]
    finally:
        assert cli.main(["slow_consumer", "off"]) == 0
    called.clear()
    assert cli.main(["sequential_fanout", "off"]) == 0
    assert switched(called, "sequential_fanout") == [
        f"{urls.gateway}/admin/scenarios/sequential_fanout"]


def switched(called: list[str], name: str) -> list[str]:
    return [url for url in called if url.endswith(f"/admin/scenarios/{name}")]


def test_the_list_holds_every_owners_scenarios(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    called = services(monkeypatch, admin_api="true")
    urls = endpoints()
    assert cli.main([]) == 0
    said = capsys.readouterr().out
    assert "slow_consumer" in said and "sequential_fanout" in said
    assert called == [f"{urls.gateway}/admin/scenarios", f"{urls.watch}/admin/scenarios"]
    # This gateway reaches no session or feedback, so theirs are not listed here.
    assert {s["name"] for s in cli.listing()} == {
        n for n, s in SCENARIOS.items() if s.owner in ("gateway", "watch")}


def test_a_watch_that_is_down_is_named(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    services(monkeypatch, admin_api="true", down=("watch",))
    assert cli.main(["slow_consumer", "on"]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert f"cannot reach {endpoints().watch}" in said and "make doctor" in said
