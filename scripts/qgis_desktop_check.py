"""Runs inside the QGIS desktop (``qgis --code``): Predict coverage as a user runs it, checked.

Started by ``scripts/qgis_screenshot.sh`` (under Xvfb). In the real desktop with the plugin
staged as QGIS installs it, it loads ``sample_data/`` (sites and the OSM buildings, with the
desktop's default "stop on invalid geometry" setting), opens the Predict coverage dialog, reads
its labels, help and tags, clicks Run (the dialog runs it in a background task), runs it again
(a rerun in the same session, as users do), then reads the loaded layers (renderer, limits,
legend labels, abstract, order, visibility), writes ``report.json`` and a screenshot
``screenshot.png`` of the main window into ``$RADIOMAP_DESKTOP_OUT`` and quits.

Environment: ``RADIOMAP_DESKTOP_OUT`` (required), ``RADIOMAP_DESKTOP_RUNS`` (default 2),
``RADIOMAP_DESKTOP_MODEL`` (default: the dialog's default model), ``RADIOMAP_DESKTOP_RES``
(cell size in metres, default 5).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize, Qt, QTimer
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QLabel, QTextBrowser, QTextEdit
from qgis.utils import iface

# qgis --code exec()s this file's text: no __file__, so the wrapper passes the repository.
REPO = Path(os.environ.get("RADIOMAP_REPO", os.getcwd()))
SAMPLE = REPO / "sample_data"
OUT = Path(os.environ["RADIOMAP_DESKTOP_OUT"])
RUNS = int(os.environ.get("RADIOMAP_DESKTOP_RUNS", "2"))
ALGORITHM = "radiomapgeo:predictcoverage"
EXTENT = "24.937,24.951,60.165,60.172 [EPSG:4326]"
report: dict = {"runs": [], "errors": [], "message_log": []}


def record_message(message, tag, level) -> None:
    """Keep the QGIS message log's Processing and plugin entries for the report."""
    if tag in ("Processing", "Radiomap Geo", "Python error", "Python warning"):
        report["message_log"].append(f"[{tag}] {message}")


QgsApplication.messageLog().messageReceived.connect(record_message)


def finish(code: int = 0) -> None:
    """Write the report and leave at once (no save-project prompt, no teardown)."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(report, indent=1, default=str))
    os._exit(code)


def fail(message: str) -> None:
    """Record why the check stopped and quit with status 1."""
    report["errors"].append(message)
    finish(1)


def guarded(function):
    """Report any exception in a step instead of leaving QGIS hanging."""

    def run(*args):
        try:
            function(*args)
        except Exception:
            fail(traceback.format_exc())

    return run


def load_plugin() -> None:
    """Load and start the plugin from QGIS_PLUGINPATH, as the plugin manager does."""
    import qgis.utils

    qgis.utils.updateAvailablePlugins()
    if "radiomap_geo_qgis" not in qgis.utils.available_plugins:
        fail(f"plugin not found on {os.environ.get('QGIS_PLUGINPATH')}")
    qgis.utils.loadPlugin("radiomap_geo_qgis")
    qgis.utils.startPlugin("radiomap_geo_qgis")
    provider = QgsApplication.processingRegistry().providerById("radiomapgeo")
    report["provider"] = provider.name() if provider else None
    report["algorithms"] = [a.id() for a in provider.algorithms()] if provider else []


def add_inputs() -> None:
    """The sample sites and OSM buildings as project layers, the map in UTM 35N."""
    project = QgsProject.instance()
    sites = QgsVectorLayer(str(SAMPLE / "sites.gpkg"), "sites", "ogr")
    buildings = QgsVectorLayer(
        f'{SAMPLE / "helsinki.osm.pbf"}|layername=multipolygons|subset="building" IS NOT NULL',
        "OSM buildings",
        "ogr",
    )
    assert sites.isValid() and buildings.isValid()
    # Fixed colours (QGIS picks random ones): grey buildings, red sites, apart from the ramps.
    buildings.renderer().symbol().setColor(QColor("#8c8c8c"))
    sites.renderer().symbol().setColor(QColor("#e41a1c"))
    sites.renderer().symbol().setSize(3.0)
    project.addMapLayers([buildings, sites])
    report["inputs"] = {"sites": sites.id(), "buildings": buildings.id()}
    report["invalid_geometry_setting"] = _invalid_geometry_setting()


def _invalid_geometry_setting():
    from processing.core.ProcessingConfig import ProcessingConfig

    return ProcessingConfig.getSetting(ProcessingConfig.FILTER_INVALID_GEOMETRIES)


def tidy_window() -> None:
    """Room for the Layers panel (its legends are what the screenshot is about)."""
    from qgis.PyQt.QtWidgets import QDockWidget

    for dock in iface.mainWindow().findChildren(QDockWidget):
        if dock.objectName() == "Browser":
            dock.hide()


def open_dialog():
    """The Predict coverage dialog with the inputs filled in; its labels, help and tags."""
    import processing

    parameters = {
        "SITES": report["inputs"]["sites"],
        "BUILDINGS": report["inputs"]["buildings"],
        "EXTENT": EXTENT,
        "RESOLUTION": float(os.environ.get("RADIOMAP_DESKTOP_RES", "5")),
    }
    if os.environ.get("RADIOMAP_DESKTOP_MODEL"):
        parameters["MODEL"] = os.environ["RADIOMAP_DESKTOP_MODEL"]
    dialog = processing.createAlgorithmDialog(ALGORITHM, parameters)
    dialog.resize(QSize(900, 700))
    dialog.show()
    algorithm = dialog.algorithm()
    report["dialog"] = {
        "title": dialog.windowTitle(),
        "tags": algorithm.tags(),
        "labels": sorted({w.text() for w in dialog.findChildren(QLabel) if w.text()}),
        "help": "\n".join(w.toPlainText() for w in dialog.findChildren(QTextBrowser)),
    }
    return dialog


def log_text(dialog) -> str:
    """The dialog's Log tab (not the help browser, also a QTextEdit)."""
    logs = [w for w in dialog.findChildren(QTextEdit) if w.objectName() == "txtLog"]
    return "\n".join(w.toPlainText() for w in logs)


