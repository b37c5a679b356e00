"""The Jaeger UI as a person sees it, in a real headless Chromium (Playwright).

The browser tests (tests/ui) and `make screenshots` (the README's pictures) both use
these functions, so a picture in the docs is what the tested code showed.

    python -m stackctl.jaeger_ui screenshots docs/img    # make screenshots (stack up)

Playwright drives the machine's own Chromium (Debian's `chromium` package, found on
PATH, or the path in CHROMIUM): Playwright's browser download is never needed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from stackctl import scenario
from stackctl.jaeger import Jaeger, through_the_watch
from stackctl.sample import NEW_SESSION, SEGMENT, send
from stackctl.settings import endpoints
from stackctl.wait import wait_until

# Every wait in the browser has a deadline: a page that never shows what we wait for
# fails the test with what it showed instead (and a screenshot, see `shot`).
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1440, "height": 900}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PLACEHOLDER_TEXT = "This is not the Jaeger UI you are looking for"
NO_RESULTS_TEXT = "No trace results. Try another query."
# The span the feedback service opens by hand (services/feedback/rules.py).
MANUAL_SPAN = "evaluate feedback rules"
# The trace page's link to the trace's log lines in VictoriaLogs (its `text`, which the UI
# shows as the link's title).
LOGS_LINK = "Logs for this trace"
# Tall enough that the timeline draws every row of a segment call (it draws only the rows
# in view): ~36 spans x 28 px under a ~300 px header.
TRACE_VIEWPORT = {"width": 1440, "height": 1400}


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class PlaceholderUI(AssertionError):
    """Jaeger answered with its placeholder page: it has no UI assets."""


@contextmanager
def browser_page(viewport: dict[str, int] | None = None) -> Iterator[Page]:
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found: sudo apt-get install chromium "
                           "(or CHROMIUM=/path/to/chrome)")
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start its sandbox as root (containers, CI).
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            context = browser.new_context(viewport=viewport or VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@dataclass
class TraceView:
    """What the trace page shows: its header figures and the rows of its timeline."""

    total_spans: int
    services: set[str]
    rows: list[tuple[str, str]]  # (service, operation) of each timeline row


@dataclass(frozen=True)
class TimelineRow:
    """One row of the trace page's timeline as drawn. Left of a row's name the UI draws one
    vertical indent guide per ancestor span, root-most first, each carrying that span's id
    (`data-ancestor-id`): the tree a person sees, read from the page itself."""

    service: str
    operation: str
    ancestors: tuple[str, ...]  # span ids, root-most first (the UI's own "root" left out)
    name_x: float  # where the row's service name starts on screen (px from the left)

    @property
    def depth(self) -> int:
        return len(self.ancestors)

    @property
    def parent_id(self) -> str | None:
        return self.ancestors[-1] if self.ancestors else None


class JaegerUI:
    """One page of the Jaeger UI, opened at `base_url` (http://127.0.0.1:16686)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")

    def open(self, path: str) -> None:
        # networkidle: the page has fetched its data (services, the trace, metrics), so
        # the drop-downs are filled before we click them.
        self.page.goto(f"{self.base_url}{path}", wait_until="networkidle")
        if self.page.get_by_text(PLACEHOLDER_TEXT).count():
            raise PlaceholderUI(
                f"{self.base_url} serves Jaeger's placeholder page, not the UI: local mode "
                "needs the UI assets (`make tools`; README, 'Jaeger UI')")

    def shot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def pick(self, select: str, option: str) -> None:
        """Choose `option` in an antd drop-down (the UI's selects are not <select>s). The
        page re-renders a form while it fetches (the Monitor tab after a service is
        picked; seen in CI: the opened list closed under the click), so open and click
        again until the select shows the option."""
        target = self.page.locator(select).first
        choice = self.page.locator(".ant-select-dropdown:visible .ant-select-item-option",
                                   has_text=re.compile(rf"^{re.escape(option)}$")).first

        def chosen() -> bool:
            if option in target.inner_text():
                return True
            if not choice.is_visible():
                target.click()
            try:
                choice.click(timeout=3_000)
            except PlaywrightTimeoutError:
                self.page.keyboard.press("Escape")
                return False
            return option in target.inner_text()

        wait_until(chosen, f"{option!r} chosen in {select}", TIMEOUT_MS / 1000,
                   seen=lambda: target.inner_text())

    # --- search -------------------------------------------------------------------------

    def service_options(self) -> list[str]:
        """The services in the search form's drop-down. The form fills it from
        /api/services after the page has loaded and can re-render it while we read (seen
        once in CI: an option visible, then no text read), so read until it lists some."""
        self.open("/search")

        def read() -> list[str]:
            self.page.locator(".ant-select[name=service]").click()
            options = self.page.locator(
                ".ant-select-dropdown:visible .ant-select-item-option")
            try:
                expect(options.first).to_be_visible()
                return sorted(t.strip() for t in options.all_inner_texts() if t.strip())
            finally:
                self.page.keyboard.press("Escape")

        return wait_until(read, "the search form's service drop-down to list services",
                          TIMEOUT_MS / 1000)

    def search(self, service: str, tags: str = "") -> dict[str, str]:
        """Pick `service`, type `tags` (logfmt, as the form's Tags field takes them), press
        Find Traces: each result's trace id, read from the link the result opens, and its
        title ("gateway: POST …")."""
        self.open("/search")
        self.pick(".ant-select[name=service]", service)
        if tags:
            self.page.locator("input[name=tags]").fill(tags)
        self.page.get_by_role("button", name="Find Traces").click()
        results = self.page.locator(".ResultItem")
        # Results, or the UI saying there are none (then: no results, not a timeout).
        expect(results.or_(self.page.get_by_text(NO_RESULTS_TEXT)).first).to_be_visible()
        found = {}
        for item in results.all():
            href = item.locator("a.ResultItemTitle--item").get_attribute("href") or ""
            link = re.search(r"/trace/([0-9a-f]+)", href)
            title = item.locator(".ResultItemTitle--title").inner_text().strip()
            found[link.group(1) if link else f"(no trace link: {href!r})"] = title
        return found

    # --- one trace ------------------------------------------------------------------------

    def trace(self, trace_id: str) -> TraceView:
        """Open /trace/<id>: the header's span count and every row of the timeline. The
        timeline draws only the rows in view, so the viewport must be tall enough."""
        self.open(f"/trace/{trace_id}")
        header = self.page.locator(".TracePageHeader--overviewItems")
        expect(header).to_contain_text("Total Spans")
        rows = self.page.locator(".span-row")
        expect(rows.first).to_be_visible()
        total = int(self.header_value("Total Spans"))
        found = []
        for row in rows.all():
            service = row.locator(".span-svc-name").inner_text().strip()
            operation = row.locator(".endpoint-name").inner_text().strip()
            found.append((service, operation))
        return TraceView(total_spans=total, services={s for s, _ in found}, rows=found)

    def timeline(self) -> list[TimelineRow]:
        """The open trace page's timeline, top to bottom, each row with the ancestors its
        indent guides name (call after `trace`, which waits for the rows)."""
        rows = self.page.evaluate("""() => [...document.querySelectorAll('.span-row')]
          .map(row => ({
            service: row.querySelector('.span-svc-name').innerText.trim(),
            operation: row.querySelector('.endpoint-name').innerText.trim(),
            ancestors: [...row.querySelectorAll('.SpanTreeOffset--indentGuide')]
              .map(guide => guide.dataset.ancestorId).filter(id => id && id !== 'root'),
            x: row.querySelector('.span-svc-name').getBoundingClientRect().x}))""")
        return [TimelineRow(r["service"], r["operation"], tuple(r["ancestors"]), r["x"])
                for r in rows]

    def header_value(self, label: str) -> str:
        item = self.page.locator(".TracePageHeader--overviewItems .LabeledList--item",
                                 has=self.page.locator(".LabeledList--label", has_text=label))
        return item.locator("strong").inner_text().strip()

    def expand_span(self, operation: str) -> dict[str, str]:
        """Click a span's row, open its Tags: the attributes as the UI lists them."""
        row = self.page.locator(".span-row", has=self.page.locator(
            ".endpoint-name", has_text=operation)).first
        row.locator(".span-name").click()
        detail = self.page.locator(".detail-row").first
        detail.locator(".AccordianKeyValues--header", has_text="Tags").click()
        table = detail.locator(".KeyValueTable").first
        expect(table).to_be_visible()
        pairs = {}
        for tr in table.locator("tr").all():
            cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
            if len(cells) >= 2:
                pairs[cells[0]] = cells[1]
        return pairs

    # --- from a trace to its logs ---------------------------------------------------------

    def open_trace_logs(self, trace_id: str) -> Page:
        """On the trace page, click "Logs for this trace" (the link pattern in
        infra/jaeger/ui-config.json): VictoriaLogs' web UI opens in a new tab, returned
        once it has loaded its query's results."""
        self.open(f"/trace/{trace_id}")
        link = self.page.locator(f'a[title="{LOGS_LINK}"]')
        expect(link).to_be_visible()
        with self.page.context.expect_page() as opened:
            link.click()
        logs = opened.value
        logs.set_default_timeout(TIMEOUT_MS)
        logs.wait_for_load_state("networkidle")
        return logs

    # --- Monitor (service performance monitoring) -------------------------------------------

    def monitor(self, service: str) -> list[str]:
        """Monitor tab for `service`, last 5 minutes: the `d` of the request-rate chart's
        area (empty when the chart says No Data / Could not fetch data)."""
        self.open("/monitor")
        self.pick(".select-a-service-input", service)
        self.pick(".select-a-timeframe-input", "Last 5 minutes")
        chart = self.page.locator(".graph-container", has_text="Request rate")
        expect(chart.locator(".recharts-area-area").first).to_be_attached()
        return [p.get_attribute("d") or "" for p in
                chart.locator(".recharts-area-area").all()]

    def operations(self) -> dict[str, dict[str, str]]:
        """The open Monitor tab's operations table (call after `monitor`): each operation's
        cells as shown, by column title: {"P95 Latency": "12.3ms", "Request rate":
        "0.66 req/s", "Error rate": "0%", ...}."""
        expect(self.page.locator(".ant-table-tbody tr.table-row").first).to_be_visible()
        rows = self.page.evaluate("""() => {
          const titles = [...document.querySelectorAll('.ant-table-thead th')]
            .map(th => th.innerText.trim());
          return [...document.querySelectorAll('.ant-table-tbody tr.table-row')].map(tr =>
            [...tr.querySelectorAll('td')].map((td, i) => [titles[i],
              (td.querySelector('.table-graph-avg') || td).innerText.trim()]));
        }""")
        table = {}
        for cells in rows:
            shown = dict(cells)
            table[shown.pop("Name", "")] = shown
        return table

    # --- System Architecture ------------------------------------------------------------

    def architecture_edges(self) -> set[tuple[str, str]]:
        """System Architecture: the arrows the graph draws, as (from, to) service names.
        Each arrow's ends are matched to the nearest node on screen, so this reads the
        picture, not the data behind it. Self-loops (a service's own spans) are left out."""
        self.open("/dependencies")
        expect(self.page.locator(".DAG--node").first).to_be_visible()
        pairs = self.page.evaluate("""() => {
          const nodes = [...document.querySelectorAll('.DAG--node')].map(n => {
            const r = n.querySelector('.DAG--nodeCircle').getBoundingClientRect();
            return {name: n.querySelector('.DAG--nodeLabel').innerText.trim(),
                    x: r.x + r.width / 2, y: r.y + r.height / 2};
          });
          const nearest = (p) => nodes.reduce((best, n) =>
            Math.hypot(n.x - p.x, n.y - p.y) < Math.hypot(best.x - p.x, best.y - p.y)
              ? n : best).name;
          return [...document.querySelectorAll('.plexus-Digraph--SvgEdge')].map(e => {
            const m = e.getScreenCTM();
            const a = e.getPointAtLength(0).matrixTransform(m);
            const b = e.getPointAtLength(e.getTotalLength()).matrixTransform(m);
            return [nearest(a), nearest(b)];
          });
        }""")
        return {(a, b) for a, b in pairs if a != b}


def victorialogs_shows(page: Page, messages: list[str]) -> int:
    """VictoriaLogs' web UI as a person reads it: waits until every one of `messages` is
    on the page, and returns the number of lines the UI says its query returned."""
    for message in messages:
        expect(page.locator("body")).to_contain_text(message)
    text = page.locator("body").inner_text()
    total = re.search(r"Total logs returned:\s*(\d+)", text)
    assert total, f"VictoriaLogs' UI shows no result count: {text[:500]}"
    return int(total.group(1))


def prometheus_up() -> bool:
    try:
        return httpx.get(f"{endpoints().prometheus}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def traffic_until_monitored(service: str = "gateway", deadline_s: float = 180.0) -> list[float]:
    """Send sample segments until Jaeger's Monitor tab can draw a request-rate line for
    `service` (span metrics -> collector -> Prometheus scrape -> Jaeger): two points, one
    a minute as the tab asks, so up to two minutes on a fresh stack. The rates it shows."""
    urls = endpoints()
    jaeger = Jaeger(urls.jaeger)

    def rates() -> list[float]:
        send(urls.gateway, "monitor")
        points = jaeger.call_rates(service)
        return points if len(points) >= 2 else []

    return wait_until(rates, f"two points of {service}'s request rate in Jaeger's Monitor "
                             "API", deadline_s, interval_s=1.0)


def screenshots(out: Path) -> list[Path]:
    """docs/img: one segment call's trace, and the Monitor tab for gateway."""
    urls = endpoints()
    jaeger = Jaeger(urls.jaeger)
    trace_id = send(urls.gateway, "screenshots")
    jaeger.wait_for_trace(trace_id, what="the segment call's whole trace")
    taken = []
    with browser_page(TRACE_VIEWPORT) as page:
        ui = JaegerUI(page, urls.jaeger)
        ui.trace(trace_id)
        taken.append(ui.shot(out / "jaeger-trace.png"))
    if not prometheus_up():
        print("Prometheus is not running: no Monitor picture (sudo apt-get install "
              "prometheus, make up)", file=sys.stderr)
        return taken
    traffic_until_monitored()
    with browser_page() as page:
        ui = JaegerUI(page, urls.jaeger)
        ui.monitor("gateway")
        taken.append(ui.shot(out / "jaeger-monitor.png"))
    return taken


# --- the tour's pictures (docs/tour.md): each planted bottleneck switched on, the request
# that shows it, and that request's trace page ---------------------------------------------

def _session(client: httpx.Client, segments: int = 1) -> str:
    sid = client.post("/api/sessions", json=dict(NEW_SESSION, user_id="tour")).json()["session_id"]
    for _ in range(segments):
        client.post(f"/api/sessions/{sid}/segments", json=SEGMENT).raise_for_status()
    return sid


def _slowest_of(client: httpx.Client, calls: int) -> str:
    """`calls` segment calls at once, each in its own session: the slowest one's trace
    (the one that waited for the others)."""
    sessions = [_session(client, 0) for _ in range(calls)]

    def call(sid: str) -> tuple[float, str]:
        started = time.monotonic()
        response = client.post(f"/api/sessions/{sid}/segments", json=SEGMENT)
        return time.monotonic() - started, response.headers["x-trace-id"]

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return max(pool.map(call, sessions))[1]


def _segment_call(client: httpx.Client) -> str:
    sid = _session(client, 0)
    return client.post(f"/api/sessions/{sid}/segments", json=SEGMENT).headers["x-trace-id"]


def _queued_cue(client: httpx.Client, cues: int = 6) -> str:
    """`cues` buzz-earning calls in a row while the watch takes one cue at a time: the
    last call's trace, once the watch's CONSUMER span is in it (it waited in RabbitMQ
    behind the others, with the switch still on)."""
    trace_ids = [_segment_call(client) for _ in range(cues)]
    Jaeger(endpoints().jaeger).wait_for_trace(
        trace_ids[-1], through_the_watch,
        what="the last cue's CONSUMER span in the watch", deadline_s=30)
    return trace_ids[-1]


# name -> (switches to turn on with their parameters, the request that shows it)
TOUR: dict[str, tuple[dict[str, dict], Callable[[httpx.Client], str]]] = {
    "n_plus_one": ({"n_plus_one": {}}, lambda c: c.post(
        f"/api/sessions/{_session(c, 4)}/end").headers["x-trace-id"]),
    "sequential_fanout": ({"sequential_fanout": {}}, lambda c: c.get(
        f"/api/sessions/{_session(c, 1)}").headers["x-trace-id"]),
    "slow_query": ({"slow_query": {"seed_rows": 200000}}, _segment_call),
    "pool_of_one": ({"pool_of_one": {"scorer_ms": 150}}, lambda c: _slowest_of(c, 4)),
    "blocking_call": ({"blocking_call": {"block_ms": 150}}, lambda c: _slowest_of(c, 4)),
    "retry_storm": ({"flaky_history": {"failure_rate": 0.7}, "retry_storm": {}},
                    lambda c: _slowest_of(c, 4)),
    "error_injection": ({"error_injection": {"rate": 1.0}}, _segment_call),
    "slow_consumer": ({"slow_consumer": {"handle_ms": 300}}, _queued_cue),
}


def tour_screenshots(out: Path) -> list[Path]:
    """docs/img/tour-<name>.png: for each entry of TOUR, its switches on, its request,
    the trace page of that request; every switch off again whatever happens."""
    urls = endpoints()
    jaeger = Jaeger(urls.jaeger)
    taken = []
    with httpx.Client(base_url=urls.gateway, timeout=30.0) as client, \
            browser_page(TRACE_VIEWPORT) as page:
        ui = JaegerUI(page, urls.jaeger)
        for name, (switches, request) in TOUR.items():
            try:
                for switch_name, params in switches.items():
                    scenario.switch(switch_name, True, params)
                trace_id = request(client)
            finally:
                for switch_name in reversed(switches):
                    scenario.switch(switch_name, False)
            # Its root span is in, and the pipeline has settled (every span sent is in).
            jaeger.wait_for_trace(trace_id, lambda t: any(s.parent_id is None for s in t.spans),
                                  what=f"the {name} request's trace")
            ui.trace(trace_id)
            taken.append(ui.shot(out / f"tour-{name}.png"))
            print(f"wrote {taken[-1]}", flush=True)
    return taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackctl.jaeger_ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    shots = sub.add_parser("screenshots", help="the README's pictures (needs `make up`)")
    shots.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        for path in screenshots(args.out):
            print(f"wrote {path}")
        tour_screenshots(args.out)
    except httpx.HTTPError as exc:
        print(f"the stack does not answer ({exc}): start it with `make up`", file=sys.stderr)
        return 1
    except (AssertionError, RuntimeError) as exc:
        print(f"screenshots failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
