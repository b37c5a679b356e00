"""`make bench`'s footprint (the whole local stack's resident memory, idle and under load,
against the 700 MB budget) reads every process the stack runs: a process left out would
make the figure look better than the stack is. Checked on bench/run.py's own code, with
the process lookup and /proc reading replaced by a record of what was asked."""

from __future__ import annotations

import pytest

from bench import run as bench
from stackctl import local


def test_the_footprint_counts_every_process_of_the_stack(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def pids(names: tuple[str, ...]) -> dict[str, int]:
        asked.extend(names)
        return {name: 1000 + i for i, name in enumerate(names)}

    monkeypatch.setattr(bench, "stack_pids", pids)
    monkeypatch.setattr(bench, "rss_mb", lambda pid: 10.0)
    measured = bench.infra_rss()
    # What local mode runs by default (profiles off: PostgreSQL only with SESSION_DB).
    programs = {p.name for p in local.to_local(local.compose_model())}
    assert {"victorialogs", "rabbitmq", "watch"} <= set(measured)
    assert programs <= set(measured), programs - set(measured)
    assert set(asked) == set(measured)
