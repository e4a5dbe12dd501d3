# ONNX Runtime (CPU) for GeoInfer, sourced by scripts/setup.sh and deploy/fetch-onnxruntime.sh so
# that the pins and the download steps exist once:
#   - the shared library from the pinned onnxruntime PyPI wheel (sha256-checked),
#   - the C header from Debian trixie's libonnxruntime-dev (sha256-checked against
#     scripts/onnxruntime-header.sha256), fetched without touching apt's configuration.
# Needs python3 with pip, apt-get, dpkg, unzip, sha256sum; the pinned wheel is x86_64.
ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ORT_HEADER_SHA256_FILE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/onnxruntime-header.sha256

# ort_fetch DEST CACHE: leaves DEST/lib/libonnxruntime.so.VERSION (+ .so.1 and .so links) and
# DEST/include/onnxruntime_c_api.h, fetching what is missing; downloads are kept in CACHE.
ort_fetch() {
  local dest=$1 cache=$2 py=${PYTHON:-python3} tmp
  mkdir -p "$dest/lib" "$dest/include" "$cache"
  if [ ! -f "$dest/lib/libonnxruntime.so.$ORT_VERSION" ]; then
    log "fetching ONNX Runtime $ORT_VERSION (the shared library from the PyPI wheel)"
    if [ ! -f "$cache/$ORT_WHEEL" ]; then
      "$py" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
        --python-version 3.11 "onnxruntime==$ORT_VERSION" -d "$cache"
    fi
    echo "$ORT_WHEEL_SHA256  $cache/$ORT_WHEEL" | sha256sum -c --quiet
    tmp=$(mktemp -d)
    unzip -q -o "$cache/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp"
    mv "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$dest/lib/"
    rm -rf "$tmp"
  fi
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest/lib/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.1" "$dest/lib/libonnxruntime.so"

  if [ ! -f "$dest/include/onnxruntime_c_api.h" ]; then
    log "fetching the ONNX Runtime C header (Debian trixie's libonnxruntime-dev)"
    local apt_dir=$cache/apt-trixie deb hdr
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
      > "$apt_dir/sources.list"
    local apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
                    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
    apt-get "${apt_opts[@]}" update -qq
    (cd "$apt_dir" && apt-get "${apt_opts[@]}" download libonnxruntime-dev >/dev/null)
    deb=$(ls "$apt_dir"/libonnxruntime-dev_*.deb | head -1)
    tmp=$(mktemp -d)
    dpkg -x "$deb" "$tmp"
    hdr=$(find "$tmp" -name onnxruntime_c_api.h | head -1)
    echo "$(tr -d ' \n' < "$ORT_HEADER_SHA256_FILE")  $hdr" | sha256sum -c --quiet
    cp "$hdr" "$dest/include/"
    rm -rf "$tmp"
  fi
}
