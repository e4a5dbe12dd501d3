#!/usr/bin/env bash
# Fetches ONNX Runtime (CPU) the way scripts/setup.sh does, for the container build:
#   - the shared library from the pinned onnxruntime PyPI wheel (sha256-checked),
#   - the C header from Debian trixie's libonnxruntime-dev (sha256-checked against
#     scripts/onnxruntime-header.sha256), fetched without touching apt's configuration.
# The version and the wheel's checksum are read from scripts/setup.sh, so the two never drift.
# Unlike setup.sh it installs nothing else (no Python test peers, no samples).
#
#   bash deploy/fetch-onnxruntime.sh [DEST]     # DEST defaults to .deps/onnxruntime
#
# Leaves DEST/lib/libonnxruntime.so.VERSION (+ .so.1 and .so links) and DEST/include/onnxruntime_c_api.h.
# Needs python3 with pip, apt-get, dpkg, unzip, sha256sum. linux/amd64 only (the pinned wheel is x86_64).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.deps/onnxruntime}
PY=${PYTHON:-python3}
log() { printf '[fetch-onnxruntime] %s\n' "$*" >&2; }

vars=$(grep -E '^ORT_(VERSION|WHEEL|WHEEL_SHA256)=' "$ROOT/scripts/setup.sh")
eval "$vars"
: "${ORT_VERSION:?not found in scripts/setup.sh}" "${ORT_WHEEL:?not found in scripts/setup.sh}" \
  "${ORT_WHEEL_SHA256:?not found in scripts/setup.sh}"
HEADER_SHA256=$(tr -d ' \n' < "$ROOT/scripts/onnxruntime-header.sha256")

arch=$(dpkg --print-architecture)
if [ "$arch" != amd64 ]; then
  log "scripts/setup.sh pins the x86_64 wheel ($ORT_WHEEL); this machine is $arch: build for linux/amd64"
  exit 1
fi

mkdir -p "$DEST/lib" "$DEST/include"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "ONNX Runtime $ORT_VERSION: the shared library from the PyPI wheel"
"$PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
  --python-version 3.11 "onnxruntime==$ORT_VERSION" -d "$work"
echo "$ORT_WHEEL_SHA256  $work/$ORT_WHEEL" | sha256sum -c --quiet
unzip -q -o "$work/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$work/wheel"
mv "$work/wheel/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$DEST/lib/"
ln -sf "libonnxruntime.so.$ORT_VERSION" "$DEST/lib/libonnxruntime.so.1"
ln -sf "libonnxruntime.so.1" "$DEST/lib/libonnxruntime.so"

log "the C header from Debian trixie's libonnxruntime-dev"
apt_dir=$work/apt-trixie
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
apt-get "${apt_opts[@]}" update -qq
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download libonnxruntime-dev >/dev/null)
deb=$(ls "$apt_dir"/libonnxruntime-dev_*.deb | head -1)
dpkg -x "$deb" "$work/deb"
hdr=$(find "$work/deb" -name onnxruntime_c_api.h | head -1)
echo "$HEADER_SHA256  $hdr" | sha256sum -c --quiet
cp "$hdr" "$DEST/include/"
log "ready: $DEST"
