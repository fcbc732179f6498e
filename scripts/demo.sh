#!/usr/bin/env bash
# The README's main job: set up, then predict coverage for the bundled Helsinki sample.
# Writes out/coverage.tif (COG: rsrp_dbm, best_server, sinr_db, per-site path gain) and
# out/coverage.png, with the default network (unet-obs; `--model 3gpp-uma` for the baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/radiomap-geo predict \
  --bbox 24.937,60.165,24.951,60.172 \
  --buildings sample_data/helsinki.osm.pbf \
  --tx-file sample_data/sites.gpkg \
  --resolution 2 --per-site \
  -o out/coverage.tif --preview --overwrite "$@"
