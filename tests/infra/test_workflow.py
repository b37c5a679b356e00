"""The GitHub workflow (.github/workflows/*.yml), checked without GitHub: `make test`.

- actionlint (our build of github.com/rhysd/actionlint, ACTIONLINT_VERSION in .env) finds
  nothing: syntax, job and step keys, expressions and their contexts, runner labels,
  action inputs. It runs without shellcheck and pyflakes, which it would use when on PATH:
  the same answer on every machine.
- What actionlint cannot know, from the facts of GitHub's ubuntu-24.04 runners: the runner
  user is not root, so .ci/run's apt goes through sudo; Ubuntu 24.04 packages PostgreSQL 16
  only, so the job adds PostgreSQL's apt repository for the major .env pins; a clone has
  nothing outside its own folder; the compose path .ci/run leaves to another job is run by that job.
Each check is shown failing on a broken copy (docs/reliability.md); the linter's own
broken copies are tests below.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stackctl.tools import binary
from tests.support.stack import ROOT, dotenv

ACTIONLINT = binary("actionlint")
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
WORKFLOW = ROOT / ".github/workflows/compose-e2e.yml"
CI_RUN = ROOT / ".ci/run"
# Ubuntu 24.04 (noble) packages one PostgreSQL major: postgresql-16.
UBUNTU_2404_POSTGRES_MAJOR = "16"


def actionlint(*files: Path) -> list[str]:
    """actionlint's findings, one `<kind>: <message>` each (its exit status: 0 for none,
    1 for findings, anything else a failure of the tool itself)."""
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT.relative_to(ROOT)} is not built: run "
                    "`infra/builds/build.sh actionlint` (make test builds it)")
    result = subprocess.run([str(ACTIONLINT), "-no-color", "-shellcheck=", "-pyflakes=",
                             "-format", "{{json .}}", *map(str, files)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    findings = [f"{e['filepath']}:{e['line']}: {e['kind']}: {e['message']}"
                for e in json.loads(result.stdout or "[]")]
    assert bool(findings) == (result.returncode == 1), result.stdout
    return findings


def jobs(path: Path = WORKFLOW) -> dict[str, dict]:
    return yaml.safe_load(path.read_text())["jobs"]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def ci_run_job() -> tuple[str, dict]:
    found = [(name, job) for name, job in jobs().items() if ".ci/run" in runs(job)]
    assert len(found) == 1, f"want one job running .ci/run, found {[n for n, _ in found]}"
    return found[0]


def test_actionlint_finds_nothing() -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"
    findings = actionlint(*WORKFLOWS)
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("old, new, finding", [
    ("runs-on: ubuntu-24.04", "runs-on: ubuntu-2404", 'runner-label: label "ubuntu-2404"'),
    ("${{ github.workspace }}", "${{ github.workspaces }}",
     'expression: property "workspaces" is not defined'),
    ("go-version-file:", "go-versionfile:", 'action: input "go-versionfile" is not defined'),
    ("timeout-minutes: 30", "timeout-minute: 30",
     'syntax-check: unexpected key "timeout-minute"'),
])
def test_actionlint_fails_a_broken_copy(tmp_path, old: str, new: str, finding: str) -> None:
    """The check cannot pass vacuously: each planted fault in a copy is reported."""
    text = WORKFLOW.read_text()
    assert old in text
    copy = tmp_path / ".github/workflows" / WORKFLOW.name
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(old, new, 1))
    findings = actionlint(copy)
    assert any(finding in line for line in findings), "\n".join(findings) or "no finding"


def test_ci_run_uses_sudo_for_apt_when_not_root() -> None:
    """GitHub runs steps as the runner user: every apt-get of .ci/run goes through
    as_root (itself when root, as this machine's CI is; sudo otherwise)."""
    bare = [line.strip() for line in CI_RUN.read_text().splitlines()
            if re.search(r"\bapt-get\s+(update|install)\b", line.split("#")[0])
            and "as_root" not in line]
    assert not bare, f".ci/run runs apt-get without as_root: {bare}"
    assert re.search(r"elif command -v sudo >/dev/null; then sudo \"\$@\"", CI_RUN.read_text())


def test_the_pinned_postgres_major_has_an_apt_source_on_ubuntu() -> None:
    """postgresql-<POSTGRES_VERSION> is not an Ubuntu 24.04 package unless the major is
    Ubuntu's: then the job adds PostgreSQL's apt repository before .ci/run installs it."""
    name, job = ci_run_job()
    assert job["runs-on"] == "ubuntu-24.04"
    if dotenv()["POSTGRES_VERSION"] == UBUNTU_2404_POSTGRES_MAJOR:
        return
    steps = [step.get("run", "") for step in job["steps"]]
    before = "\n".join(steps[:next(i for i, run in enumerate(steps) if ".ci/run" in run)])
    assert "https://apt.postgresql.org/pub/repos/apt" in before, (
        f"job {name}: .ci/run installs postgresql-{dotenv()['POSTGRES_VERSION']}, which "
        f"Ubuntu 24.04 does not package, and no step before it adds PostgreSQL's repository")


# A path that leaves the checkout (`../<name>`): a clone on GitHub has nothing there.
OUTSIDE = re.compile(r"(?<![\w/.])\.\./\w")


def test_nothing_a_clone_runs_needs_a_file_outside_it() -> None:
    """The workflow names no path outside the checkout, and .ci/run reads its one optional
    file there (the vendored Jaeger UI source of this machine's CI) only after checking it
    exists."""
    for path in WORKFLOWS:
        assert not OUTSIDE.search(path.read_text()), path
    text = CI_RUN.read_text()
    code = [line.split("#")[0] for line in text.splitlines()]
    assignments = [line for line in code if OUTSIDE.search(line)]
    assert all(re.match(r"\s*\w+=\"\.\./\w", line) for line in assignments), assignments
    for line in assignments:
        var = line.split("=")[0].strip()
        uses = [i for i, c in enumerate(code) if f"${var}" in c or f"${{{var}}}" in c]
        guard = next((i for i, c in enumerate(code) if f'-f "${var}"' in c), None)
        assert guard is not None and all(i >= guard for i in uses), (
            f".ci/run uses ${var} (outside the checkout) without checking it exists first")


def test_the_compose_path_left_to_another_job_is_run_there() -> None:
    """.ci/run skips .ci/compose-e2e when CI_COMPOSE_JOB names a job: that job must exist
    in the same workflow and run the e2e suite and the PostgreSQL tests on compose."""
    name, job = ci_run_job()
    other = job.get("env", {}).get("CI_COMPOSE_JOB")
    if other is None:
        return  # .ci/run runs .ci/compose-e2e itself
    assert other in jobs(), f"job {name}: CI_COMPOSE_JOB={other}, no such job"
    compose_job = jobs()[other]
    assert compose_job.get("env", {}).get("STACK") == "compose", compose_job
    for command in ("make up", "make test-e2e", "make test-postgres"):
        assert command in runs(compose_job), f"job {other} does not run {command}"
