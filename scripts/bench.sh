#!/usr/bin/env bash
# Runs the benchmarks against the release build; see scripts/bench.py for what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || true; }
.venv/bin/python scripts/bench.py "$@"
.venv/bin/python scripts/bench_drone.py
.venv/bin/python scripts/bench_service.py
.venv/bin/python scripts/bench_gcs.py
.venv/bin/python scripts/bench_scaleout.py
.venv/bin/python scripts/bench_map.py
.build/release/geoinfer bench-merge
.venv/bin/python scripts/bench_cog.py
.venv/bin/python scripts/bench_finetune.py
