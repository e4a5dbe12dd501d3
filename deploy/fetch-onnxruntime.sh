#!/usr/bin/env bash
# Fetches ONNX Runtime (CPU) for the container build with the same pins and steps as
# scripts/setup.sh (both use scripts/onnxruntime.sh): the shared library from the pinned PyPI wheel
# and the C header from Debian trixie's libonnxruntime-dev, each sha256-checked.
# Unlike setup.sh it installs nothing else (no Python test peers, no samples).
#
#   bash deploy/fetch-onnxruntime.sh [DEST]     # DEST defaults to .deps/onnxruntime
#
# Leaves DEST/lib/libonnxruntime.so.VERSION (+ .so.1 and .so links) and DEST/include/onnxruntime_c_api.h.
# Needs python3 with pip, apt-get, dpkg, unzip, sha256sum. linux/amd64 only (the pinned wheel is x86_64).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.deps/onnxruntime}
log() { printf '[fetch-onnxruntime] %s\n' "$*" >&2; }
# shellcheck source=../scripts/onnxruntime.sh
source "$ROOT/scripts/onnxruntime.sh"

arch=$(dpkg --print-architecture)
if [ "$arch" != amd64 ]; then
  log "scripts/onnxruntime.sh pins the x86_64 wheel ($ORT_WHEEL); this machine is $arch: build for linux/amd64"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ort_fetch "$DEST" "$work"
log "ready: $DEST"
