"""Where a service's CPU goes: py-spy flame graphs and a table of the top costs.

`make bench PROFILE=1` records every service of a run with py-spy (sampling, from outside
the process: the services need no change), twice at once: an SVG flame graph to look at,
and the raw stacks this module sums into a table. Only samples where the thread holds
the GIL are kept (`--gil`): Python CPU time, not threads waiting on a lock or a socket.

Each sample is charged to the innermost frame that belongs to a package (stdlib frames
are charged to whoever called them), so "opentelemetry" is what the tracing libraries
themselves run, and everything else is what the service would run anyway.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent
RATE_HZ = 100
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


class Recording:
    """py-spy attached to each service for `seconds`; flame graphs and raw stacks in out."""

    def __init__(self, pids: dict[str, int], seconds: int, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.raw = {name: out / f"{name}.stacks.txt" for name in pids}
        self.procs = []
        for name, pid in pids.items():
            for fmt, path in (("flamegraph", out / f"{name}.svg"), ("raw", self.raw[name])):
                self.procs.append(subprocess.Popen(
                    [str(BIN / "py-spy"), "record", "--gil", "--full-filenames", "--nonblocking",
                     "-r", str(RATE_HZ), "-d", str(seconds), "-p", str(pid), "-f", fmt,
                     "-o", str(path)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def wait(self, timeout_s: float) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()


def owner(frame: str) -> str | None:
    """The package a frame belongs to (opentelemetry: its sub-package), None for stdlib."""
    match = FRAME.match(frame)
    path = match.group("file") if match else frame
    if "site-packages/" in path:
        parts = path.split("site-packages/", 1)[1].split("/")
        if parts[0] == "opentelemetry":
            return "opentelemetry." + ".".join(p.removesuffix(".py") for p in parts[1:3]
                                               if p != "__init__.py")
        return parts[0].removesuffix(".py")
    if "/services/" in path:
        return "services (the app)"
    return None


def function(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    short = match.group("file").split("site-packages/")[-1]
    return f"{match.group('function')} ({short})"


def costs(raw: Path) -> dict:
    """Samples per owner, and the tracing libraries' own hottest functions (self time)."""
    owners: Counter[str] = Counter()
    otel_functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples, frames = int(count), stack.split(";")
        total += samples
        found = next((o for o in map(owner, reversed(frames)) if o), "(interpreter)")
        owners[found] += samples
        if found.startswith("opentelemetry"):
            innermost = next(f for f in reversed(frames) if owner(f) == found)
            otel_functions[function(innermost)] += samples
    otel = sum(v for k, v in owners.items() if k.startswith("opentelemetry"))
    return {"samples": total, "opentelemetry_share": round(otel / total, 3) if total else 0,
            "owners": owners.most_common(12), "opentelemetry_functions":
            otel_functions.most_common(12)}


def table(per_service: dict[str, dict]) -> str:
    """Markdown: the top costs of each service."""
    lines = []
    for name, c in per_service.items():
        total = c["samples"] or 1
        lines += [f"### {name}: {c['samples']} samples at {RATE_HZ} Hz, "
                  f"{c['opentelemetry_share']:.0%} in opentelemetry", "",
                  "| share | charged to |", "|---|---|"]
        lines += [f"| {v / total:.1%} | {k} |" for k, v in c["owners"]]
        lines += ["", "| share | opentelemetry function (self) |", "|---|---|"]
        lines += [f"| {v / total:.1%} | `{k}` |" for k, v in c["opentelemetry_functions"]]
        lines.append("")
    return "\n".join(lines)
