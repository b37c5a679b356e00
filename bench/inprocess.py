"""The cheap loop: one service app in this process, called over httpx's ASGI transport.

No ports, no collector: the OTLP exporters encode every batch (protobuf, as in the
stack) and the bytes are dropped instead of sent. CPU time per call is this process's
`time.process_time()` (all threads: the batch processor's export thread included),
measured after a warm-up and after flushing the warm-up's spans.

    python -m bench.inprocess                  # every lever, alternating rounds: a table
    python -m bench.inprocess --one            # this process as it is (plain)
    opentelemetry-instrument python -m bench.inprocess --one   # instrumented

A code change, before and after, in the same alternating rounds: a copy of the older tree
(`git archive <commit> | tar -x -C /tmp/before`), then
    python -m bench.inprocess --against /tmp/before --lever "project distro (stack default)"
runs each chosen lever in this tree and in /tmp/before ("... @ before"), both with this
tree's environment.

--one prints one JSON line: CPU ms per call, spans exported per call (by name).
The levers (LEVERS below) are environment changes on top of the stack's own OTEL_*
settings, read from docker-compose.yml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from stackctl.sample import CALM_SEGMENT as SEGMENT
from stackctl.sample import NEW_SESSION

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def enabling(*names: str):
    """A lever's DISABLED value: session's own list (docker-compose.yml) without `names`."""
    return lambda own: ",".join(n for n in own.split(",") if n.strip() not in names)


def disabling(*names: str):
    """A lever's DISABLED value: session's own list and `names`."""
    return lambda own: ",".join([*own.split(","), *names])


# name -> (instrumented, environment on top of the stack's; a callable value is given the
# stack's value). Order = run order per round.
LEVERS: dict[str, tuple[bool, dict]] = {
    "plain": (False, {}),
    "project distro (stack default)": (True, {}),
    # The stack's server spans come from FastAPI's own telemetry (the distro: no operation
    # spans, no FastAPI log records); these two are contrib's FastAPI instrumentation.
    "contrib's FastAPI instrumentation": (True, {DISABLED: enabling("fastapi")}),
    "contrib's, send/receive spans (stock distro)": (True, {
        "OTEL_PYTHON_DISTRO": "distro", DISABLED: enabling("fastapi")}),
    "FastAPI's own telemetry, op. spans on": (True, {"OTEL_PYTHON_DISTRO": "distro"}),
    "with database/dup (old DB names too)": (True, {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http,database/dup"}),
    # The best case of a GC lever: frozen after start-up and warm-up, gen-0 at 10 000
    # (default 700); this loop does it (BENCH_GC), no service or distro code.
    "gc.freeze() + gen-0 threshold 10000": (True, {"BENCH_GC": "freeze,10000"}),
    "no OTLP logs, no logging instr.": (True, {
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "false"}),
    "no metrics export": (True, {"OTEL_METRICS_EXPORTER": "none"}),
    "no exemplars": (True, {"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"}),
    "no sqlite3 spans": (True, {DISABLED: disabling("sqlite3")}),
    "protobuf pure-Python": (True, {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}),
    "batch 2048, delay 1 s": (True, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048",
                                     "OTEL_BSP_SCHEDULE_DELAY": "1000"}),
    "sampler off (floor)": (True, {"OTEL_TRACES_SAMPLER": "always_off"}),
    # The settings before issue 20's levers; with --against an older checkout, its stack.
    "old settings (contrib's FastAPI, database/dup)": (True, {
        DISABLED: enabling("fastapi"),
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http,database/dup"}),
}

exported: dict = {"spans": 0, "names": {}}


def drop_exports() -> None:
    """Encode as the OTLP HTTP exporters do, then drop the bytes (no network)."""
    try:
        from opentelemetry.exporter.otlp.common import http as otlp_http
    except ImportError:  # plain run: nothing to patch
        return

    def export(self, data: bytes):
        return otlp_http._ExportResult(True, 200, None, None)

    otlp_http._OTLPHTTPClient.export = export
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    original = OTLPSpanExporter.export

    def counting(self, spans):
        exported["spans"] += len(spans)
        for span in spans:
            exported["names"][span.name] = exported["names"].get(span.name, 0) + 1
        return original(self, spans)

    OTLPSpanExporter.export = counting


def tune_gc(setting: str) -> None:
    """BENCH_GC="freeze,<gen-0 threshold>": move every object alive now out of the
    collector's reach and collect the young generation less often."""
    if not setting:
        return
    import gc

    freeze, threshold = setting.split(",")
    gc.collect()
    if freeze == "freeze":
        gc.freeze()
    gc.set_threshold(int(threshold), *gc.get_threshold()[1:])


def flush() -> None:
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()


