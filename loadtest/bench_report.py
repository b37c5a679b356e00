"""The markdown table of docs/scenarios.md, from the newest reports/bench-<name>-*/result.json
of each scenario (written by `make bench-scenario`, all of them by loadtest/bench_all.sh)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from loadtest.bench_scenario import AFFECTED

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    lines = [
        "| scenario | all req/s off → on | affected endpoint | p50 off → on | "
        "p95 off → on | failures off → on |",
        "|---|---|---|---|---|---|",
    ]
    for name, endpoint in AFFECTED.items():
        runs = sorted((ROOT / "reports").glob(f"bench-{name}-*/result.json"))
        if not runs:
            lines.append(f"| `{name}` | (not run) | | | | |")
            continue
        r = json.loads(runs[-1].read_text())
        off, on = r["off"], r["on"]
        lines.append(
            f"| `{name}` | {off['all']['rps']:g} → {on['all']['rps']:g} "
            f"({on['all']['rps'] / off['all']['rps']:.2f}x) | `{endpoint}` | "
            f"{off['affected']['p50_ms']:g} → {on['affected']['p50_ms']:g} "
            f"({on['affected']['p50_ms'] / off['affected']['p50_ms']:.1f}x) | "
            f"{off['affected']['p95_ms']:g} → {on['affected']['p95_ms']:g} "
            f"({on['affected']['p95_ms'] / off['affected']['p95_ms']:.1f}x) | "
            f"{off['affected']['failures']} → {on['affected']['failures']} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
