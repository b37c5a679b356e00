"""docs/architecture.md's promise: the suite without the planted bottlenecks is
services/scenarios/ deleted and three mechanical edits, and then it still works.

The edits (services/scenarios/__init__.py names the forms the services may use):
1. every import from services.scenarios is deleted;
2. every `if scenarios.is_on("<name>"):` block is replaced by its `else:` (the broken path
   goes, the fixed path stays);
3. every statement that only calls a name imported from there (`install_admin(...)`) is
   deleted.
Any other use of such a name is scenario code outside its switch, and is reported. The
test makes the edits on a copy of the tree (ast: the copy loses its comments), drops the
unit tests of the scenarios themselves (the modules that import services.scenarios) and
runs the rest of tests/unit in the copy.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.stack import ROOT

PACKAGE = "services.scenarios"


def from_scenarios(node: ast.stmt) -> list[str] | None:
    """The names an import statement binds from services.scenarios, or None if it
    imports nothing from there."""
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module == PACKAGE or node.module.startswith(PACKAGE + "."):
            return [a.asname or a.name for a in node.names]
        if node.module == "services" and any(a.name == "scenarios" for a in node.names):
            return [a.asname or a.name for a in node.names]
    if isinstance(node, ast.Import) and any(a.name.startswith(PACKAGE) for a in node.names):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    return None


def mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def is_switch(test: ast.expr, names: set[str]) -> bool:
    """`scenarios.is_on(...)`, exactly."""
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute)
            and test.func.attr == "is_on" and isinstance(test.func.value, ast.Name)
            and test.func.value.id in names)


def strip_block(body: list[ast.stmt], names: set[str], where: str,
                problems: list[str]) -> list[ast.stmt]:
    kept: list[ast.stmt] = []
    for stmt in body:
        if from_scenarios(stmt) is not None:
            continue
        if isinstance(stmt, ast.If) and is_switch(stmt.test, names):
            kept += strip_block(stmt.orelse, names, where, problems)
            continue
        if (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id in names):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, field, strip_block(inner, names, where, problems)
                        or ([ast.Pass()] if field == "body" else []))
        for handler in getattr(stmt, "handlers", []):
            handler.body = strip_block(handler.body, names, where, problems) or [ast.Pass()]
        # A compound statement is judged by its own line (its blocks were judged above).
        own = [value for field, value in ast.iter_fields(stmt)
               if field not in ("body", "orelse", "finalbody", "handlers")]
        if any(mentions(node, names) for value in own
               for node in (value if isinstance(value, list) else [value])
               if isinstance(node, ast.AST)):
            problems.append(f"{where}:{stmt.lineno} uses scenario code outside an "
                            "`if scenarios.is_on(...)` block")
        kept.append(stmt)
    return kept


def strip(source: str, where: str, problems: list[str]) -> str | None:
    """The module without its scenario code (None: it had none)."""
    tree = ast.parse(source)
    names = {name for node in ast.walk(tree) if isinstance(node, ast.stmt)
             for name in (from_scenarios(node) or [])}
    if not names:
        return None
    tree.body = strip_block(tree.body, names, where, problems)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def without_scenarios(root: Path) -> list[str]:
    """Makes the three edits in the tree at `root`; returns the uses it could not strip."""
    shutil.rmtree(root / "services" / "scenarios")
    problems: list[str] = []
    for path in sorted((root / "services").rglob("*.py")):
        stripped = strip(path.read_text(), str(path.relative_to(root)), problems)
        if stripped is not None:
            path.write_text(stripped)
    for path in sorted((root / "tests" / "unit").glob("test_*.py")):
        if any(from_scenarios(node) is not None for node in ast.walk(ast.parse(
                path.read_text())) if isinstance(node, ast.stmt)):
            path.unlink()  # a test of the scenarios themselves
    return problems


def copy_of_tree(tmp_path: Path) -> Path:
    """The working tree as git sees it (tracked and new files, nothing ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    copy = tmp_path / "repo"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
        elif source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).symlink_to(os.readlink(source))
    # The programs `make tools` installed (VictoriaLogs, ...), which some unit tests run.
    if (ROOT / ".tools").exists():
        (copy / ".tools").symlink_to(ROOT / ".tools")
    return copy


def unit_tests(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("ADMIN_API", None)
    return subprocess.run([sys.executable, "-m", "pytest", "tests/unit", "-q", "-x",
                           "-p", "no:cacheprovider"], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=900)


def test_the_unit_tests_pass_without_the_scenarios(tmp_path: Path) -> None:
    copy = copy_of_tree(tmp_path)
    assert without_scenarios(copy) == []
    result = unit_tests(copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]


def test_scenario_code_outside_a_switch_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "services", copy / "services",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tests" / "unit").mkdir(parents=True)
    scorer = copy / "services" / "feedback" / "scorer.py"
    # The old shape: the pool size read from the scenario whether it is on or not.
    lines = scorer.read_text().splitlines(keepends=True)
    line = lines.index("        size = SCORER_SLOTS\n")
    lines[line] = '        size = scenarios.get("pool_of_one").param("slots")\n'
    scorer.write_text("".join(lines))
    assert without_scenarios(copy) == [
        f"services/feedback/scorer.py:{line + 1} uses scenario code outside an "
        "`if scenarios.is_on(...)` block"]
