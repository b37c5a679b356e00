"""The CI skip gate (tests/support/skips.py): a skip passes only when the allow-list
explains it, by node id and reason both; the real allow-list is well formed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import skips

ROOT = Path(__file__).resolve().parents[2]


def gate(tmp: Path, log: str, allow: str) -> subprocess.CompletedProcess[str]:
    (tmp / "skips.log").write_text(log)
    (tmp / "allow.txt").write_text(allow)
    return subprocess.run([sys.executable, "-m", "tests.support.skips", str(tmp / "skips.log"),
                           str(tmp / "allow.txt")], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)


ALLOW = "tests/e2e/test_x.py | local runner | compose recreates it\n"


def test_an_explained_skip_passes_and_is_listed(tmp_path: Path) -> None:
    result = gate(tmp_path, "tests/e2e/test_x.py::test_a\tlocal runner (compose)\n", ALLOW)
    assert result.returncode == 0, result.stdout
    assert "allowed: tests/e2e/test_x.py::test_a: local runner (compose)" in result.stdout


@pytest.mark.parametrize("line", [
    "tests/e2e/test_y.py::test_a\tlocal runner (compose)\n",  # another test
    "tests/e2e/test_x.py::test_a\tno Chromium: install it\n",  # another reason
])
def test_a_skip_the_list_does_not_explain_fails(tmp_path: Path, line: str) -> None:
    result = gate(tmp_path, line, ALLOW)
    assert result.returncode == 1, result.stdout
    assert "NOT ALLOWED: " in result.stdout
    assert "1 skip(s) not on" in result.stdout


def test_no_skip_passes(tmp_path: Path) -> None:
    assert gate(tmp_path, "", ALLOW).returncode == 0


def test_an_entry_without_a_why_is_refused(tmp_path: Path) -> None:
    result = gate(tmp_path, "", "tests/e2e/test_x.py | local runner\n")
    assert result.returncode == 2
    assert "allow.txt:1: want `node id | reason | why`" in result.stderr


def test_the_repositorys_allow_list_is_well_formed() -> None:
    entries = skips.read_allow_list(skips.ALLOW_LIST)
    assert entries and all(len(e.why) > 20 for e in entries)


def test_the_conftest_records_a_skip(tmp_path: Path) -> None:
    """The real hook (tests/conftest.py) in a real pytest run writes the log line."""
    case = ROOT / "tests/unit/_skip_probe_test.py"
    case.write_text("import pytest\n\ndef test_probe():\n    pytest.skip('probe reason')\n")
    try:
        log = tmp_path / "log"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(case)], cwd=ROOT, capture_output=True, timeout=60,
                       env={**__import__("os").environ, "SKIP_LOG": str(log)})
    finally:
        case.unlink()
    assert log.read_text() == "tests/unit/_skip_probe_test.py::test_probe\tprobe reason\n"
