"""make bench's variants of a code change: a variant run `@ before` (BENCH_AGAINST,
--against) really runs the other checkout's code."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import run as bench
from bench.run import PLAIN, STACK, VARIANTS, code_of, variants
from stackctl.settings import ROOT


def test_a_variant_at_another_checkout_imports_that_checkouts_services(tmp_path: Path) -> None:
    """The services run from ROOT as scripts (uvicorn, opentelemetry-instrument), with this
    package installed in editable mode: the variant's PYTHONPATH must win over both."""
    before = tmp_path / "before"
    (before / "services").mkdir(parents=True)
    (before / "services" / "__init__.py").write_text("")
    (before / "services" / "marker.py").write_text("WHERE = 'before'\n")
    script = tmp_path / "bin" / "service.py"  # sys.path[0] is a script's folder, as uvicorn's
    script.parent.mkdir()
    script.write_text("import services.marker as m; print(m.WHERE)\n")
    variant = code_of(next(v for v in VARIANTS if v.name == STACK), before)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **variant.env})
    assert done.stdout.strip() == "before", done.stderr[-500:]
    assert variant.name == f"{STACK} @ before"


def test_against_adds_plain_and_the_stack_on_the_other_code(tmp_path: Path) -> None:
    names = [v.name for v in variants("core", tmp_path / "before")]
    assert names[-2:] == [f"{PLAIN} @ before", f"{STACK} @ before"]
    assert [v.name for v in variants("core")] == names[:-2]



def test_contribs_fastapi_variants_enable_fastapi_alone(tmp_path: Path) -> None:
    """Each service keeps its own list of disabled instrumentations (docker-compose.yml);
    a variant bringing contrib's FastAPI instrumentation back takes `fastapi` out of it,
    not the whole list (which would load every library's instrumentation)."""
    from bench.inprocess import LEVERS, lever_env, stack_env
    from bench.run import programs

    var = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
    known = {v.name: v for v in VARIANTS}
    stack = {p.name: p.environment[var].split(",") for p in programs(known[STACK], tmp_path)}
    assert all("fastapi" in names for names in stack.values())
    for name in ("contrib's FastAPI instrumentation", "with send/receive spans"):
        got = {p.name: p.environment[var].split(",") for p in programs(known[name], tmp_path)}
        assert got == {s: [n for n in names if n != "fastapi"] for s, names in stack.items()}
    ops = "FastAPI's own telemetry, operation spans on"
    assert {p.name: p.environment[var].split(",") for p in programs(known[ops], tmp_path)} == stack

    session = stack_env()[var].split(",")
    lever = {name: lever_env(stack_env(), env)[var].split(",") for name, (_, env) in LEVERS.items()}
    assert lever["contrib's FastAPI instrumentation"] == [n for n in session if n != "fastapi"]
    assert lever["FastAPI's own telemetry, op. spans on"] == session
    assert lever["no sqlite3 spans"] == [*session, "sqlite3"]


def test_the_overhead_phase_also_measures_each_variant_at_a_fixed_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each round runs every variant twice: the closed loop, then the fixed rate (each
    Locust user at its share of --fixed-rate); the ratio to plain is read from the fixed
    rate's own CPU figures. Services and Locust are stand-ins recording what was asked."""
    asked: list[float] = []

    class Copies:
        def __init__(self, variant, data, logs) -> None:
            self.variant = variant

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def pids(self) -> dict[str, int]:
            return {"gateway": 1}

        def rss_mb(self) -> dict[str, float]:
            return {"gateway": 1.0}

    def figures(out, users, seconds, rate_per_user=0, groups=None) -> dict:
        asked.append(rate_per_user)
        plain = "uninstrumented" in str(out)
        cpu = (10.0 if plain else 15.0) if rate_per_user else (10.0 if plain else 20.0)
        return {"requests": 100, "failures": 0, "rps": 40.0, "p50_ms": 1.0, "p99_ms": 2.0,
                "cpu_ms_per_call": {"services": cpu, "backend": 1.0, "load generator": 1.0},
                "trace_ids": [], "all_trace_ids": []}

    monkeypatch.setattr(bench, "Services", Copies)
    monkeypatch.setattr(bench, "segment_figures", figures)
    monkeypatch.setattr(bench, "locust", lambda *a, **k: [])
    monkeypatch.setattr(bench, "stack_pids", lambda names: {})
    args = argparse.Namespace(variants="uninstrumented,instrumented (the stack)",
                              against=None, rounds=2, users=8, seconds=1, fixed_rate=40,
                              fixed_seconds=1)
    summary = bench.overhead(tmp_path, args)
    assert asked == [0, 5.0] * 4  # 2 rounds x 2 variants: closed loop, then 40/s over 8
    stack = summary["instrumented (the stack)"]["vs_plain"]
    assert stack["services_cpu"] == 2.0
    assert stack["services_cpu_fixed_rate"] == 1.5
