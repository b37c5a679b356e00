"""`make help` is the list a newcomer reads first: every target the Makefile declares
phony must be on it with its one-line description (a regex without digits once hid
`test-e2e`)."""

from __future__ import annotations

import re
import subprocess

from stackctl.settings import ROOT

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def phony_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith(".PHONY:")]
    assert lines, "the Makefile declares no .PHONY targets"
    return {name for line in lines for name in line.removeprefix(".PHONY:").split()}


def help_listing() -> dict[str, str]:
    result = subprocess.run(["make", "--no-print-directory", "-f", "Makefile", "help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {}
    for line in ANSI.sub("", result.stdout).splitlines():
        name, _, description = line.strip().partition(" ")
        if name and not name.endswith(":"):
            listed[name] = description.strip()
    return listed


def test_make_help_lists_every_target_with_a_description() -> None:
    listed = help_listing()
    missing = sorted(phony_targets() - listed.keys())
    assert not missing, f"make help does not list: {missing}"
    assert all(listed[name] for name in phony_targets()), listed