def legend_labels(layer) -> list[str]:
    """The texts of the layer's legend entries in the Layers panel."""
    node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
    nodes = layer.legend().createLayerTreeModelLegendNodes(node) if node else []
    renderer = layer.renderer()
    labels = []
    for legend_node in nodes:
        text = legend_node.data(Qt.DisplayRole)
        if text:
            labels.append(str(text))
        settings = getattr(legend_node, "settings", None)
        if callable(settings):  # the continuous ramp bar, labelled min and max with its suffix
            for value in (renderer.classificationMin(), renderer.classificationMax()):
                labels.append(f"{settings().prefix()}{value:g}{settings().suffix()}")
    return labels


def describe_layers(before: set[str]) -> list[dict]:
    """The raster layers the run added, top to bottom, as the Layers panel shows them."""
    root = QgsProject.instance().layerTreeRoot()
    out = []
    for node in root.findLayers():
        layer = node.layer()
        if layer is None or layer.id() in before or not isinstance(layer, QgsRasterLayer):
            continue
        renderer = layer.renderer()
        entry = {
            "name": layer.name(),
            "source": layer.source(),
            "visible": node.isVisible(),
            "renderer": type(renderer).__name__,
            "abstract": layer.abstract(),
            "legend": legend_labels(layer),
        }
        if hasattr(renderer, "classificationMin"):
            entry["limits"] = [renderer.classificationMin(), renderer.classificationMax()]
        out.append(entry)
    return out


class Session:
    """The steps, driven by the dialog's ``algorithmFinished`` signal and timers."""

    def __init__(self) -> None:
        self.dialog = None
        self.before: set[str] = set()
        self.started = 0.0

    @guarded
    def start(self) -> None:
        """Plugin, inputs, dialog; then the first run."""
        load_plugin()
        add_inputs()
        self.dialog = open_dialog()
        self.dialog.algorithmFinished.connect(self.finished)
        QTimer.singleShot(500, self.run)

    @guarded
    def run(self) -> None:
        """Click Run (the dialog starts a background task)."""
        self.before = set(QgsProject.instance().mapLayers())
        self.started = time.monotonic()
        self.dialog.runAlgorithm()
        QTimer.singleShot(300_000, lambda: fail("the run did not finish in 300 s"))

    @guarded
    def finished(self, ok, results) -> None:
        """Record a run; rerun or go on to the screenshot."""
        run = {
            "ok": ok,
            "seconds": round(time.monotonic() - self.started, 1),
            "results": {k: str(v) for k, v in results.items()},
            "log": log_text(self.dialog),
            "layers_after": [layer.name() for layer in QgsProject.instance().mapLayers().values()],
        }
        report["runs"].append(run)
        if not ok:
            fail("run failed")
        if len(report["runs"]) < RUNS:
            # The rerun: only the last run's layers stay, like a user removing old results.
            QgsProject.instance().removeMapLayers(
                [i for i in QgsProject.instance().mapLayers() if i not in self.before]
            )
            QTimer.singleShot(200, self.run)
            return
        QTimer.singleShot(200, self.screenshot)

    @guarded
    def screenshot(self) -> None:
        """Describe the layers, close the dialog, frame the area and wait for the render."""
        report["layers"] = describe_layers(self.before)
        self.dialog.close()
        tidy_window()
        root = QgsProject.instance().layerTreeRoot()
        sites = root.findLayer(report["inputs"]["sites"])
        root.insertChildNode(0, sites.clone())  # the sites above the rasters, as a user would
        root.removeChildNode(sites)
        canvas = iface.mapCanvas()
        # A metric map (the grid's UTM zone), not lon/lat stretched twofold at 60 degrees north.
        QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:32635"))
        canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32635"))
        west, east, south, north = 24.937, 24.951, 60.165, 60.172
        transform = QgsCoordinateTransform(
            QgsCoordinateReferenceSystem("EPSG:4326"),
            canvas.mapSettings().destinationCrs(),
            QgsProject.instance(),
        )
        if transform.isValid():
            canvas.setExtent(transform.transformBoundingBox(QgsRectangle(west, south, east, north)))
        canvas.mapCanvasRefreshed.connect(self.save)
        canvas.refresh()
        QTimer.singleShot(20_000, self.save)  # in case no refresh signal comes

    @guarded
    def save(self) -> None:
        """Grab the main window into screenshot.png and quit."""
        window = iface.mainWindow()
        QgsApplication.processEvents()
        image = window.grab().scaledToWidth(1100, Qt.SmoothTransformation)
        image.save(str(OUT / "screenshot.png"), "PNG")
        report["screenshot"] = str(OUT / "screenshot.png")
        finish(0)


try:
    session = Session()
    iface.mainWindow().resize(1400, 900)
    QTimer.singleShot(1000, session.start)
except Exception:
    fail(traceback.format_exc())
