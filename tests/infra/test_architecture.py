"""The import rules of docs/architecture.md, checked on the source (ast, nothing imported).

- services/ is what people copy: it never imports the tooling (stackctl, bench, loadtest,
  tests);
- services/common/ is shared by every service: it never imports a service, nor the
  scenario machinery;
- services/scenarios/ (the planted bottlenecks) builds on services/common/ only;
- stackctl/ (the Python behind make) never imports services, bench, loadtest or tests:
  it talks to the stack over HTTP, like a user;
- loadtest/ and bench/ never import services or tests;
- infra/ holds configs and builds only: no Python.

The last test copies the tree, plants a forbidden import and checks the checker says so.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from tests.support.stack import ROOT

SERVICES = ("gateway", "session", "feedback")
# (folder, what it must never import, why)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("services", ("stackctl", "bench", "loadtest", "tests"), "services never import tooling"),
    ("services/common", tuple(f"services.{s}" for s in (*SERVICES, "scenarios")),
     "common never imports a service"),
    ("services/scenarios", tuple(f"services.{s}" for s in SERVICES),
     "scenarios build on common only"),
    ("stackctl", ("services", "bench", "loadtest", "tests"), "stackctl talks HTTP, imports none"),
    ("loadtest", ("services", "bench", "tests"), "loadtest imports no service"),
    ("bench", ("services", "tests"), "bench imports no service"),
]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import; `from services import scenarios` counts as
    services.scenarios (a module or a name in it: the rules treat both alike)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    problems = [f"{p.relative_to(root)}: Python in infra/ (configs only)"
                for p in sorted((root / "infra").rglob("*.py"))]
    for folder, forbidden, why in RULES:
        for path in sorted((root / folder).rglob("*.py")):
            for line, module in imports(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    problems.append(f"{path.relative_to(root)}:{line} imports {module} ({why})")
    return sorted(problems)


def test_the_tree_follows_the_import_rules() -> None:
    assert violations(ROOT) == []


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
     "common never imports a service"),
    ("services/common/app.py", "from services import gateway",
     "common never imports a service"),
    ("services/scenarios/admin.py", "import services.feedback.scorer",
     "scenarios build on common only"),
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
