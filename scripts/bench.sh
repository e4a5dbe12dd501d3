#!/usr/bin/env bash
# Runs the benchmarks against the release build; see scripts/bench.py for what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/bench.py "$@"
