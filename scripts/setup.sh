#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh Debian 12 machine for radiomap-geo.
#   scripts/setup.sh           system libraries + .venv with the package, torch, Sionna RT
#   scripts/setup.sh --qgis    the same, plus Debian's QGIS (needed by the QGIS tests)
# Re-running is cheap: every step checks whether it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_qgis=0
[[ "${1:-}" == "--qgis" ]] && want_qgis=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_packages=(python3-venv libllvm19)
(( want_qgis )) && apt_packages+=(qgis python3-qgis qgis-providers xvfb xauth)  # xvfb: the desktop test
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  echo "[setup] apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's own Python with system site-packages, so the same venv also imports qgis.core.
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip >/dev/null

# torch: the CPU build unless a GPU is present (a plain 'torch' pulls several GB of CUDA).
if ! "$py" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    "$py" -m pip install -q "torch>=2.3"
  else
    "$py" -m pip install -q "torch==2.13.0" 2>/dev/null \
      || "$py" -m pip install -q "torch>=2.3" --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
  fi
fi

# numpy<2 and attrs>=23.2: Debian's GDAL/QGIS bindings are built against numpy 1, and its attrs 22.2
# breaks rasterio (see ../shared/guides/environment.md).
"$py" -m pip install -q -c scripts/constraints.txt -e ".[rt,dask,dev]"
echo "[setup] done: activate with 'source .venv/bin/activate'"
