#!/usr/bin/env bash
# Re-train the default tree-crown model from scratch (called by `make model`).
#
#   bash training/make_model.sh            # venv + data + train + export + evaluate
#   SKIP_TRAIN=1 bash training/make_model.sh   # re-export/evaluate an existing checkpoint
#
# Idempotent: the venv, the wheel and the unpacked data are reused when present.
# Uses one CPU core at low priority by default (TRAIN_THREADS=1); with more
# cores, TRAIN_THREADS=N speeds training up (results then differ in the last
# bits, as floating-point reductions change order).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
DATA="$HERE/data"
WORK="$HERE/work"
export TRAIN_THREADS="${TRAIN_THREADS:-1}"
export OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS"
NICE="nice -n 19"

mkdir -p "$WORK" "$DATA" "$ROOT/models/tree-crowns"

# 1. virtual environment with pinned packages (training/venv.sh; a no-op when it is complete)
bash "$HERE/venv.sh"
VPY="$VENV/bin/python"

# 2. labelled NEON data from the deepforest wheel (never committed)
bash "$HERE/fetch_data.sh"

cd "$HERE"
# 3. train (fixed seed), 4. export + calibrate, 5. evaluate + card
if [ -z "${SKIP_TRAIN:-}" ] || [ ! -f "$WORK/treenet.pt" ]; then
  $NICE "$VPY" train.py 2>&1 | tee "$WORK/train.log"
fi
$NICE "$VPY" export.py 2>&1 | tee "$WORK/export.log"
$NICE "$VPY" evaluate.py 2>&1 | tee "$WORK/evaluate.log"
echo "model, manifest, card and quicklooks are in models/tree-crowns/"
