"""The end of a CI run: every test that skipped, with its reason, and a failure for any
skip that the allow-list does not explain.

    python -m tests.support.skips <skip log> [<allow-list>]   (.ci/run)

The skip log is what tests/conftest.py wrote (SKIP_LOG). The allow-list
(tests/allowed-skips.txt) holds one entry a line: `<node id prefix> | <reason prefix> |
why this skip is expected in CI`. A skip is allowed when both prefixes match.
Exit status 0: every skip explained; 1: the unexplained ones are listed; 2: bad input.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ALLOW_LIST = Path(__file__).resolve().parents[1] / "allowed-skips.txt"


@dataclass(frozen=True)
class Allowed:
    node: str
    reason: str
    why: str

    def covers(self, node: str, reason: str) -> bool:
        return node.startswith(self.node) and reason.startswith(self.reason)


def read_allow_list(path: Path) -> list[Allowed]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{path.name}:{number}: want `node id | reason | why`: {line!r}")
        entries.append(Allowed(*parts))
    return entries


def read_log(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split("\t", 1)) for line in path.read_text().splitlines() if "\t" in line]


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    skips = read_log(Path(argv[0]))
    try:
        allowed = read_allow_list(Path(argv[1]) if len(argv) > 1 else ALLOW_LIST)
    except (OSError, ValueError) as exc:
        print(f"allow-list: {exc}", file=sys.stderr)
        return 2
    unexplained = []
    print(f"{len(skips)} skipped test(s) in this run:")
    for node, reason in skips:
        entry = next((a for a in allowed if a.covers(node, reason)), None)
        mark = "allowed" if entry else "NOT ALLOWED"
        print(textwrap.fill(f"{mark}: {node}: {reason}", 78, subsequent_indent="    "))
        if entry is None:
            unexplained.append(node)
    if unexplained:
        print(f"\n{len(unexplained)} skip(s) not on {ALLOW_LIST.name}: a skip in CI hides "
              "what it skipped; fix the cause, or add an entry saying why it is expected.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
