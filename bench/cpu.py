"""CPU time per process group, from /proc: where the time of a benchmark run goes.

A group is a set of root pids; each root's descendants (uvicorn workers, Locust's
children) count with it. utime + stime of every thread, read before and after a run.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" of comm: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


class GroupCpu:
    """CPU seconds of named groups of process trees, between start() and stop().

    Descendants are found at both ends: a child that lived only in between is missed,
    so groups should be long-lived processes (servers, the load generator's parent
    with `--processes` off)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before: dict[int, float] = {}

    def _read(self) -> dict[int, float]:
        return {p: cpu_seconds(p) for roots in self.groups.values()
                for root in roots for p in tree(root)}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        out = {}
        for name, roots in self.groups.items():
            pids = {p for root in roots for p in tree(root)} | {
                p for p in self.before if any(p in tree(r) for r in roots)}
            out[name] = round(sum(after.get(p, 0.0) - self.before.get(p, 0.0)
                                  for p in pids if p in after), 3)
        return out
