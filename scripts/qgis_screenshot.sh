#!/usr/bin/env bash
# The QGIS desktop under Xvfb: Predict coverage on sample_data/ through its dialog (run twice, as
# users rerun), then a screenshot of the styled result and a JSON report of what the desktop
# showed (dialog labels, help, tags, layers, legends, log).
#
#   bash scripts/qgis_screenshot.sh [OUT_DIR]        (default: a new temp folder)
#
# Writes OUT_DIR/screenshot.png and OUT_DIR/report.json (read by tests/qgis_plugin/
# test_qgis_desktop.py). Needs Debian's qgis and xvfb (scripts/setup.sh --qgis). Environment:
# RADIOMAP_DESKTOP_RUNS (2), RADIOMAP_DESKTOP_MODEL (the dialog's default), RADIOMAP_DESKTOP_RES (5).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${1:-}" ]]; then
  mkdir -p "$1" && out="$(cd "$1" && pwd)"
else
  out="$(mktemp -d "${TMPDIR:-/tmp}/radiomap-desktop.XXXXXX")"
fi
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install xvfb" >&2; exit 2; }
command -v qgis >/dev/null || { echo "qgis not found: bash scripts/setup.sh --qgis" >&2; exit 2; }

# shellcheck source=scripts/qgis_env.sh
. "$root/scripts/qgis_env.sh"
export QT_QPA_PLATFORM=xcb            # a real (virtual) display, not offscreen
export RADIOMAP_DESKTOP_OUT="$out" RADIOMAP_REPO="$root"
# A fresh profile (qgis_env.sh): no tips dialog, no news feed, no version check.
ini="$QGIS_CUSTOM_CONFIG_PATH/profiles/default/QGIS/QGIS3.ini"
mkdir -p "$(dirname "$ini")"
cat > "$ini" <<'INI'
[qgis]
showTips322=false
checkVersion=false
[core]
NewsFeed\httpsfeedqgisorg\disabled=true
INI
# timeout: a hung desktop must not hang CI; the driver exits by itself when done.
timeout "${RADIOMAP_DESKTOP_TIMEOUT:-600}" xvfb-run -a -s "-screen 0 1400x900x24" \
  qgis --nologo --noversioncheck --code "$root/scripts/qgis_desktop_check.py" \
  >"$out/qgis.log" 2>&1 || { rc=$?; echo "qgis exited with $rc; see $out/qgis.log and $out/report.json" >&2; exit "$rc"; }
echo "$out/screenshot.png"
