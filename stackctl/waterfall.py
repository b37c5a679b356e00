"""A trace as a text waterfall in the terminal, read from Jaeger's query API.

    make trace ID=<trace id>                   # one trace
    make slowest N=10 SERVICE=gateway          # the slowest recent traces, one line each

For headless machines, and for local mode, whose Jaeger has no web UI. Each row: service,
operation (indented under its parent), start offset, duration, a bar on the trace's time
axis, errors in red, and the critical path marked with ●: the chain of spans that the
request's end actually waited for (Jaeger's own definition: from the end of a span, step
to the child that finished last before that point, and repeat).
"""

from __future__ import annotations

import argparse
import sys

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stackctl.jaeger import Jaeger, Span, Trace
from stackctl.settings import endpoints

BAR_WIDTH = 40


def critical_path(trace: Trace) -> set[str]:
    """Span ids on the critical path (Jaeger UI's algorithm, simplified for clock skew)."""
    path: set[str] = set()

    def walk(span: Span, until_us: int) -> None:
        path.add(span.span_id)
        children = sorted(
            (c for c in trace.children(span) if c.start_us < until_us),
            key=lambda c: c.start_us + c.duration_us,
            reverse=True,
        )
        cursor = until_us
        for child in children:
            child_end = min(child.start_us + child.duration_us, cursor)
            if child_end <= cursor and child.start_us < cursor:
                walk(child, child_end)
                cursor = child.start_us
    for root in roots(trace):
        walk(root, root.start_us + root.duration_us)
    return path


def roots(trace: Trace) -> list[Span]:
    ids = {s.span_id for s in trace.spans}
    return sorted((s for s in trace.spans if s.parent_id not in ids), key=lambda s: s.start_us)


def ordered(trace: Trace) -> list[tuple[int, Span]]:
    """Depth-first, children by start time: the order of the Jaeger UI's rows."""
    rows: list[tuple[int, Span]] = []

    def visit(span: Span, depth: int) -> None:
        rows.append((depth, span))
        for child in sorted(trace.children(span), key=lambda c: c.start_us):
            visit(child, depth + 1)

    for root in roots(trace):
        visit(root, 0)
    return rows


def bar(span: Span, start_us: int, total_us: int) -> Text:
    total = max(total_us, 1)
    left = int((span.start_us - start_us) / total * BAR_WIDTH)
    width = max(1, round(span.duration_us / total * BAR_WIDTH))
    left = min(left, BAR_WIDTH - 1)
    width = min(width, BAR_WIDTH - left)
    style = "red" if span.error else "cyan"
    return Text(" " * left) + Text("█" * width, style=style)


def render(trace: Trace, jaeger_url: str) -> Table:
    start = min(s.start_us for s in trace.spans)
    end = max(s.start_us + s.duration_us for s in trace.spans)
    critical = critical_path(trace)
    services = sorted(trace.services)
    table = Table(
        title=f"trace {trace.trace_id}  ·  {(end - start) / 1000:.1f} ms  ·  "
              f"{len(trace.spans)} spans  ·  {', '.join(services)}",
        caption=f"● critical path   red: error   {jaeger_url}/trace/{trace.trace_id}",
        show_lines=False, header_style="bold",
    )
    table.add_column("", width=1)
    table.add_column("service")
    table.add_column("operation", overflow="fold")
    table.add_column("offset ms", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("timeline", no_wrap=True)
    for depth, span in ordered(trace):
        operation = Text("  " * depth + span.operation)
        if span.kind in ("server", "client"):
            operation.append(f" [{span.kind}]", style="dim")
        if span.error:
            operation.stylize("red")
            message = next((e.get("exception.message") for e in span.exception_events), None)
            if message:
                operation.append(f"  ✗ {message}", style="red")
        if "demo.scenario" in span.tags:
            operation.append(f"  ⚑ {span.tags['demo.scenario']}", style="yellow")
        table.add_row(
            "●" if span.span_id in critical else "",
            span.service,
            operation,
            f"{(span.start_us - start) / 1000:.1f}",
            f"{span.duration_us / 1000:.1f}",
            bar(span, start, end - start),
        )
    return table


def slowest(jaeger: Jaeger, service: str, n: int, lookback: str) -> Table:
    traces = jaeger.find_traces(service, limit=max(n * 5, 50), lookback=lookback)
    rows = []
    for trace in traces:
        start = min(s.start_us for s in trace.spans)
        end = max(s.start_us + s.duration_us for s in trace.spans)
        root = roots(trace)[0]
        rows.append((end - start, trace, root))
    rows.sort(key=lambda r: r[0], reverse=True)
    table = Table(title=f"slowest {n} traces touching {service} (last {lookback})")
    for column in ("duration ms", "root", "spans", "errors", "trace id"):
        table.add_column(column, justify="right" if column != "root" else "left")
    for duration, trace, root in rows[:n]:
        errors = sum(s.error for s in trace.spans)
        table.add_row(f"{duration / 1000:.1f}", f"{root.service}: {root.operation}",
                      str(len(trace.spans)), Text(str(errors), style="red" if errors else ""),
                      trace.trace_id)
    table.caption = "make trace ID=<trace id> shows one as a waterfall"
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jaeger", default=endpoints().jaeger)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("show", help="one trace as a waterfall")
    one.add_argument("trace_id")
    many = sub.add_parser("slowest", help="the slowest recent traces")
    many.add_argument("--service", default="gateway")
    many.add_argument("-n", type=int, default=10)
    many.add_argument("--lookback", default="1h")
    args = parser.parse_args(argv)

    console = Console()
    jaeger = Jaeger(args.jaeger)
    try:
        if args.command == "show":
            trace = jaeger.get_trace(args.trace_id.strip().lower())
            if trace is None:
                console.print(f"[red]trace {args.trace_id} not found in Jaeger at "
                              f"{args.jaeger}[/red] (evicted, or not exported yet?)")
                return 1
            console.print(render(trace, args.jaeger))
        else:
            console.print(slowest(jaeger, args.service, args.n, args.lookback))
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot query Jaeger at {args.jaeger}: {exc}[/red] "
                      "(is the stack up? `make status`)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
