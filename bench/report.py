"""Tables (markdown) and plots (PNG) from the benchmarks' results.

    python -m bench.report reports/bench-<time>/results.json   # make bench's tables

docs/scenarios.md's table comes from `python -m bench.scenarios table` (scenario_table
below, fed by bench/scenarios.py, which knows the scenarios). This module imports nothing
else of bench: bench/run.py and bench/scenarios.py both use it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def _mmm(s: dict) -> str:
    return f"{s['min']:g} / **{s['median']:g}** / {s['max']:g}"


def summary(r: dict) -> str:
    lines = []
    if "overhead" in r:
        lines += [f"Overhead: {r.get('rounds')} alternating rounds; each figure min / "
                  "**median** / max; CPU is ms per segment call, from /proc.", "",
                  "| variant | req/s | p99 ms | services CPU ms | collector + Jaeger CPU ms "
                  "| load generator CPU ms | vs plain: req/s, p99, CPU | failures |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, v in r["overhead"].items():
            cpu = v["cpu_ms_per_call"]
            ratios = v.get("vs_plain", {})
            lines.append(
                f"| {name} | {_mmm(v['rps'])} | {_mmm(v['p99_ms'])} | "
                f"{_mmm(cpu['services'])} | {_mmm(cpu['backend'])} | "
                f"{_mmm(cpu['load generator'])} | {ratios.get('rps', '-')}, "
                f"{ratios.get('p99', '-')}, {ratios.get('services_cpu', '-')} | "
                f"{v['failures']} |")
        lines.append("")
        fixed = {n: v for n, v in r["overhead"].items() if "fixed_rate" in v}
        if fixed:
            rate = next(iter(fixed.values()))["fixed_rate"]["calls_per_s"]
            lines += [f"The same copies at a fixed {rate} calls/s (the same work for every "
                      "variant):", "",
                      "| variant | calls/s | services CPU ms | collector + Jaeger CPU ms "
                      "| services CPU vs plain | failures |", "|---|---|---|---|---|---|"]
            for name, v in fixed.items():
                f = v["fixed_rate"]
                lines.append(
                    f"| {name} | {_mmm(f['rps'])} | {_mmm(f['cpu_ms_per_call']['services'])}"
                    f" | {_mmm(f['cpu_ms_per_call']['backend'])} | "
                    f"{v.get('vs_plain', {}).get('services_cpu_fixed_rate', '-')} | "
                    f"{f['failures']} |")
            lines.append("")
    if "profile" in r:
        lines.append("Profile (py-spy, GIL held): share of each service's samples in "
                     "opentelemetry code:")
        for variant, p in r["profile"].items():
            shares = ", ".join(f"{s} {c['opentelemetry_share']:.0%}"
                               for s, c in p["costs"].items())
            lines.append(f"- {variant}: {shares} ({', '.join(p['flame_graphs'])})")
        lines.append("")
    if "completeness" in r:
        c = r["completeness"]
        col = c["collector"]
        made, stored = c["spans_made_per_service"], c["spans_in_jaeger_per_service"]
        lines += [
            f"Completeness: {c['requests_ok']} requests at {c['achieved_rps']:g} req/s "
            f"(target {c['target_rps']}) for {c['seconds']} s; "
            f"{c['traces_complete_in_jaeger']} complete traces, {c['traces_missing']} "
            f"missing.", "",
            "| service | spans made (collector span_metrics) | spans in Jaeger |",
            "|---|---|---|"]
        for service in made:
            lines.append(f"| {service} | {made[service]:.0f} | {stored.get(service, 0)} |")
        lines += [
            f"| **total** | **{sum(made.values()):.0f}** | **{sum(stored.values())}** |", "",
            f"**Spans lost: {c['spans_lost']}.** Collector: accepted "
            f"{col['receiver_accepted_spans']:.0f}, refused "
            f"{col['receiver_refused_spans']:.0f}, dropped "
            f"{col['processor_dropped_spans']:.0f}, sent {col['exporter_sent_spans']:.0f}, "
            f"failed {col['exporter_send_failed_spans']:.0f}; SDK log lines about drops: "
            f"{c['sdk_log_lines_about_drops']}.", ""]
        idle = r.get("rss_mb_idle", {})
        load = c["rss_mb_under_load"]
        pss = c.get("pss_mb_under_load", {})
        lines += ["| process | RSS idle MB | RSS under load MB | PSS under load MB |",
                  "|---|---|---|---|"]
        for name in load:
            lines.append(f"| {name} | {idle.get(name, '-')} | {load[name]} | "
                         f"{pss.get(name, '-')} |")
        lines += ["", f"Whole local stack under load (every process local mode runs, the "
                      f"loaded copies of gateway, session and feedback counted in place of "
                      f"the idle ones): **{stack_total(load):.0f} MB** summed RSS"
                  + (f", **{stack_total(pss):.0f} MB** summed PSS (shared pages counted "
                     f"once)" if pss else "") + "."]
        if c.get("prometheus_head_series") is not None:
            lines.append(f"Prometheus held {c['prometheus_head_series']} series in memory.")
        lines.append("")
    if "freshness" in r:
        f = r["freshness"]
        lines += [f"Freshness ({f['samples']} requests): a trace is complete in Jaeger "
                  f"**{f['p50_s'] * 1000:.0f} ms** after the response at p50, "
                  f"**{f['p95_s'] * 1000:.0f} ms** at p95 (max {f['max_s'] * 1000:.0f} ms).", ""]
    if "startup" in r:
        s = r["startup"]
        lines.append(f"Start-up: `make up` (tools built) to all healthy in "
                     f"**{s['make_up_to_healthy_s']} s**, to the first complete trace in "
                     f"**{s['make_up_to_first_trace_s']} s**.")
    if "duration_s" in r:
        lines.append(f"\n`make bench` took {r['duration_s']} s.")
    return "\n".join(lines)


def stack_total(readings: dict[str, float]) -> float:
    """The stack's memory under load: every process, with the loaded copies of the
    services (`<name> (bench copy)`) in place of the stack's idle ones."""
    copies = {k.removesuffix(" (bench copy)") for k in readings if k.endswith("(bench copy)")}
    return sum(v for k, v in readings.items() if k not in copies)


