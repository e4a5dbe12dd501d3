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
DEEPFOREST_VERSION=2.1.0
DEEPFOREST_SHA256=8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54
export TRAIN_THREADS="${TRAIN_THREADS:-1}"
export OMP_NUM_THREADS="$TRAIN_THREADS" MKL_NUM_THREADS="$TRAIN_THREADS"
NICE="nice -n 19"

mkdir -p "$WORK" "$DATA" "$ROOT/models/tree-crowns"

# 1. virtual environment with pinned packages (training/venv.sh; a no-op when it is complete)
bash "$HERE/venv.sh"
VPY="$VENV/bin/python"

# 2. labelled NEON data from the deepforest wheel (never committed)
WHEEL="$WORK/wheel/deepforest-${DEEPFOREST_VERSION}-py3-none-any.whl"
if [ ! -f "$WHEEL" ]; then
  "$VPY" -m pip download --quiet --no-deps --only-binary=:all: "deepforest==${DEEPFOREST_VERSION}" -d "$WORK/wheel"
fi
echo "${DEEPFOREST_SHA256}  ${WHEEL}" | sha256sum -c --quiet
if [ ! -f "$DATA/OSBS_029.tif" ]; then
  "$VPY" - "$WHEEL" "$DATA" <<'EOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith("deepforest/data/") and not n.endswith("/"):
            with open(os.path.join(dest, os.path.basename(n)), "wb") as f:
                f.write(z.read(n))
        elif n.endswith("dist-info/licenses/LICENSE"):
            with open(os.path.join(dest, "DEEPFOREST_LICENSE"), "wb") as f:
                f.write(z.read(n))
EOF
fi

cd "$HERE"
# 3. train (fixed seed), 4. export + calibrate, 5. evaluate + card
if [ -z "${SKIP_TRAIN:-}" ] || [ ! -f "$WORK/treenet.pt" ]; then
  $NICE "$VPY" train.py 2>&1 | tee "$WORK/train.log"
fi
$NICE "$VPY" export.py 2>&1 | tee "$WORK/export.log"
$NICE "$VPY" evaluate.py 2>&1 | tee "$WORK/evaluate.log"
echo "model, manifest, card and quicklooks are in models/tree-crowns/"
