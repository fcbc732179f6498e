# Environment for headless QGIS (qgis_process.bin, PyQGIS tests). Source it, don't run it:
#
#   . scripts/qgis_env.sh
#   qgis_process.bin plugins enable radiomap_geo_qgis
#   qgis_process.bin run radiomapgeo:predictcoverage -- SITES=... EXTENT=... OUTPUT_RSRP=...
#
# It sets
#   QT_QPA_PLATFORM=offscreen      no display or Xvfb needed
#   XDG_RUNTIME_DIR                private (mode 700), Qt refuses others
#   QGIS_CUSTOM_CONFIG_PATH        a throw-away profile, so the user's QGIS settings stay untouched
#   QGIS_PLUGINPATH                a folder with the plugin staged as QGIS installs it
#                                  (scripts/package_plugin.py --stage: code + metadata.txt + LICENSE)
#   PYTHONPATH                     the repository and the venv's site-packages: qgis_process's Python
#                                  ignores venvs and does not read the venv's .pth files
# Overrides: RADIOMAP_VENV (default <repo>/.venv), RADIOMAP_QGIS_HOME (default: a new temp folder).
# Never exports PROJ_DATA/PROJ_LIB/GDAL_DATA: QGIS and rasterio each find their own.

_rg_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_rg_venv="${RADIOMAP_VENV:-$_rg_root/.venv}"
if [ -x "$_rg_venv/bin/python" ]; then
  _rg_python="$_rg_venv/bin/python"
else
  _rg_python="$(command -v python3)"
fi

export RADIOMAP_QGIS_HOME="${RADIOMAP_QGIS_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/radiomap-qgis.XXXXXX")}"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="$RADIOMAP_QGIS_HOME/xdg-runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QGIS_CUSTOM_CONFIG_PATH="$RADIOMAP_QGIS_HOME/config"
mkdir -p "$QGIS_CUSTOM_CONFIG_PATH"
export QGIS_PLUGINPATH="$RADIOMAP_QGIS_HOME/plugins"
mkdir -p "$QGIS_PLUGINPATH"
"$_rg_python" "$_rg_root/scripts/package_plugin.py" --stage "$QGIS_PLUGINPATH" >/dev/null

_rg_site="$("$_rg_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# The wheels' bundled GDAL/GEOS/PROJ are kept apart from QGIS's by the plugin itself
# (radiomap_geo_qgis/native.py, RTLD_DEEPBIND); RADIOMAP_QGIS_DEEPBIND=0 turns that off.
case ":${PYTHONPATH:-}:" in
  *":$_rg_site:"*) ;;
  *) export PYTHONPATH="$_rg_root:$_rg_site${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
unset _rg_root _rg_venv _rg_python _rg_site
