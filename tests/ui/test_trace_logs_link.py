"""From a trace to its logs, in a real browser: call the gateway, open the call's trace
page in the Jaeger UI, click "Logs for this trace", and read the call's log lines in
VictoriaLogs' web UI, the same lines its query API returns for the trace id. The
screenshot of the logs tab is reports/ui/<test>-logs.png."""

from __future__ import annotations

from stackctl.jaeger import Jaeger, complete
from stackctl.jaeger_ui import JaegerUI, victorialogs_shows
from stackctl.logs import VictoriaLogs
from stackctl.sample import SEGMENT, send
from stackctl.settings import Endpoints
from tests.ui.conftest import REPORTS


def test_the_trace_pages_logs_link_shows_the_calls_log_lines(
        ui: JaegerUI, endpoints: Endpoints, jaeger: Jaeger, user_id: str) -> None:
    trace_id = send(endpoints.gateway, user_id)
    jaeger.wait_for_trace(trace_id, complete, "the segment call's whole trace")
    store = VictoriaLogs(endpoints.victorialogs)
    lines = store.wait_for_trace_lines(
        trace_id, lambda seen: any(line.service == "feedback" for line in seen),
        "feedback's decision line")

    logs = ui.open_trace_logs(trace_id)
    try:
        assert logs.url.startswith(f"{endpoints.victorialogs.replace('127.0.0.1', 'localhost')}"
                                   "/select/vmui/"), logs.url
        shown = victorialogs_shows(logs, [line.message for line in lines])
        # Every line of the trace, and no other trace's: the store's count for the id.
        assert shown == len(store.trace_lines(trace_id)), (shown, lines)
        assert SEGMENT["text"] not in logs.locator("body").inner_text()
    finally:
        logs.screenshot(path=str(REPORTS / "test_the_trace_pages_logs_link_shows_the_calls_"
                                           "log_lines-logs.png"))
