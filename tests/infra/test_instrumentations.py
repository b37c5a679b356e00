"""Each service loads only the instrumentations of the libraries it uses.

`opentelemetry-instrument` loads every installed instrumentation not named in
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, and each one imports its library (psycopg alone
+8.6 MB RSS), so each service lists the ones it does not need (docker-compose.yml,
x-otel-env says why; the chart's `<service>.otelEnv`). Checked here, for each service the
compose model and the rendered chart run, against its code (ast, nothing imported):
- `fastapi` is disabled (the distro: FastAPI's own telemetry makes the server spans) and
  `logging` is not (log correlation);
- every other installed instrumentation is enabled exactly when the service's code (its
  api module and everything of ours that imports, imports inside functions included)
  imports the library: a service that imports psycopg but runs without its instrumentation
  makes no DB spans, one that loads an unused one pays its memory.
httpx is the one library every service imports (services/common/app.py names Downstream):
a service uses it when it opens clients, through `connect` (services/common/downstream.py).

The last tests break a copy of the lists and check the checker says so.
"""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from stackctl import local as stack
from tests.infra.test_architecture import imports, module_name
from tests.infra.test_chart import container_env, find, render
from tests.support.stack import ROOT

VAR = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
# Not a library's: contrib's FastAPI instrumentation is off everywhere (FastAPI's own
# telemetry instead) and the logging one on everywhere.
ALWAYS_OFF, ALWAYS_ON = "fastapi", "logging"
INSTALLED = sorted({ep.name for ep in entry_points(group="opentelemetry_instrumentor")})
DOWNSTREAM = "services.common.downstream"
MODULES = {module_name(p, ROOT): p for p in sorted((ROOT / "services").rglob("*.py"))}


def library(instrumentation: str) -> str:
    """The module an instrumentation's entry point is named for: aio-pika -> aio_pika."""
    return instrumentation.replace("-", "_")


def imported(module: str) -> list[str]:
    """What one module of ours imports (test_architecture's reading)."""
    path = MODULES[module]
    depth = len(module.split(".")) - (path.name != "__init__.py")
    return [name for _, name in imports(path, path.parents[depth])]


def closure(app_module: str) -> set[str]:
    """Every module of ours that importing `app_module` can load, lazily too."""
    seen: set[str] = set()
    todo = [app_module]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in imported(module):
            parts = name.split(".")
            todo += [m for n in range(1, len(parts) + 1)
                     if (m := ".".join(parts[:n])) in MODULES]
    return seen


def libraries_used(app_module: str) -> set[str]:
    modules = closure(app_module)
    names = {name for m in modules for name in imported(m)}
    used = {name.split(".")[0] for name in names if not name.startswith("services.")}
    if f"{DOWNSTREAM}.connect" not in names:
        used.discard("httpx")
    return used


def problems(service: str, command: list[str], env: dict) -> list[str]:
    app_module = next(arg for arg in command if arg.startswith("services.")).split(":")[0]
    disabled = {n.strip() for n in str(env.get(VAR, "")).split(",") if n.strip()}
    used = libraries_used(app_module)
    found = [f"{service}: {VAR} names {n}, which is not an installed instrumentation "
             f"({', '.join(INSTALLED)})" for n in sorted(disabled - set(INSTALLED))]
    if ALWAYS_OFF not in disabled:
        found.append(f"{service}: {ALWAYS_OFF} must be disabled (FastAPI's own telemetry)")
    if ALWAYS_ON in disabled:
        found.append(f"{service}: {ALWAYS_ON} must stay enabled (log correlation)")
    for name in INSTALLED:
        if name in (ALWAYS_OFF, ALWAYS_ON):
            continue
        if library(name) in used and name in disabled:
            found.append(f"{service}: its code imports {library(name)} but {VAR} disables "
                         f"{name}: its calls make no spans")
        elif library(name) not in used and name not in disabled:
            found.append(f"{service}: {name} is enabled but its code never imports "
                         f"{library(name)}: add it to {VAR}")
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return stack.compose_model()["services"]


def instrumented(compose: dict) -> list[str]:
    return [name for name, svc in compose.items()
            if (svc.get("command") or [""])[0] == "opentelemetry-instrument"]


def test_the_services_are_found(compose: dict) -> None:
    assert sorted(instrumented(compose)) == ["feedback", "gateway", "session", "watch"]
    assert libraries_used("services.gateway.api") >= {"httpx"}
    assert {"sqlite3", "psycopg"} <= libraries_used("services.session.api")


def test_httpx_clients_are_opened_by_connect_only() -> None:
    """What libraries_used assumes: httpx is imported by downstream.py alone, and its
    clients made there in `connect` alone."""
    importers = sorted(m for m in MODULES if any(n.split(".")[0] == "httpx"
                                                 for n in imported(m)))
    assert importers == [DOWNSTREAM]
    tree = ast.parse(MODULES[DOWNSTREAM].read_text())
    functions = [f for f in ast.walk(tree)
                 if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
    callers = {f.name for f in functions for c in ast.walk(f) if isinstance(c, ast.Call)
               and getattr(c.func, "id", None) == "new_http_client"}
    assert callers == {"connect"}


def test_compose_lists_what_each_service_uses(compose: dict) -> None:
    found = [p for name in instrumented(compose)
             for p in problems(name, compose[name]["command"], compose[name]["environment"])]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("values", ["default", "production"])
def test_chart_lists_what_each_service_uses(values: str, compose: dict) -> None:
    objects = render(values)
    found = []
    for name in instrumented(compose):
        container = find(objects, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        found += problems(name, container["command"], container_env(container))
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("service", "edit", "expected"), [
    ("gateway", lambda d: d | {"httpx"},
     "gateway: its code imports httpx but OTEL_PYTHON_DISABLED_INSTRUMENTATIONS disables httpx"),
    ("session", lambda d: d - {"sqlite3"} if "sqlite3" in d else d | {"psycopg"},
     "session: its code imports"),
    ("watch", lambda d: d - {"psycopg"},
     "watch: psycopg is enabled but its code never imports psycopg"),
    ("feedback", lambda d: d - {"fastapi"}, "feedback: fastapi must be disabled"),
    ("gateway", lambda d: d | {"logging"}, "gateway: logging must stay enabled"),
    ("watch", lambda d: d | {"aio_pika"}, "names aio_pika, which is not an installed"),
])
def test_a_broken_list_is_flagged(compose: dict, service: str, edit, expected: str) -> None:
    env = compose[service]["environment"]
    disabled = {n for n in env[VAR].split(",") if n}
    assert not problems(service, compose[service]["command"], env)
    broken = {**env, VAR: ",".join(sorted(edit(disabled)))}
    assert any(expected in p for p in problems(service, compose[service]["command"], broken))


def test_a_service_that_starts_calling_others_needs_httpx(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           compose: dict) -> None:
    """The watch opening clients with `connect` (a copy of its api.py) uses httpx."""
    copy = tmp_path / "services/watch/api.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(MODULES["services.watch.api"].read_text()
                    + "\nfrom services.common.downstream import connect\n")
    monkeypatch.setitem(MODULES, "services.watch.api", copy)
    found = problems("watch", compose["watch"]["command"], compose["watch"]["environment"])
    assert any("watch: its code imports httpx" in p for p in found), found
