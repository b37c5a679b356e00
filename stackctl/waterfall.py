"""A trace as a text waterfall in the terminal, read from Jaeger's query API.

    make trace ID=<trace id>                   # one trace
    make slowest N=10 SERVICE=gateway          # the slowest recent traces, one line each

The Jaeger UI's trace view for a terminal (an SSH session, a CI log), printed with a link
to the same trace in the UI. One line per span, whatever the terminal's width: service,
operation (indented under its parent, cut with an ellipsis when it does not fit), start
offset, duration, a bar on the trace's time axis (narrow terminals drop the bar, then the
offset), errors in red, and the critical path marked with ●: the chain of spans that the
request's end actually waited for (the Jaeger UI's definition: from a span, step into the
child that finished last; from there, to the child that finished last before that one
started, and so on).
"""

from __future__ import annotations

import argparse
import sys

import httpx
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from stackctl.jaeger import Jaeger, Span, Trace
from stackctl.settings import endpoints

MAX_BAR_WIDTH = 40
MIN_BAR_WIDTH = 12
MIN_OPERATION_WIDTH = 24


def critical_path(trace: Trace) -> set[str]:
    """Span ids on the critical path, as the Jaeger UI computes it: from a span, step into
    the child that finished last; back from it, the next step is the child that finished
    last *before that child started* (overlapping siblings ran in parallel: not critical)."""
    path: set[str] = set()

    def end(span: Span) -> int:
        return span.start_us + span.duration_us

    def walk(span: Span) -> None:
        path.add(span.span_id)
        children = trace.children(span)
        cursor: int | None = None
        while True:
            earlier = [c for c in children if cursor is None or end(c) < cursor]
            if not earlier:
                return
            last = max(earlier, key=end)
            walk(last)
            cursor = last.start_us

    for root in roots(trace):
        walk(root)
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


def bar(span: Span, start_us: int, total_us: int, width: int) -> Text:
    total = max(total_us, 1)
    left = min(int((span.start_us - start_us) / total * width), width - 1)
    size = min(max(1, round(span.duration_us / total * width)), width - left)
    return Text(" " * left) + Text("█" * size, style="red" if span.error else "cyan")


def _grid(width: int) -> Table:
    """A borderless table exactly `width` columns wide: one line per row, always (a cell
    that does not fit is cut with an ellipsis, never wrapped)."""
    return Table(box=None, padding=(0, 1), pad_edge=False, width=width, header_style="bold",
                 show_edge=False)


