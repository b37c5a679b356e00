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


def help_listing() -> tuple[dict[str, str], list[str]]:
    """Each target's description (its wrapped lines joined), and the lines as printed."""
    result = subprocess.run(["make", "--no-print-directory", "-f", "Makefile", "help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = ANSI.sub("", result.stdout).splitlines()
    listed: dict[str, str] = {}
    name = ""
    for line in lines:
        if line.startswith("  ") and not line[2].isspace():
            name, _, description = line.strip().partition(" ")
            if name.endswith(":"):  # the Mode line
                name = ""
                continue
            listed[name] = description.strip()
        elif name and line.strip():  # a description's next line, under the first
            listed[name] += " " + line.strip()
    return listed, lines


def test_make_help_lists_every_target_with_a_description() -> None:
    listed, _ = help_listing()
    missing = sorted(phony_targets() - listed.keys())
    assert not missing, f"make help does not list: {missing}"
    assert all(listed[name] for name in phony_targets()), listed


def test_make_help_fits_80_columns_and_wraps_under_the_description() -> None:
    listed, lines = help_listing()
    wide = [line for line in lines if len(line) > 80]
    assert not wide, wide
    # A description too long for one line goes on whole, aligned under its first line.
    assert listed["up"].endswith("and wait until healthy"), listed["up"]
    assert len(listed) == len(phony_targets() | {"help"}), sorted(listed)
