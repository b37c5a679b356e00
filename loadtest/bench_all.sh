#!/usr/bin/env bash
# Runs `make bench-scenario` for every scenario, one after another (~9 min with the
# defaults), for the figures in docs/scenarios.md. Needs the stack up.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in n_plus_one sequential_fanout slow_query pool_of_one blocking_call retry_storm error_injection; do
  make --no-print-directory bench-scenario NAME="$name"
done
.venv/bin/python -m loadtest.bench_report