def render(trace: Trace, jaeger_url: str, width: int = 120) -> Group:
    """The waterfall, `width` columns wide: one line per span. Narrow terminals lose the
    timeline first, then the start offset; the operation is cut, never wrapped."""
    start = min(s.start_us for s in trace.spans)
    end = max(s.start_us + s.duration_us for s in trace.spans)
    critical = critical_path(trace)
    service_w = min(max(len(s) for s in trace.services), 12)
    numbers_w = 8  # "12345.6" and a gap
    fixed = 1 + service_w + 2 * numbers_w + 2 * 4  # marker, service, two numbers, gaps
    # The operation gets two thirds of what is left, the timeline a third (up to 40).
    bar_w = min(MAX_BAR_WIDTH, (width - fixed) // 3)
    show_bar = bar_w >= MIN_BAR_WIDTH
    show_offset = show_bar or width - fixed + numbers_w >= MIN_OPERATION_WIDTH + 8

    table = _grid(width)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("service", width=service_w, no_wrap=True, overflow="ellipsis")
    table.add_column("operation", no_wrap=True, overflow="ellipsis", ratio=1)
    if show_offset:
        table.add_column("start ms", justify="right", no_wrap=True, width=numbers_w)
    table.add_column("ms", justify="right", no_wrap=True, width=numbers_w)
    if show_bar:
        table.add_column("timeline", no_wrap=True, width=bar_w)
    for depth, span in ordered(trace):
        # A call out (client span) is marked before its name, which may be cut: "→".
        operation = Text("  " * depth)
        if span.kind == "client":
            operation.append("→ ", style="dim")
        operation.append(span.operation)
        if span.error:
            operation.stylize("red")
            message = next((e.get("exception.message") for e in span.exception_events), None)
            if message:
                operation.append(f"  ✗ {message}", style="red")
        if "demo.scenario" in span.tags:
            operation.append(f"  ⚑ {span.tags['demo.scenario']}", style="yellow")
        row: list[str | Text] = ["●" if span.span_id in critical else "", span.service,
                                 operation]
        if show_offset:
            row.append(f"{(span.start_us - start) / 1000:.1f}")
        row.append(f"{span.duration_us / 1000:.1f}")
        if show_bar:
            row.append(bar(span, start, end - start, bar_w))
        table.add_row(*row)
    title = Text(f"trace {trace.trace_id}", style="bold")
    summary = Text(f"{(end - start) / 1000:.1f} ms · {len(trace.spans)} spans · "
                   f"{', '.join(sorted(trace.services))}", overflow="ellipsis", no_wrap=True)
    legend = Text("● critical path   → a call out (client span)   red: error", style="dim",
                  no_wrap=True)
    return Group(title, summary, table, legend)


def not_held(jaeger: Jaeger) -> str:
    """`make trace` of an id Jaeger does not hold: one line (at most 80 columns)."""
    return (f"not in Jaeger: evicted (it keeps the newest {jaeger.max_traces} traces) "
            "or not exported yet")


def slowest(jaeger: Jaeger, service: str, n: int, lookback: str, width: int = 120) -> Group:
    # The newest traces touching `service` that Jaeger holds (its search reads newest
    # first); the client keeps the limit below the number it keeps.
    traces = jaeger.find_traces(service, limit=max(n * 5, 50), lookback=lookback)
    rows = []
    for trace in traces:
        start = min(s.start_us for s in trace.spans)
        end = max(s.start_us + s.duration_us for s in trace.spans)
        rows.append((end - start, trace, roots(trace)[0]))
    rows.sort(key=lambda r: r[0], reverse=True)
    table = _grid(width)
    table.add_column("ms", justify="right", no_wrap=True, width=9)
    # The trace id is what you copy into `make trace ID=...`: never cut.
    table.add_column("trace id", no_wrap=True, width=32)
    table.add_column("spans", justify="right", no_wrap=True, width=5)
    table.add_column("err", justify="right", no_wrap=True, width=3)
    table.add_column("root span", no_wrap=True, overflow="ellipsis", ratio=1)
    for duration, trace, root in rows[:n]:
        errors = sum(s.error for s in trace.spans)
        table.add_row(f"{duration / 1000:.1f}", trace.trace_id, str(len(trace.spans)),
                      Text(str(errors), style="red" if errors else ""),
                      f"{root.service}: {root.operation}")
    title = Text(f"slowest {n} traces touching {service} (last {lookback})", style="bold",
                 no_wrap=True, overflow="ellipsis")
    kept = Text(f"of the newest {len(traces)} Jaeger holds; it keeps {jaeger.max_traces} "
                "traces in all (JAEGER_MAX_TRACES)", style="dim", no_wrap=True,
                overflow="ellipsis")
    # The links whole, one a line (a table cell would cut them): each opens its trace.
    links = Text("\n".join(f"  {jaeger.trace_url(t.trace_id)}" for _, t, _ in rows[:n]))
    return Group(title, kept, table, Text("Open in the Jaeger UI:", style="bold"), links,
                 Text("make trace ID=<trace id> shows one as a waterfall", style="dim"))


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
                console.print(not_held(jaeger), style="red", soft_wrap=True)
                return 1
            console.print(render(trace, args.jaeger, console.width))
            # A URL is never cut: let the terminal wrap it, so it stays one copyable line.
            console.print(jaeger.trace_url(trace.trace_id), soft_wrap=True)
        else:
            console.print(slowest(jaeger, args.service, args.n, args.lookback,
                                  console.width))
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot query Jaeger at {args.jaeger}: {exc}[/red] "
                      "(is the stack up? `make status`)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
