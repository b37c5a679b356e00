"""The project's distro: `opentelemetry-instrument` finds it by its entry point, and it
hands the FastAPI instrumentor `exclude_spans`, the httpx one its request hooks (what they
do: test_client_spans.py), and nothing to the others."""

from importlib.metadata import entry_points

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
