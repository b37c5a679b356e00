"""The import rules of docs/architecture.md, checked on the source (ast, nothing imported).

Inside services/, an allow-list (ALLOWED): each folder imports only these of ours
- gateway: common, scenarios, and session's and feedback's client.py and models.py;
- feedback: common, scenarios, and session's and watch's client.py and models.py;
- watch: common, scenarios, and session's models.py (it calls no service);
- session: common and scenarios (it calls no other service);
- scenarios (the planted bottlenecks): common;
- common: nothing of ours; telemetry (the distro): nothing of ours, and no one imports it.
Between folders (RULES):
- services/ is what people copy: it never imports the tooling (stackctl, bench, loadtest,
  tests);
- stackctl/ (the Python behind make) never imports services, bench, loadtest or tests:
  it talks to the stack over HTTP, like a user;
- loadtest/ and bench/ never import services or tests;
- infra/ holds configs and builds only: no Python.
Relative imports are resolved to the module they name, so `from ..session import store`
is checked like `from services.session import store`. And no module of ours imports
itself through others (a cycle), counting imports inside functions: a cycle works only
as long as someone remembers why an import had to be made lazy.

The last tests copy the tree, plant a forbidden import or a cycle and check the checker
says so.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from tests.support.stack import ROOT

SERVICES = ("gateway", "session", "feedback")
# What each folder of services/ may import of services/ (itself included), and why. Another
# service is reached only through its client.py (how it is called) and models.py (its
# contract): never its api.py, its store or its logic.
SHARED = ("services.common", "services.scenarios")
ALLOWED: dict[str, tuple[tuple[str, ...], str]] = {
    "services/gateway": ((*SHARED, "services.session.client", "services.session.models",
                          "services.feedback.client", "services.feedback.models"),
                         "gateway calls session and feedback through their client and models"),
    "services/feedback": ((*SHARED, "services.session.client", "services.session.models",
                           "services.watch.client", "services.watch.models"),
                          "feedback calls session and the watch through their client and models"),
    "services/watch": ((*SHARED, "services.session.models"),
                       "the watch calls no service; its cues are session's HapticCue"),
    "services/session": (SHARED, "session calls no service"),
    "services/scenarios": (("services.common",), "scenarios build on common only"),
    "services/common": ((), "common imports nothing of ours"),
    "services/telemetry": ((), "the distro imports nothing of ours"),
}
# (folder, what it must never import, why)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("services", ("stackctl", "bench", "loadtest", "tests"), "services never import tooling"),
    ("stackctl", ("services", "bench", "loadtest", "tests"), "stackctl talks HTTP, imports none"),
    ("loadtest", ("services", "bench", "tests"), "loadtest imports no service"),
    ("bench", ("services", "tests"), "bench imports no service"),
]


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every import; `from services import scenarios` counts as
    services.scenarios (a module or a name in it: the rules treat both alike), and a
    relative import as the absolute module it names."""
    package = list(path.relative_to(root).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    problems = [f"{p.relative_to(root)}: Python in infra/ (configs only)"
                for p in sorted((root / "infra").rglob("*.py"))]
    for path in sorted((root / "services").rglob("*.py")):
        parts = path.relative_to(root).parts
        # A folder always imports itself; a folder ALLOWED does not name (a new service, or
        # services/__init__.py) imports nothing of ours until it is added there.
        folder = "/".join(parts[:2]) if len(parts) > 2 else "services"
        allowed, why = ALLOWED.get(folder, ((), f"{folder} is not in ALLOWED"))
        allowed = (*allowed, folder.replace("/", ".")) if folder != "services" else allowed
        for line, module in imports(path, root):
            if within(module, ("services",)) and not within(module, allowed):
                problems.append(f"{path.relative_to(root)}:{line} imports {module} ({why})")
    for folder, forbidden, why in RULES:
        for path in sorted((root / folder).rglob("*.py")):
            for line, module in imports(path, root):
                if within(module, forbidden):
                    problems.append(f"{path.relative_to(root)}:{line} imports {module} ({why})")
    return sorted(problems)


def test_the_tree_follows_the_import_rules() -> None:
    assert violations(ROOT) == []


PYTHON_FOLDERS = ("services", "stackctl", "bench", "loadtest")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(root: Path) -> list[str]:
    """Each cycle once, as `a -> b -> a`; an import names the longest module of ours that
    prefixes it (`from bench.run import ROOT` is an edge to bench.run)."""
    files = {module_name(p, root): p for folder in PYTHON_FOLDERS
             for p in sorted((root / folder).rglob("*.py"))}
    edges: dict[str, set[str]] = {}
    for module, path in files.items():
        edges[module] = set()
        for _, name in imports(path, root):
            parts = name.split(".")
            target = next((".".join(parts[:n]) for n in range(len(parts), 0, -1)
                           if ".".join(parts[:n]) in files), None)
            if target and target != module:
                edges[module].add(target)
    found: list[str] = []
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                found.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    assert import_cycles(ROOT) == []


def test_a_planted_cycle_is_flagged(tmp_path: Path) -> None:
    copy = copy_of_tree(tmp_path)
    assert import_cycles(copy) == []
    report = copy / "bench" / "report.py"
    # bench.run imports bench.report (inside main): report importing run closes the loop.
    report.write_text(report.read_text() + "\n\ndef _later():\n    from bench.run import ROOT\n")
    assert import_cycles(copy) == ["bench.report -> bench.run -> bench.report"]


def copy_of_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for folder in ("services", "stackctl", "bench", "loadtest", "infra"):
        shutil.copytree(ROOT / folder, copy / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.sum"))
    return copy


@pytest.mark.parametrize(("file", "line", "expected"), [
    ("services/gateway/coaching.py", "from stackctl.settings import setting",
     "services never import tooling"),
    ("services/common/errors.py", "from services.session.models import Segment",
     "common imports nothing of ours"),
    ("services/common/app.py", "from services import gateway",
     "common imports nothing of ours"),
    ("services/common/baggage.py", "from services.telemetry import distro",
     "common imports nothing of ours"),
    ("services/scenarios/admin.py", "import services.feedback.scorer",
     "scenarios build on common only"),
    # A service calls another through its client.py and models.py, in the diagram's
    # direction only: session calls no one, feedback calls session.
    ("services/session/api.py", "from services.gateway.models import SessionView",
     "session calls no service"),
    ("services/session/store.py", "import services.feedback.client",
     "session calls no service"),
    ("services/feedback/scorer.py", "from services.gateway import coaching",
     "feedback calls session and the watch through their client and models"),
    ("services/feedback/api.py", "from services.session.api import app",
     "feedback calls session and the watch through their client and models"),
    ("services/feedback/rules.py", "from ..session import store",
     "feedback calls session and the watch through their client and models"),
    ("services/gateway/coaching.py", "from services.session.store import SessionStore",
     "gateway calls session and feedback through their client and models"),
    ("services/gateway/api.py", "from services.feedback.scorer import score",
     "gateway calls session and feedback through their client and models"),
    # The distro is loaded by opentelemetry-instrument, never imported by a service.
    ("services/gateway/api.py", "from services.telemetry.distro import INSTRUMENT_KWARGS",
     "gateway calls session and feedback through their client and models"),
    ("services/telemetry/distro.py", "from services.common.errors import ServiceError",
     "the distro imports nothing of ours"),
    ("stackctl/doctor.py", "from services.common.errors import ServiceError",
     "stackctl talks HTTP, imports none"),
    ("infra/jaeger/query.py", "import httpx", "configs only"),
])
def test_a_broken_copy_is_flagged(tmp_path: Path, file: str, line: str, expected: str) -> None:
    copy = copy_of_tree(tmp_path)
    assert violations(copy) == []
    target = copy / file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"{line}\n" + (target.read_text() if target.exists() else ""))
    found = violations(copy)
    assert len(found) == 1 and expected in found[0] and file in found[0], found