def plots(r: dict, out: Path) -> None:
    if "overhead" in r:
        names = list(r["overhead"])
        fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.5))
        a.barh(names, [r["overhead"][n]["rps"]["median"] for n in names], color="#4c72b0")
        a.set_xlabel("segment calls per second (median of runs)")
        a.set_title("throughput")
        a.invert_yaxis()
        y = range(len(names))
        b.barh([i - 0.2 for i in y], [r["overhead"][n]["p50_ms"]["median"] for n in names],
               height=0.4,
               label="p50")
        b.barh([i + 0.2 for i in y], [r["overhead"][n]["p99_ms"]["median"] for n in names],
               height=0.4,
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
        if "peak_depth" in off["affected"]:   # a broker scenario: the queue's depth too
            endpoint = (f"{endpoint}; queue depth at most {off['affected']['peak_depth']} "
                        f"→ {on['affected']['peak_depth']}")
        else:
            endpoint = f"`{endpoint}`"
        lines.append(
            f"| `{name}` | {off['all']['rps']:g} → {on['all']['rps']:g} "
            f"({on['all']['rps'] / off['all']['rps']:.2f}x) | {endpoint} | "
            f"{off['affected']['p50_ms']:g} → {on['affected']['p50_ms']:g} "
            f"({on['affected']['p50_ms'] / off['affected']['p50_ms']:.1f}x) | "
            f"{off['affected']['p95_ms']:g} → {on['affected']['p95_ms']:g} "
            f"({on['affected']['p95_ms'] / off['affected']['p95_ms']:.1f}x) | "
            f"{off['affected']['failures']} → {on['affected']['failures']} |")
    return "\n".join(lines)


def main() -> int:
    path = Path(sys.argv[1])
    results = json.loads(path.read_text())
    plots(results, path.parent)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
