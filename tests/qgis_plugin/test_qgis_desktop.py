"""The real QGIS desktop under Xvfb: the dialog, a run and a rerun, the styled layers.

``scripts/qgis_screenshot.sh`` starts ``qgis`` (the desktop executable, with the plugin staged as
QGIS installs it and a fresh profile whose "invalid features" setting is the default "stop"),
opens Predict coverage through Processing's own dialog, clicks Run twice and writes what the
desktop showed into ``report.json`` plus a screenshot; this test checks that report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytest.importorskip("qgis.core")

from qgis_support import REPO, SAMPLE_DATA  # noqa: E402

pytestmark = pytest.mark.qgis


def default_model() -> str:
    from radiomap_geo.models.registry import default_model as registry_default

    return registry_default()


REQUIRED_TAGS = {"rsrp", "sinr", "coverage", "propagation", "5g", "lte", "exposure", "emf"}


@pytest.fixture(scope="module")
def desktop(tmp_path_factory) -> dict:
    """Run the desktop check once for the module; its report."""
    for tool in ("xvfb-run", "qgis"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (scripts/setup.sh --qgis installs it)")
    if not (SAMPLE_DATA / "helsinki.osm.pbf").exists():
        pytest.skip("sample_data/ is incomplete")
    out = tmp_path_factory.mktemp("desktop")
    env = {**os.environ, "RADIOMAP_DESKTOP_RUNS": "2", "RADIOMAP_DESKTOP_TIMEOUT": "300"}
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "qgis_screenshot.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    report_path = out / "report.json"
    log = (out / "qgis.log").read_text() if (out / "qgis.log").exists() else ""
    assert report_path.exists(), done.stderr + log[-3000:]
    report = json.loads(report_path.read_text())
    assert done.returncode == 0 and not report["errors"], (report["errors"], log[-3000:])
    return {**report, "out": out}


def test_plugin_and_dialog(desktop):
    assert desktop["provider"] == "Radiomap Geo"
    assert {"radiomapgeo:predictcoverage", "radiomapgeo:raytracecoverage"} <= set(
        desktop["algorithms"]
    )
    dialog = desktop["dialog"]
    assert REQUIRED_TAGS <= set(dialog["tags"])
    labels = dialog["labels"]
    default = default_model()
    assert f"Propagation model (see the help for each; default {default})" in labels
    assert "nDSM: heights above ground in metres [optional]" in labels
    assert not [text for text in labels if "(optional" in text and "[optional]" in text]
    assert not [text for text in labels if "per site" in text.lower() and "[optional]" not in text]
    help_text = dialog["help"]
    assert f"{default} (default):" in help_text and help_text.count("(default)") == 1
    assert "Blended with fallback" in help_text and "Physics baselines" in help_text
    assert "unet-ortho: " in help_text and "reads the orthophoto and the nDSM" in help_text


def test_run_and_rerun_with_the_stop_on_invalid_setting(desktop):
    assert desktop["invalid_geometry_setting"] == 2  # "Stop algorithm execution"
    assert [run["ok"] for run in desktop["runs"]] == [True, True]
    for run in desktop["runs"]:
        assert (
            "Grid: 161 x 161 cells of 5 m (805 m x 805 m, 25,921 cells) in EPSG:32635"
            in (run["log"])
        )
        assert "Buildings: 259 footprints from the layer 'OSM buildings'" in run["log"]


def test_layers_styled_ordered_and_explained(desktop):
    layers = desktop["layers"]
    assert [layer["name"] for layer in layers] == [
        "RSRP, received power per resource element (dBm)",
        "Best server",
        "SINR (dB)",
        "Electric field strength, all sites (V/m)",
    ]
    assert [layer["visible"] for layer in layers] == [True, False, False, False]
    rsrp, best, sinr, field = layers
    assert field["renderer"] == "QgsSingleBandPseudoColorRenderer" and "V/m" in field["legend"][-1]
    assert rsrp["renderer"] == sinr["renderer"] == "QgsSingleBandPseudoColorRenderer"
    low, high = rsrp["limits"]
    assert low % 5 == 0 and high % 5 == 0 and -130 <= low < high <= -40
    assert rsrp["legend"][-2:] == [f"{low:g} dBm", f"{high:g} dBm"]
    assert sinr["legend"][-2:] == ["-10 dB", "30 dB"]
    assert best["renderer"] == "QgsPalettedRasterRenderer"
    assert best["legend"][-4:] == ["hel-01", "hel-02", "hel-03", "hel-04"]
    assert "per resource element" in rsrp["abstract"] and "27.9 dB below" in rsrp["abstract"]
    assert f"Model {default_model()}" in rsrp["abstract"]


def test_screenshot(desktop):
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(desktop["out"] / "screenshot.png"))
    assert image.width() == 1100 and image.height() > 600
    # The RSRP layer is drawn on the map (right of the Layers panel): a smooth ramp of many
    # colours, reaching viridis' yellow end (the strongest 2 % of cells and more).
    pixels = [
        image.pixelColor(x, y)
        for x in range(300, image.width(), 7)
        for y in range(120, image.height() - 40, 7)
    ]
    assert len({p.name() for p in pixels}) > 200
    assert sum(p.red() > 200 and p.green() > 200 and p.blue() < 90 for p in pixels) > 20
