"""The project's distro: `opentelemetry-instrument` finds it by its entry point, and it
hands the FastAPI instrumentor `exclude_spans`, the httpx one its request hooks (what they
do: test_client_spans.py), and nothing to the others; with contrib's FastAPI
instrumentation disabled, FastAPI's own telemetry gets the distro's settings."""

from importlib.metadata import entry_points

import fastapi
import pytest
from fastapi.testclient import TestClient

from services.common.app import create_service_app
from services.telemetry.distro import HaptiTalkDistro, name_async_client_span, name_client_span


class FakeEntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[dict] = []

    def load(self):
        calls = self.calls

        class Instrumentor:
            def instrument(self, **kwargs):
                calls.append(kwargs)

        return Instrumentor


def test_the_distro_is_registered_under_the_name_compose_selects():
    found = {ep.name: ep.value for ep in entry_points(group="opentelemetry_distro")}
    assert found.get("haptitalk") == "services.telemetry.distro:HaptiTalkDistro"


def test_fastapi_gets_exclude_spans_httpx_its_hooks_and_the_others_nothing():
    fastapi, httpx, sqlite3 = (FakeEntryPoint(name) for name in ("fastapi", "httpx", "sqlite3"))
    distro = HaptiTalkDistro()
    for entry_point in (fastapi, httpx, sqlite3):
        distro.load_instrumentor(entry_point, skip_dep_check=True)
    assert fastapi.calls == [{"skip_dep_check": True, "exclude_spans": ["send", "receive"]}]
    assert httpx.calls == [{"skip_dep_check": True, "request_hook": name_client_span,
                            "async_request_hook": name_async_client_span}]
    assert sqlite3.calls == [{"skip_dep_check": True}]


# -- FastAPI's own telemetry (contrib's FastAPI instrumentation off) ---------------------

def fastapis_own_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI.__init__ as FastAPI ships it (conftest.py has set the distro's defaults up,
    as the stack does), put back after the test."""
    made = fastapi.FastAPI.__init__
    monkeypatch.setattr(fastapi.FastAPI, "__init__", getattr(made, "__wrapped__", made))


@pytest.fixture
def native_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """The distro configured as compose would run it with `fastapi` disabled; FastAPI's
    constructor and the environment restored afterwards."""
    fastapis_own_constructor(monkeypatch)
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
                 "OTEL_EXPORTER_OTLP_PROTOCOL"):  # the stock distro's setdefault()s
        monkeypatch.setenv(name, "none" if "EXPORTER" in name else "http/protobuf")
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "sqlite3, fastapi")
    monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "healthz")
    HaptiTalkDistro().configure()


def test_fastapi_apps_get_the_distros_telemetry_settings_an_apps_own_win(
        native_fastapi) -> None:
    settings = fastapi.FastAPI()._telemetry
    assert (settings["operation_spans"], settings["logs"]) == (False, False)
    assert settings["exclude"]({"path": "/healthz"})
    assert not settings["exclude"]({"path": "/sessions/abc"})
    assert fastapi.FastAPI(telemetry={"operation_spans": True})._telemetry["operation_spans"]


def test_with_contrib_fastapi_on_fastapi_keeps_its_own_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fastapis_own_constructor(monkeypatch)
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "sqlite3")
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
                 "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.setenv(name, "none")
    HaptiTalkDistro().configure()
    assert fastapi.FastAPI()._telemetry["operation_spans"] is True


def test_fastapis_server_span_has_the_name_and_route_contribs_had(native_fastapi,
                                                                   spans) -> None:
    """One server span per request, `{method} {route}` with http.route (what the e2e tests
    and the Jaeger searches read), no operation spans, /healthz untraced; and what it does
    not carry that contrib's did."""
    app = create_service_app("things", "a service made the way ours are")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/things/t-1", headers={"user-agent": "test"})
    (server,) = spans.get_finished_spans()
    assert server.kind.name == "SERVER" and server.name == "GET /things/{thing_id}"
    assert server.attributes["http.route"] == "/things/{thing_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert response.headers["x-trace-id"] == format(server.context.trace_id, "032x")
    assert server.instrumentation_scope.name == "fastapi"
    assert not server.attributes.keys() & {"user_agent.original", "client.address",
                                           "client.port"}
