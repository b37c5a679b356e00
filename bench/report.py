"""Tables (markdown) and plots (PNG) from the benchmarks' results.

    python -m bench.report reports/bench-<time>/results.json   # make bench's tables
    python -m bench.report scenarios      # docs/scenarios.md's table, from the newest
                                          # reports/bench-<name>-*/result.json of each
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def summary(r: dict) -> str:
    lines = []
    if "overhead" in r:
        lines += ["| variant | req/s | vs uninstrumented | p50 ms | p99 ms | failures |",
                  "|---|---|---|---|---|---|"]
        for name, v in r["overhead"].items():
            lines.append(f"| {name} | {v['rps']:g} | {v['throughput_vs_uninstrumented']:.2f} | "
                         f"{v['p50_ms']:g} | {v['p99_ms']:g} | {v['failures']} |")
        lines.append("")
    if "completeness" in r:
        c = r["completeness"]
        col = c["collector"]
        lines += [
            f"Completeness: {c['requests_ok']} requests at {c['achieved_rps']:g} req/s "
            f"(target {c['target_rps']}) for {c['seconds']} s → "
            f"**{c['traces_complete_in_jaeger']} complete traces in Jaeger**, "
            f"{c['traces_incomplete_or_missing']} incomplete or missing; collector accepted "
            f"{col['receiver_accepted_spans']:.0f} spans, refused "
            f"{col['receiver_refused_spans']:.0f}, sent {col['exporter_sent_spans']:.0f} "
            f"to Jaeger, failed {col['exporter_send_failed_spans']:.0f}; SDK log lines "
            f"about drops: {c['sdk_log_lines_about_drops']}.", ""]
    if "freshness" in r:
        f = r["freshness"]
        lines += [f"Freshness ({f['samples']} requests): a trace is complete in Jaeger "
                  f"**{f['p50_s'] * 1000:.0f} ms** after the response at p50, "
                  f"**{f['p95_s'] * 1000:.0f} ms** at p95 (max {f['max_s'] * 1000:.0f} ms).", ""]
    if "overhead" in r:
        idle = r.get("infra_rss_mb_idle", {})
        load = r["overhead"]["instrumented (defaults)"]["rss_mb_under_load"]
        after = r.get("infra_rss_mb_after_load", idle)
        total = sum(after.values()) + sum(load.values())
        lines += ["| process | RSS idle MB | RSS under/after load MB |", "|---|---|---|"]
        for name in sorted(set(idle) | set(after)):
            lines.append(f"| {name} | {idle.get(name, '-')} | {after.get(name, '-')} |")
        for name, mb in load.items():
            lines.append(f"| {name} (instrumented) | - | {mb} |")
        lines += [f"| **total** | | **{total:.0f}** |", ""]
    if "startup" in r:
        s = r["startup"]
        lines.append(f"Start-up: `make up` (tools built) to all healthy in "
                     f"**{s['make_up_to_healthy_s']} s**, to the first complete trace in "
                     f"**{s['make_up_to_first_trace_s']} s**.")
    return "\n".join(lines)


def plots(r: dict, out: Path) -> None:
    if "overhead" in r:
        names = list(r["overhead"])
        fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.5))
        a.barh(names, [r["overhead"][n]["rps"] for n in names], color="#4c72b0")
        a.set_xlabel("segment calls per second (median of runs)")
        a.set_title("throughput")
        a.invert_yaxis()
        y = range(len(names))
        b.barh([i - 0.2 for i in y], [r["overhead"][n]["p50_ms"] for n in names], height=0.4,
               label="p50")
        b.barh([i + 0.2 for i in y], [r["overhead"][n]["p99_ms"] for n in names], height=0.4,
               label="p99")
        b.set_yticks(list(y), names)
        b.invert_yaxis()
        b.set_xlabel("ms")
        b.set_title("latency")
        b.legend()
        fig.tight_layout()
        fig.savefig(out / "overhead.png", dpi=110)
        plt.close(fig)
    if "freshness" in r:
        delays = sorted(d * 1000 for d in r["freshness"]["delays_s"])
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(delays, [(i + 1) / len(delays) for i in range(len(delays))], marker=".")
        ax.axvline(2000, color="red", linestyle="--", label="target p95: 2 s")
        ax.set_xlabel("response -> trace complete in Jaeger (ms)")
        ax.set_ylabel("share of requests")
        ax.set_title("freshness")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "freshness.png", dpi=110)
        plt.close(fig)


def scenario_table(affected: dict[str, str], reports: Path) -> str:
    """The markdown table of docs/scenarios.md (`make bench-scenario NAME=all` prints it)."""
    lines = [
        "| scenario | all req/s off → on | affected endpoint | p50 off → on | "
        "p95 off → on | failures off → on |",
        "|---|---|---|---|---|---|",
    ]
    for name, endpoint in affected.items():
        runs = sorted(reports.glob(f"bench-{name}-*/result.json"))
        if not runs:
            lines.append(f"| `{name}` | (not run) | | | | |")
            continue
        r = json.loads(runs[-1].read_text())
        off, on = r["off"], r["on"]
        lines.append(
            f"| `{name}` | {off['all']['rps']:g} → {on['all']['rps']:g} "
            f"({on['all']['rps'] / off['all']['rps']:.2f}x) | `{endpoint}` | "
            f"{off['affected']['p50_ms']:g} → {on['affected']['p50_ms']:g} "
            f"({on['affected']['p50_ms'] / off['affected']['p50_ms']:.1f}x) | "
            f"{off['affected']['p95_ms']:g} → {on['affected']['p95_ms']:g} "
            f"({on['affected']['p95_ms'] / off['affected']['p95_ms']:.1f}x) | "
            f"{off['affected']['failures']} → {on['affected']['failures']} |")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1] == "scenarios":
        from bench.scenarios import AFFECTED, ROOT

        print(scenario_table(AFFECTED, ROOT / "reports"))
        return 0
    path = Path(sys.argv[1])
    results = json.loads(path.read_text())
    plots(results, path.parent)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
