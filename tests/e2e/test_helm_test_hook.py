"""The chart's `helm test` script (deploy/helm/haptitalk/files/tests/roundtrip.py) against
the running stack: the same requests and the same wait for the trace in Jaeger's API that
the hook pod runs in a cluster."""

from __future__ import annotations

import subprocess
import sys

from tests.support.stack import ROOT, Endpoints

SCRIPT = ROOT / "deploy/helm/haptitalk/files/tests/roundtrip.py"


def test_the_helm_test_script_finds_its_trace(endpoints: Endpoints) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
        env={"GATEWAY_URL": endpoints.gateway, "JAEGER_URL": endpoints.jaeger,
             "DEADLINE_SECONDS": "60"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with spans of feedback, gateway, session" in result.stdout, result.stdout


def test_the_helm_test_script_fails_when_jaeger_has_no_such_trace(endpoints: Endpoints) -> None:
    """The control: pointed at an API that never has the trace (the gateway answers 404
    on /api/traces/<id>), it fails at its deadline and says what it saw."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60,
        env={"GATEWAY_URL": endpoints.gateway, "JAEGER_URL": endpoints.gateway,
             "DEADLINE_SECONDS": "5"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not complete in Jaeger within 5 s: spans of no service" in result.stderr
