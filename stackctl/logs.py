"""A trace's log lines, read from VictoriaLogs (the log store): what the Jaeger trace page's
"Logs for this trace" link opens in VictoriaLogs' web UI, for a terminal.

    make trace-logs ID=<trace id>       # python -m stackctl.logs show <trace id>

Every log record a service writes while it handles a request carries the request's
trace_id (OpenTelemetry's logging instrumentation); the collector ships it to VictoriaLogs,
which keeps trace_id as a field. This asks VictoriaLogs' LogsQL query API for
`trace_id:"<id>"` and prints one line per record, oldest first, wrapped at 80 columns.

Every call has a timeout; a VictoriaLogs that does not answer is one clear sentence
(LogStoreDown), not a stack trace. The tests, `make doctor` and the command above all read
logs through VictoriaLogs below.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import httpx

from stackctl.settings import endpoints
from stackctl.wait import wait_until

# Connect: VictoriaLogs is on this machine or next to it, so 3 s means it is not there. Read:
# a query over a trace's few lines takes milliseconds; 10 s leaves room for a busy store.
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
WIDTH = 80
TRACE_ID = re.compile(r"[0-9a-f]{32}")
# The fields that make up a printed line; the others are shown by the web UI.
SHOWN = {"_msg", "_time", "_stream", "_stream_id", "service.name", "severity_text",
         "trace_id", "span_id"}


# Trace ids in one LogsQL query: 200 x ~36 bytes stays well under VictoriaLogs' default
# -search.maxQueryLen (16384 bytes).
TRACES_PER_QUERY = 200

class LineCount(NamedTuple):
    """A trace's stored lines, and the distinct records among them (fewer when a batch
    was delivered twice)."""
    lines: int
    records: int


class LogStoreDown(RuntimeError):
    """VictoriaLogs did not answer (down, wrong port) or refused the query."""


@dataclass(frozen=True)
class LogLine:
    time: datetime
    service: str
    severity: str
    message: str
    trace_id: str
    span_id: str
    fields: dict[str, str] = field(default_factory=dict)  # every other field it stored

    @classmethod
    def parse(cls, row: dict[str, str]) -> LogLine:
        return cls(time=parse_time(row["_time"]), service=row.get("service.name", "?"),
                   severity=row.get("severity_text", ""), message=row.get("_msg", ""),
                   trace_id=row.get("trace_id", ""), span_id=row.get("span_id", ""),
                   fields={k: v for k, v in row.items() if k not in SHOWN})


def parse_time(value: str) -> datetime:
    """VictoriaLogs' _time (RFC 3339, nanoseconds): Python keeps microseconds."""
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    if not match:
        raise ValueError(f"not a VictoriaLogs time: {value!r}")
    whole, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{whole}.{micros}{'+00:00' if zone == 'Z' else zone}")


def trace_query(trace_id: str) -> str:
    """The LogsQL for one trace's lines. The id is checked first: it is pasted into a
    query, so anything but 32 hex digits is refused (ValueError)."""
    trace_id = trace_id.strip().lower()
    if not TRACE_ID.fullmatch(trace_id):
        raise ValueError(f"{trace_id!r} is not a trace id (32 hex digits, as in X-Trace-Id)")
    return f'trace_id:"{trace_id}"'


