"""The project's distro: `opentelemetry-instrument` finds it by its entry point, and it
hands the FastAPI instrumentor `exclude_spans` (and nothing to the others)."""

from importlib.metadata import entry_points

from services.telemetry.distro import HaptiTalkDistro


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


def test_fastapi_gets_exclude_spans_and_the_others_do_not():
    fastapi, httpx = FakeEntryPoint("fastapi"), FakeEntryPoint("httpx")
    distro = HaptiTalkDistro()
    distro.load_instrumentor(fastapi, skip_dep_check=True)
    distro.load_instrumentor(httpx, skip_dep_check=True)
    assert fastapi.calls == [{"skip_dep_check": True, "exclude_spans": ["send", "receive"]}]
    assert httpx.calls == [{"skip_dep_check": True}]
