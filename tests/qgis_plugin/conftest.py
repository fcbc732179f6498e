"""Fixtures for the QGIS plugin tests: one headless QGIS per session, real input files.

Nothing here imports QGIS at module level, so collecting these tests on a machine without QGIS
works; every test module skips itself with ``pytest.importorskip("qgis.core")``.

Notes learnt the hard way (QGIS 3.22):

* keep a Python reference to every provider added to the registry, or its Python half is
  garbage-collected and the registry is left with an empty ``QgsProcessingProvider``;
* QGIS segfaults at ``exitQgis()``/interpreter exit while layer objects are alive, so layers stay
  function-scoped and the session never calls ``exitQgis()``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for qgis_support, shared with the test modules

from qgis_support import (  # noqa: E402
    DELFT_BOX,
    DELFT_BUILDINGS,
    DELFT_SITES,
    QGIS_PLUGINS,
    REPO,
    qgis_extent,
    write_sites,
)


def _headless_env(root: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not os.environ.get("XDG_RUNTIME_DIR") or not os.access(os.environ["XDG_RUNTIME_DIR"], 2):
        runtime = root / "xdg-runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    if not os.environ.get("QGIS_CUSTOM_CONFIG_PATH"):
        config = root / "config"
        config.mkdir(exist_ok=True)
        os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(config)


@pytest.fixture(scope="session")
def staged_plugin(tmp_path_factory) -> Path:
    """The plugin folder exactly as the zip installs it (code + metadata.txt + LICENSE)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import package_plugin
    finally:
        sys.path.pop(0)
    return package_plugin.stage(tmp_path_factory.mktemp("plugins"))


@pytest.fixture(scope="session")
def qgis_app(staged_plugin, tmp_path_factory):
    """A headless ``QgsApplication`` with Processing and the radiomapgeo provider.

    Yields a dict whose ``"provider"`` entry holds the registered provider (tests that replace it
    must store the new one there, see ``test_plugin.py``).
    """
    pytest.importorskip("qgis.core")
    _headless_env(tmp_path_factory.mktemp("qgis-env"))
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    if QGIS_PLUGINS not in sys.path:
        sys.path.append(QGIS_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    sys.path.insert(0, str(staged_plugin.parent))
    from radiomap_geo_qgis.provider import RadiomapGeoProvider

    state = {"app": app, "provider": RadiomapGeoProvider()}
    assert QgsApplication.processingRegistry().addProvider(state["provider"])
    yield state
    # No exitQgis(): see the module docstring. The process exits right after the session.


@pytest.fixture
def feedback(qgis_app):
    """A feedback that records every message, for asserting on the Processing log."""
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.log: list[str] = []
            self.progress_values: list[float] = []
            self.progressChanged.connect(self.progress_values.append)

        def reportError(self, error, fatalError=False):  # noqa: N802, N803
            self.log.append(f"ERROR {error}")

        def pushWarning(self, warning):  # noqa: N802
            self.log.append(f"WARNING {warning}")

        def pushInfo(self, info):  # noqa: N802
            self.log.append(f"INFO {info}")

        def setProgressText(self, text):  # noqa: N802
            self.log.append(f"PROGRESS {text}")

        @property
        def text(self) -> str:
            return "\n".join(self.log)

    return Recorder()


@pytest.fixture(scope="session")
def delft(tmp_path_factory) -> dict:
    """Real inputs: Delft BGT building footprints and two sites written for the test."""
    if not DELFT_BUILDINGS.exists():
        pytest.skip(f"{DELFT_BUILDINGS} is not on this machine")
    root = tmp_path_factory.mktemp("delft")
    return {
        "sites": str(write_sites(root / "sites.gpkg")),
        "sites_wgs84": str(write_sites(root / "sites_wgs84.gpkg", crs="EPSG:4326")),
        "buildings": str(DELFT_BUILDINGS),
        "extent": qgis_extent(DELFT_BOX, "EPSG:28992"),
        "box": DELFT_BOX,
        "sites_list": DELFT_SITES,
    }


@pytest.fixture
def outputs(tmp_path) -> dict:
    """Output paths for the three main rasters."""
    return {
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
        "OUTPUT_BEST_SERVER": str(tmp_path / "best_server.tif"),
        "OUTPUT_SINR": str(tmp_path / "sinr.tif"),
    }
