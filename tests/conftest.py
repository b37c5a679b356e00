"""Every pytest run of this repository: with SKIP_LOG=<file> set (.ci/run sets it), each
skipped test is appended to that file as `<node id>\t<reason>`, so that CI can list every
skip at the end and fail on any skip not on the allow-list (tests/support/skips.py)."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    log = os.environ.get("SKIP_LOG")
    if not log or not report.skipped:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ").replace("\n", " ").replace("\t", " ")
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{report.nodeid}\t{reason}\n")
