"""The integration guide's Node.js part, run: an Express service under the original
guide's tracing.js joins the same traces as the Python services (OTLP HTTP to 4318)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from stackctl.jaeger import Jaeger, Trace
from stackctl.settings import endpoints as stack_endpoints
from stackctl.wait import wait_until
from tests.support.stack import ROOT, Endpoints

EXAMPLE = ROOT / "docs/examples/node-service"
PORT = 8090


@pytest.fixture(scope="module")
def node_service(endpoints: Endpoints) -> Iterator[str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js/npm not installed: .ci/run installs them")
        pytest.skip("Node.js/npm not installed: the Node part of the guide is not run")
    if not (EXAMPLE / "node_modules").exists():
        install = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE,
                                 capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, install.stdout + install.stderr
    env = {**os.environ, "OTEL_SERVICE_NAME": "node-example", "PORT": str(PORT),
           "GATEWAY_URL": endpoints.gateway,
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
               f"{stack_endpoints().otlp_http}/v1/traces"}
    proc = subprocess.Popen(["node", "-r", "./tracing.js", "app.js"], cwd=EXAMPLE, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{PORT}"

    def started() -> bool:
        if proc.poll() is not None:
            return True  # exited: reported below
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(started, f"the Node example to answer {url}/healthz", 30)
    except AssertionError:
        proc.kill()
        raise
    if proc.poll() is not None:
        pytest.fail(f"the Node example did not start:\n{proc.stdout.read()}")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_node_service_joins_the_python_traces(node_service: str, gateway: httpx.Client,
                                              session_id: str, jaeger: Jaeger) -> None:
    response = httpx.get(f"{node_service}/coach/{session_id}", timeout=10)
    assert response.status_code == 200, response.text

    def joined(trace: Trace) -> bool:
        return bool(trace.find(service="node-example", operation="process-data")) and bool(
            trace.find(service="gateway", kind="server")) and bool(
            trace.find(service="session", kind="server"))

    # The Node service does not return a trace id; find its trace by service and session.
    def joined_trace() -> Trace | None:
        for trace in jaeger.find_traces("node-example", limit=20, lookback="5m"):
            manual = trace.find(service="node-example", operation="process-data")
            if manual and manual[0].tags.get("haptitalk.session.id") == session_id \
                    and joined(trace):
                return trace
        return None

    found = wait_until(joined_trace, "a trace joining node-example and the Python services",
                       20, 0.5)
    (manual,) = found.find(service="node-example", operation="process-data")
    (gateway_server,) = found.find(service="gateway", kind="server")
    # gateway's server span hangs under a Node client span, under the manual span.
    node_client = found.parent(gateway_server)
    assert node_client is not None and node_client.service == "node-example"
    assert manual.tags["process.status"] == "success"