class VictoriaLogs:
    """VictoriaLogs' HTTP API at base_url (http://127.0.0.1:9428)."""

    def __init__(self, base_url: str, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _get(self, path: str, **params: str) -> httpx.Response:
        try:
            response = self.http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise LogStoreDown(f"VictoriaLogs at {self.base_url} did not answer within "
                               f"{self.http.timeout.read:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise LogStoreDown(
                f"VictoriaLogs does not answer at {self.base_url} ({exc}): is it running? "
                "`make status` says; `make up` starts it (VICTORIALOGS_PORT in .env)") from exc
        if response.status_code != 200:
            raise LogStoreDown(f"VictoriaLogs answered {response.status_code} to {path}: "
                               f"{response.text.strip()[:300]}")
        return response

    def healthy(self) -> bool:
        try:
            return self._get("/health").text.strip() == "OK"
        except LogStoreDown:
            return False

    def query(self, logsql: str, limit: int = 1000) -> list[dict[str, str]]:
        """The rows a LogsQL query returns, oldest first (at most `limit`)."""
        response = self._get("/select/logsql/query", query=f"{logsql} | sort by (_time)",
                             limit=str(limit))
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def lines_per_trace(self, trace_ids: list[str],
                        services: tuple[str, ...]) -> dict[str, LineCount]:
        """How many lines each trace has from these services (traces with none left out),
        and how many distinct records they are: the collector delivers at least once, so a
        batch whose answer was lost (VictoriaLogs stopping, a timeout) is sent again and
        stored twice. A record is its time (nanoseconds), span and message. Counted by
        VictoriaLogs (LogsQL stats), TRACES_PER_QUERY traces a query (its
        -search.maxQueryLen is 16 KB: ~480 ids did not fit)."""
        names = ",".join(f'"{s}"' for s in services)
        counts: dict[str, LineCount] = {}
        for start in range(0, len(trace_ids), TRACES_PER_QUERY):
            ids = ",".join(trace_query(t).removeprefix("trace_id:")
                           for t in trace_ids[start:start + TRACES_PER_QUERY])
            response = self._get(
                "/select/logsql/query", query=f"trace_id:in({ids}) service.name:in({names}) "
                "| stats by (trace_id) count() lines, count_uniq(_time, span_id, _msg) records")
            rows = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            counts.update({row["trace_id"]: LineCount(int(row["lines"]), int(row["records"]))
                           for row in rows})
        return counts

    def trace_lines(self, trace_id: str) -> list[LogLine]:
        return [LogLine.parse(row) for row in self.query(trace_query(trace_id))]

    def wait_for_trace_lines(self, trace_id: str,
                             enough: Callable[[list[LogLine]], bool] = bool,
                             what: str = "the trace's log lines",
                             deadline_s: float = 15.0) -> list[LogLine]:
        """Poll until the trace's lines satisfy `enough` (default: there is one), or fail
        with what was seen when deadline_s passes (WaitTimeout)."""
        seen: list[LogLine] = []

        def check() -> list[LogLine] | None:
            seen[:] = self.trace_lines(trace_id)
            return list(seen) if enough(seen) else None

        return wait_until(check, f"{what} (trace {trace_id}) in VictoriaLogs", deadline_s,
                          0.2, seen=lambda: "; ".join(f"{s.service}: {s.message}"
                                                      for s in seen) or "no line")

    def ui_link(self, trace_id: str, around: datetime | None = None) -> str:
        """The web UI on the same query, as the Jaeger trace page's link opens it: the hour
        up to a minute after `around` (the trace's last line), else the last hour."""
        params = {"query": trace_query(trace_id), "g0.range_input": "1h", "limit": "1000"}
        if around is not None:
            end = around + timedelta(minutes=1)
            params["g0.end_input"] = end.strftime("%Y-%m-%dT%H:%M:%S.") + \
                f"{end.microsecond // 1000:03d}Z"
        return f"{self.base_url}/select/vmui/#/?{urllib.parse.urlencode(params)}"


def render(lines: list[LogLine], width: int = WIDTH) -> list[str]:
    """One record per line: time, service, level, message; a long message wraps under
    itself, so no printed line is wider than `width`."""
    if not lines:
        return []
    service_w = max(len(line.service) for line in lines)
    level_w = max(len(line.severity) for line in lines)
    out = []
    for line in lines:
        prefix = (f"{line.time:%H:%M:%S}.{line.time.microsecond // 1000:03d} "
                  f"{line.service:<{service_w}} {line.severity:<{level_w}} ")
        body = width - len(prefix)
        if body < 20:  # a narrow terminal: the message under the prefix
            out.append(prefix.rstrip()[:width])
            prefix, body = "  ", width - 2
        wrapped = textwrap.wrap(line.message, body, break_long_words=True,
                                break_on_hyphens=False) or [""]
        out.append(prefix + wrapped[0])
        out += [" " * len(prefix) + rest for rest in wrapped[1:]]
    return out


def show(trace_id: str, store: VictoriaLogs, width: int = WIDTH) -> int:
    try:
        lines = store.trace_lines(trace_id)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    except LogStoreDown as exc:
        print(textwrap.fill(str(exc), width), file=sys.stderr)
        return 3
    if not lines:
        print(textwrap.fill(
            f"no log lines for trace {trace_id} in VictoriaLogs ({store.base_url}). A request's "
            "lines arrive about a second after its response; an id from X-Trace-Id or "
            "`make slowest` has some unless its services logged nothing.", width))
        return 1
    print(f"{len(lines)} log line(s) of trace {trace_id}, oldest first:")
    for text in render(lines, width):
        print(text)
    print(f"\nIn VictoriaLogs' web UI:\n{store.ui_link(trace_id, lines[-1].time)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.logs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("show", help="print one trace's log lines")
    one.add_argument("trace_id")
    one.add_argument("--width", type=int, default=WIDTH)
    args = parser.parse_args(argv)
    return show(args.trace_id, VictoriaLogs(endpoints().victorialogs), args.width)


if __name__ == "__main__":
    sys.exit(main())
