"""`make bench`'s footprint (the whole local stack's resident memory, idle and under load,
against the 700 MB budget) reads every process the stack runs: a process left out would
make the figure look better than the stack is. Checked on bench/run.py's own code, with
the process lookup and /proc reading replaced by a record of what was asked."""

from __future__ import annotations

import pytest

from bench import report
from bench import run as bench
from stackctl import local


@pytest.mark.parametrize("reading", ["rss", "pss"])
def test_the_footprint_counts_every_process_of_the_stack(
        monkeypatch: pytest.MonkeyPatch, reading: str) -> None:
    asked: list[str] = []

    def pids(names: tuple[str, ...]) -> dict[str, int]:
        asked.extend(names)
        return {name: 1000 + i for i, name in enumerate(names)}

    monkeypatch.setattr(bench, "stack_pids", pids)
    monkeypatch.setattr(bench, "rss_mb", lambda pid: 10.0)
    monkeypatch.setattr(bench, "pss_mb", lambda pid: 10.0)
    measured = bench.infra_memory()[reading]
    # What local mode runs by default (profiles off: PostgreSQL only with SESSION_DB).
    programs = {p.name for p in local.to_local(local.compose_model())}
    assert {"victorialogs", "rabbitmq", "watch"} <= set(measured)
    assert programs <= set(measured), programs - set(measured)
    assert set(asked) == set(measured)


def test_the_stack_total_counts_the_loaded_copies_in_place_of_the_idle_services() -> None:
    readings = {"jaeger": 100.0, "watch": 50.0, "gateway": 40.0, "session": 40.0,
                "feedback": 40.0, "gateway (bench copy)": 60.0,
                "session (bench copy)": 61.0, "feedback (bench copy)": 62.0}
    assert report.stack_total(readings) == 100 + 50 + 60 + 61 + 62
