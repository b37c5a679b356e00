"""Commands that drive traffic refuse at once, naming what is wrong, when the stack is not
up (stackctl/preflight.py): not a minute of failed requests, not a stack trace."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from stackctl.settings import ROOT
from tests.support.ports import free_port


@pytest.mark.parametrize("target", [["load", "DURATION=5s"], ["load-ui"],
                                    ["bench-scenario", "NAME=pool_of_one"]],
                         ids=lambda t: t[0])
def test_refuses_at_once_when_the_stack_is_down(target: list[str]) -> None:
    gateway = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    # Its own process group, killed whole if it does not refuse: a command that went on
    # to start Locust must not leave it running (its web UI would load the stack).
    process = subprocess.Popen(["make", "--no-print-directory", *target], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "GATEWAY_URL": gateway},
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    took = time.monotonic() - started
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert f"{gateway}/healthz" in said and "make up" in said, said
    assert "Traceback" not in said, said
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert max(map(len, ours)) <= 80, "\n".join(ours)
    assert took < 10, f"{took:.1f} s before refusing"
