"""The plugin as QGIS loads it: metadata, classFactory/initGui/unload, provider and algorithms."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("qgis.core")

from qgis_support import PROVIDER_ID  # noqa: E402

pytestmark = pytest.mark.qgis

PLUGIN = "radiomap_geo_qgis"
PARAMETERS_COMMON = {
    "SITES",
    "BUILDINGS",
    "HEIGHT_FIELD",
    "DOWNLOAD_OSM",
    "OPEN_GROUND",
    "EXTENT",
    "RESOLUTION",
    "CRS",
    "RX_HEIGHT",
    "BANDWIDTH",
    "NOISE_FIGURE",
    "OSM_CACHE_ONLY",
    "OSM_CACHE_DIR",
    "OVERPASS_URL",
    "DEFAULT_HEIGHT",
    "STRICT",
    "TECHNOLOGY",
    "SUBCARRIER_SPACING",
    "ALLOW_LARGE",
    "OUTPUT_RSRP",
    "OUTPUT_RX_POWER",
    "OUTPUT_BEST_SERVER",
    "OUTPUT_SINR",
    "OUTPUT_PER_SITE",
    "OUTPUT_E_FIELD",
}


class MinimalIface:
    """Just enough of QgisInterface for a plugin that adds no GUI (records what it is asked)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append(name)

        return record


@pytest.fixture
def registry(qgis_app):
    """The Processing registry without the session's provider; a fresh one is put back after."""
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    assert registry.removeProvider(PROVIDER_ID)  # the registry deletes it
    qgis_app["provider"] = None
    yield registry
    if registry.providerById(PROVIDER_ID) is None:
        from radiomap_geo_qgis.provider import RadiomapGeoProvider

        qgis_app["provider"] = RadiomapGeoProvider()
        assert registry.addProvider(qgis_app["provider"])


def test_provider_and_algorithms(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingAlgorithm

    provider = QgsApplication.processingRegistry().providerById(PROVIDER_ID)
    assert provider.name() == "Radiomap Geo" and not provider.icon().isNull()
    assert provider.supportedOutputRasterLayerExtensions() == ["tif"]
    ids = sorted(a.id() for a in provider.algorithms())
    assert ids == [
        "radiomapgeo:fitmeasurements",
        "radiomapgeo:inferbuildings",
        "radiomapgeo:optimizeorientation",
        "radiomapgeo:predictcoverage",
        "radiomapgeo:predictfrommeasurements",
        "radiomapgeo:raytracecoverage",
    ]

    from radiomap_geo.api import list_models

    predict = QgsApplication.processingRegistry().algorithmById("radiomapgeo:predictcoverage")
    names = {p.name() for p in predict.parameterDefinitions()}
    assert names == PARAMETERS_COMMON | {"MODEL", "NDSM", "DSM", "DTM", "ORTHO", "TTA", "PRECISION"}
    model = predict.parameterDefinition("MODEL")
    assert model.options() == list_models() and model.usesStaticStrings()
    assert model.defaultValue() == list_models()[0]
    assert predict.displayName() == "Predict coverage" and predict.group() == "Coverage"
    assert "height_m" in predict.shortHelpString()
    # Runs in a background thread (the UI stays responsive) and can be cancelled.
    assert not predict.flags() & QgsProcessingAlgorithm.FlagNoThreading
    assert predict.flags() & QgsProcessingAlgorithm.FlagCanCancel

    raytrace = QgsApplication.processingRegistry().algorithmById("radiomapgeo:raytracecoverage")
    names = {p.name() for p in raytrace.parameterDefinitions()}
    assert names == PARAMETERS_COMMON | {"SAMPLES", "MAX_DEPTH", "DIFFRACTION", "REPRODUCIBLE"}
    assert raytrace.parameterDefinition("SAMPLES").defaultValue() == 3_000_000
    # Labels, defaults and limits come from the core's options object.
    from radiomap_geo.options import RunOptions, option_info

    rx = predict.parameterDefinition("RX_HEIGHT")
    assert rx.defaultValue() == RunOptions().rx_height_m
    assert rx.description() == option_info("rx_height_m").label and rx.maximum() == 500.0
    assert predict.parameterDefinition("TECHNOLOGY").options() == ["nr", "lte"]
    assert predict.parameterDefinition("OUTPUT_RSRP").description().startswith("RSRP")


def test_metadata_as_qgis_reads_it(qgis_app, staged_plugin):
    import qgis.utils

    qgis.utils.plugin_paths.insert(0, str(staged_plugin.parent))
    try:
        qgis.utils.updateAvailablePlugins()
        assert PLUGIN in qgis.utils.available_plugins
        meta = lambda key: qgis.utils.pluginMetadata(PLUGIN, key)  # noqa: E731
        assert meta("name") == "Radiomap Geo"
        assert meta("qgisMinimumVersion") == "3.22"
        assert meta("hasProcessingProvider") == "yes"
        assert (staged_plugin / meta("icon")).is_file()
    finally:
        qgis.utils.plugin_paths.remove(str(staged_plugin.parent))


def test_class_factory_init_gui_unload(qgis_app, registry):
    """The desktop path: classFactory(iface) -> initGui() -> unload()."""
    import radiomap_geo_qgis

    iface = MinimalIface()
    plugin = radiomap_geo_qgis.classFactory(iface)
    assert registry.providerById(PROVIDER_ID) is None  # nothing happens before initGui
    plugin.initGui()
    try:
        assert registry.algorithmById("radiomapgeo:predictcoverage") is not None
        assert registry.algorithmById("radiomapgeo:raytracecoverage") is not None
        assert iface.calls == []  # no GUI: works with iface=None too
    finally:
        plugin.unload()
    assert registry.providerById(PROVIDER_ID) is None
    plugin.unload()  # a second unload is harmless


def test_qgis_utils_processing_path(qgis_app, registry, staged_plugin):
    """The path qgis_process takes: qgis.utils loads the package, calls initProcessing()."""
    import qgis.utils

    qgis.utils.plugin_paths.insert(0, str(staged_plugin.parent))
    try:
        qgis.utils.updateAvailablePlugins()
        assert qgis.utils.loadPlugin(PLUGIN)
        assert qgis.utils.startProcessingPlugin(PLUGIN)
        assert PLUGIN in qgis.utils.active_plugins
        assert registry.algorithmById("radiomapgeo:predictcoverage") is not None
        assert qgis.utils.unloadPlugin(PLUGIN)
        assert registry.providerById(PROVIDER_ID) is None
    finally:
        qgis.utils.plugin_paths.remove(str(staged_plugin.parent))
        qgis.utils.updateAvailablePlugins()
    assert PLUGIN not in sys.modules  # unloadPlugin dropped the modules; the fixture re-imports


def test_no_deepbind_in_a_plain_python(qgis_app):
    """In a Python that imports qgis.core, QGIS's libraries are private: nothing to isolate."""
    import os

    from radiomap_geo_qgis import native

    assert not native.qgis_libraries_are_global()
    assert not sys.getdlopenflags() & getattr(os, "RTLD_DEEPBIND", 0)
    assert native.finish_python_at_exit() is False
