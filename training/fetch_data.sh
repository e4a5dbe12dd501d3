#!/usr/bin/env bash
# Fetches the labelled NEON images and crown labels shipped in the deepforest wheel (checked by
# SHA-256) into training/data: used by make_model.sh and by the fine-tuning benchmark. Never
# committed. Idempotent: does nothing when the data is there.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="$HERE/data"
WORK="$HERE/work"
VPY="$HERE/.venv/bin/python"
DEEPFOREST_VERSION=2.1.0
DEEPFOREST_SHA256=8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54
mkdir -p "$DATA" "$WORK"
[ -x "$VPY" ] || bash "$HERE/venv.sh"
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

