"""The Markdown a reader clicks through: every relative link in a tracked `.md` file points
at a file or folder that exists, and every `#anchor` (in the same file or another one) at
a heading there. Anchors follow GitHub's rule: the heading's text, lower-cased, without
punctuation other than `-` and `_`, spaces as `-`, a repeated heading gets `-1`, `-2`...
Links and headings inside code (fenced blocks, `inline`) do not count."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from stackctl.settings import ROOT

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target); the target may be <wrapped> and have a "title".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_files(root: Path) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.md"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    return [root / name for name in listed.split("\0") if name]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path):
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def dead_links(root: Path, files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        for number, line in prose_lines(path):
            for match in LINK.finditer(INLINE_CODE.sub("", line)):
                target = match.group(1).strip("<>")
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
                    continue
                where = f"{path.relative_to(root)}:{number}: {target}"
                file_part, _, anchor = target.partition("#")
                linked = (path.parent / file_part).resolve() if file_part else path
                if not linked.exists():
                    problems.append(f"{where} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    problems.append(f"{where} (no heading #{anchor} in {linked.name})")
    return problems


def test_every_relative_link_in_the_markdown_resolves() -> None:
    files = markdown_files(ROOT)
    assert ROOT / "README.md" in files
    assert dead_links(ROOT, files) == []


def test_a_dead_link_or_anchor_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tour.md").write_text(
        "# The tour\n\n## 1. `pool_of_one`: one slot\n\n```bash\n# not a heading\n```\n"
        "Back to [the start](../README.md#start-here).\n")
    readme = tmp_path / "README.md"
    readme.write_text("\n".join([
        "# Project", "## Start here",
        "[tour](docs/tour.md) [step](docs/tour.md#1-pool_of_one-one-slot) [up](#start-here)",
        "[moved](docs/no-such-page.md) and [gone](docs/tour.md#not-a-heading)",
        "[here](#no-such-section) but `[code](not/a/link.md)` is code",
        "```", "[also code](not/a/link.md)", "```", "[web](https://example.com/x.md)", ""]))
    files = [readme, tmp_path / "docs" / "tour.md"]
    assert dead_links(tmp_path, files) == [
        "README.md:4: docs/no-such-page.md (no such file)",
        "README.md:4: docs/tour.md#not-a-heading (no heading #not-a-heading in tour.md)",
        "README.md:5: #no-such-section (no heading #no-such-section in README.md)",
    ]


def test_headings_become_githubs_anchors() -> None:
    assert slug("Two commands on a fresh machine") == "two-commands-on-a-fresh-machine"
    assert slug("1. `make up`: what it does") == "1-make-up-what-it-does"
    assert slug("Past one machine: Kubernetes") == "past-one-machine-kubernetes"
    assert slug("[Jaeger](https://jaegertracing.io) v2 & the UI") == "jaeger-v2--the-ui"


README_MAX_LINES = 180  # a front door, read in five minutes; the rest lives in docs/


def test_the_readme_stays_a_front_door() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move a part to docs/"
