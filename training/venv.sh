#!/usr/bin/env bash
# Creates training/.venv with the pinned training packages (torch, onnx, onnxruntime, pycocotools,
# Pillow, numpy). Idempotent: does nothing when the venv already imports all of them.
# Run by make_model.sh and by `scripts/setup.sh --train` (and `--test`, whose fine-tuning test
# trains for a few iterations). PYTHON picks the interpreter that creates the venv (python3).
#
# PyPI's default Linux torch wheel pulls ~3 GB of CUDA libraries. A CPU-only build (local
# version +cpu) is used when pip can see one (e.g. through a find-links folder such as
# /opt/wheels on our build machines); otherwise the PyPI wheel is installed and the download
# accepted (it trains identically on CPU). See README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
VPY="$VENV/bin/python"
PY="${PYTHON:-python3}"
TORCH_VERSION=2.13.0

if [ ! -x "$VPY" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VPY" -c "import torch, onnx, onnxruntime, pycocotools, PIL, numpy" 2>/dev/null; then
  "$VPY" -m pip install "torch==${TORCH_VERSION}+cpu" \
    || "$VPY" -m pip install "torch==${TORCH_VERSION}"
  "$VPY" -m pip install -r "$HERE/requirements.txt"
fi
