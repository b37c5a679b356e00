"""`make scenario` (stackctl/scenario.py) against a gateway built the way the service
builds itself (create_service_app + install_admin), without and with ADMIN_API=true."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.app import create_service_app
from services.scenarios.admin import install_admin
from stackctl import scenario as cli


def gateway(monkeypatch: pytest.MonkeyPatch, admin_api: str | None) -> None:
    """The CLI's calls go to a gateway app in process; `admin_api` is its ADMIN_API."""
    if admin_api is None:
        monkeypatch.delenv("ADMIN_API", raising=False)  # `make` exports .env's
    else:
        monkeypatch.setenv("ADMIN_API", admin_api)
    app = create_service_app("gateway", "gateway under test")
    install_admin(app, "gateway")
    client = TestClient(app, raise_server_exceptions=False)
    # TestClient has no socket to time out: the CLI's timeouts are dropped.
    monkeypatch.setattr(httpx, "get", lambda url, timeout: client.get(url))
    monkeypatch.setattr(httpx, "put", lambda url, json, timeout: client.put(url, json=json))


@pytest.mark.parametrize("argv", [[], ["n_plus_one", "on"]], ids=["list", "switch"])
def test_make_scenario_says_how_to_turn_the_admin_api_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    gateway(monkeypatch, admin_api=None)
    assert cli.main(argv) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "404 on /admin" in said
    assert "ADMIN_API=true" in said and ".env" in said
    assert "make down && make up" in said


def test_make_scenario_lists_and_switches_when_it_is_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    gateway(monkeypatch, admin_api="true")
    try:
        assert cli.main(["n_plus_one", "on"]) == 0
        assert "n_plus_one is now ON" in capsys.readouterr().out
    finally:
        assert cli.main(["n_plus_one", "off"]) == 0
    assert cli.main([]) == 0
    assert "sequential_fanout" in capsys.readouterr().out


def test_an_unknown_scenario_is_not_mistaken_for_a_missing_admin_api(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    gateway(monkeypatch, admin_api="true")
    assert cli.main(["nope", "on"]) == 1
    said = capsys.readouterr().out
    assert "unknown scenario 'nope'" in said and "ADMIN_API" not in said
