"""The plugin object QGIS creates through :func:`classFactory`."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import RadiomapGeoProvider


class RadiomapGeoPlugin:
    """Registers the Processing provider; adds no GUI of its own.

    QGIS desktop calls :meth:`initGui`, ``qgis_process`` and other headless hosts call only
    :meth:`initProcessing` (``iface`` is then ``None``), so all the work happens there.
    """

    def __init__(self, iface=None) -> None:
        self.iface = iface
        self.provider: RadiomapGeoProvider | None = None

    def initProcessing(self) -> None:
        """Create the provider and add it to the Processing registry (once)."""
        if self.provider is not None:
            return
        self.provider = RadiomapGeoProvider()
        if not QgsApplication.processingRegistry().addProvider(self.provider):
            # Another copy (e.g. a second plugin folder) already registered this id.
            self.provider = None

    def initGui(self) -> None:
        """Desktop entry point: the algorithms appear in the Processing toolbox."""
        self.initProcessing()

    def unload(self) -> None:
        """Remove the provider (the registry deletes it)."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
