"""QGIS plugin for radiomap-geo: a Processing provider over the radiomap-geo Python API.

The plugin is a thin adapter. It imports neither torch nor radiomap-geo at load time, so QGIS starts
quickly and the plugin loads even where radiomap-geo is not installed yet; the algorithms then say
how to install it when they run.
"""


def classFactory(iface):
    """Entry point called by QGIS (desktop with ``iface``, ``qgis_process`` with ``None``)."""
    from .plugin import RadiomapGeoPlugin

    return RadiomapGeoPlugin(iface)
