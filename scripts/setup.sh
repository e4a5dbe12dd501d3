#!/usr/bin/env bash
# Installs what GeoInfer needs and is missing. Idempotent: safe to run before every build.
#   - GDAL (libgdal-dev, gdal-bin; libjpeg-dev and libtiff-dev, which it brings, for reduced JPEG reads), SQLite and Leaflet (libjs-leaflet, for the dashboard's map) from Debian/Ubuntu packages
#   - ONNX Runtime: the shared library from the pinned PyPI wheel, the C header from
#     Debian's libonnxruntime-dev (trixie), both into .deps/onnxruntime (git-ignored), sha256-checked
#   - a Python virtual environment (.venv) with the test peers: onnx, onnxruntime, numpy, pycocotools
#   - the NEON sample OSBS_029.tif from the deepforest wheel, into .deps/samples
#   - with --test: Chromium (Debian package), which the dashboard test drives headless, and PostgreSQL 15
#     (Debian package), whose clusters the scale-out tests start on loopback
#   - with --train (and with --test, whose fine-tuning test trains a few iterations): the training
#     environment training/.venv (CPU torch and the pins of training/requirements.txt, training/venv.sh)
set -euo pipefail
WITH_TESTS=
WITH_TRAIN=
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TESTS=--test WITH_TRAIN=1 ;;
    --train) WITH_TRAIN=1 ;;
    *) printf '[setup] unknown option %s (expected --test and/or --train)\n' "$arg" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=$ROOT/.deps
DEEPFOREST_VERSION=2.1.0
PY=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v swift >/dev/null 2>&1; then
  log "Swift 6.1 or newer is needed and was not found on PATH: install the toolchain from swift.org (Linux, Debian 12 or Ubuntu) and run again"
  exit 1
fi

# --- system packages --------------------------------------------------------------------------
need_pkgs=()
pkgs=(libgdal-dev libjpeg-dev libtiff-dev gdal-bin libsqlite3-dev pkg-config curl unzip ca-certificates python3-venv libjs-leaflet)
[ "$WITH_TESTS" = "--test" ] && pkgs+=(chromium postgresql-15)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
# python3-venv is only needed when the interpreter in use cannot make a venv by itself
if [[ " ${need_pkgs[*]} " == *" python3-venv "* ]] && "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  need_pkgs=("${need_pkgs[@]/python3-venv}")
fi
need_pkgs=($(printf '%s\n' "${need_pkgs[@]}" | sed '/^$/d'))
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# --- ONNX Runtime: shared library (PyPI wheel) and C header (Debian trixie) ----------------------
# shellcheck source=onnxruntime.sh
source "$ROOT/scripts/onnxruntime.sh"
ORT=$DEPS/onnxruntime
ort_fetch "$ORT" "$DEPS/cache"
# the C shim target includes the header through this git-ignored link
ln -sf "../../../.deps/onnxruntime/include/onnxruntime_c_api.h" Sources/CONNXRuntime/include/onnxruntime_c_api.h

# --- Python test peers ------------------------------------------------------------------------
VENV=$ROOT/.venv
if [ ! -x "$VENV/bin/python" ]; then
  log "creating .venv"
  "$PY" -m venv "$VENV"
fi
# Installed again whenever the pinned list changes (its checksum is kept beside the venv).
want=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements-test.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing Python test peers"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -r scripts/requirements-test.txt
  echo "$want" > "$VENV/.requirements-test.sha256"
fi

# --- the training environment (fine-tuning), with --train or --test ----------------------------------
if [ -n "$WITH_TRAIN" ]; then
  if ! training/.venv/bin/python -c "import torch, onnx, onnxruntime, pycocotools, PIL, numpy" 2>/dev/null; then
    log "installing the training environment training/.venv (CPU torch; several minutes)"
  fi
  PYTHON="$PY" bash training/venv.sh
fi

# --- the NEON sample raster ------------------------------------------------------------------
SAMPLES=$DEPS/samples
if [ ! -f "$SAMPLES/OSBS_029.tif" ]; then
  log "fetching the NEON sample OSBS_029.tif (deepforest $DEEPFOREST_VERSION wheel)"
  mkdir -p "$SAMPLES"
  "$PY" -m pip download -q --no-deps --only-binary=:all: "deepforest==$DEEPFOREST_VERSION" -d "$DEPS/cache"
  whl=$(ls "$DEPS/cache"/deepforest-"$DEEPFOREST_VERSION"-*.whl | head -1)
  tmp=$(mktemp -d)
  unzip -q -o "$whl" 'deepforest/data/OSBS_029.*' -d "$tmp"
  mv "$tmp"/deepforest/data/OSBS_029.* "$SAMPLES/"
  rm -rf "$tmp"
fi
log "ready"