async def run(calls: int, warmup: int, kind: str) -> dict:
    import logging

    import httpx

    # The loop's own client: its INFO line per request is not the service's cost.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from uvicorn.importer import import_from_string

    app = import_from_string(app_reference())

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://session") as client:
            sid = (await client.post("/sessions", json=NEW_SESSION)
                   ).json()["session_id"]

            async def one() -> None:
                if kind == "get":
                    response = await client.get(f"/sessions/{sid}")
                else:
                    response = await client.post(f"/sessions/{sid}/segments", json=SEGMENT)
                response.raise_for_status()

            for _ in range(warmup):
                await one()
            tune_gc(os.environ.get("BENCH_GC", ""))
            flush()
            spans_before = exported["spans"]
            exported["names"].clear()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await one()
            flush()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"kind": kind, "calls": calls, "cpu_ms_per_call": round(cpu * 1000 / calls, 3),
            "wall_ms_per_call": round(wall * 1000 / calls, 3),
            "spans_per_call": round((exported["spans"] - spans_before) / calls, 2),
            "span_names": {k: round(v / calls, 2) for k, v in exported["names"].items()}}


def stack_program(service: str = "session"):
    from stackctl.local import compose_model, to_local

    return next(p for p in to_local(compose_model({})) if p.name == service)


def app_reference(service: str = "session") -> str:
    """The app the stack runs ("services.session.api:app"), read from docker-compose.yml's
    command and loaded the way uvicorn loads it."""
    return next(arg for arg in stack_program(service).command if arg.endswith(":app"))


def stack_env(service: str = "session") -> dict[str, str]:
    """The service's environment in the stack (compose model), OTEL_* variables only."""
    return {k: v for k, v in stack_program(service).environment.items()
            if k.startswith("OTEL_")}


def lever_env(base: dict[str, str], env: dict) -> dict[str, str]:
    """The lever's environment on top of the stack's (`enabling`, `disabling`: edits)."""
    return {**base, **{k: v(base.get(k, "")) if callable(v) else v for k, v in env.items()}}


def one_run(instrumented: bool, env: dict[str, str], calls: int, kind: str,
            tree: Path = ROOT) -> dict:
    command = [str(BIN / "python"), "-m", "bench.inprocess", "--one", "--calls", str(calls),
               "--kind", kind]
    if instrumented:
        command = [str(BIN / "opentelemetry-instrument"), *command]
    # `python -m` puts the working directory first on sys.path: the tree's own code runs.
    done = subprocess.run(command, cwd=tree, env={**os.environ, **env}, text=True,
                          capture_output=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sweep(rounds: int, calls: int, kind: str, only: list[str],
          against: Path | None = None) -> dict:
    base = stack_env()
    chosen = {k: (*v, ROOT) for k, v in LEVERS.items()
              if not only or k in only or k == "plain"}
    if against is not None:
        for name, (instrumented, env, _) in list(chosen.items()):
            chosen[f"{name} @ {against.name}"] = (instrumented, env, against)
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for round_no in range(1, rounds + 1):
        for name, (instrumented, env, tree) in chosen.items():
            result = one_run(instrumented, lever_env(base, env), calls, kind, tree)
            runs[name].append(result)
            print(f"round {round_no}/{rounds} {name:46} {result['cpu_ms_per_call']:7.3f} ms "
                  f"{result['spans_per_call']:5.1f} spans", file=sys.stderr, flush=True)
    plain = median(r["cpu_ms_per_call"] for r in runs["plain"])
    table = {}
    for name, results in runs.items():
        cpu = sorted(r["cpu_ms_per_call"] for r in results)
        table[name] = {"cpu_ms_min": cpu[0], "cpu_ms_median": median(cpu), "cpu_ms_max": cpu[-1],
                       "vs_plain": round(median(cpu) / plain, 2),
                       "spans_per_call": results[-1]["spans_per_call"],
                       "span_names": results[-1]["span_names"]}
    return table


def print_table(table: dict, kind: str) -> None:
    print(f"session {kind}: CPU ms per call (min / median / max), spans per call")
    for name, row in table.items():
        print(f"  {name:46} {row['cpu_ms_min']:6.2f} {row['cpu_ms_median']:6.2f} "
              f"{row['cpu_ms_max']:6.2f}  x{row['vs_plain']:<5} {row['spans_per_call']:5.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--kind", choices=["get", "segment"], default="segment")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lever", action="append", default=[], help="only these (repeat)")
    parser.add_argument("--out", type=Path, help="write the sweep's table as JSON here")
    parser.add_argument("--one", action="store_true", help="measure this process only")
    parser.add_argument("--against", type=Path,
                        help="another checkout: each lever also runs there (before/after)")
    args = parser.parse_args(argv)
    if not args.one:
        table = sweep(args.rounds, args.calls, args.kind, args.lever, args.against)
        print_table(table, args.kind)
        if args.out:
            args.out.write_text(json.dumps(table, indent=2))
        return 0
    # On tmpfs when there is one: the disk's fsync time is not what this loop measures.
    shm = Path("/dev/shm")
    data = Path(tempfile.mkdtemp(prefix="bench-inprocess-", dir=shm if shm.is_dir() else None))
    os.environ.setdefault("SESSION_DB_PATH", str(data / "session.db"))
    drop_exports()
    try:
        result = asyncio.run(run(args.calls, args.warmup, args.kind))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
