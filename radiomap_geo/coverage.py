"""Combining per-site path gains into coverage bands, and the georeferenced result object.

Band contract (stable; tools and tests rely on it):

* ``rsrp_dbm``  reference-signal received power of the best server: its received power per
  resource element (one subcarrier), dBm. ``rx_power_dbm`` plus the run's RSRP offset
  ``-10 log10(12 N_RB)`` (see :mod:`radiomap_geo.rsrp`; -27.9 dB for NR, 30 kHz, 20 MHz): what a
  phone or a scanner reports
* ``best_server``  1-based index of that site (``site_ids`` in the metadata maps it back)
* ``sinr_db``  best server against the sum of the others plus thermal noise, dB (total powers,
  so it does not depend on the RSRP offset)
* ``rx_power_dbm``  total received power of the best server over the whole channel, dBm: the
  site's ``power_dbm`` (total transmit power into the antenna) plus its path gain
* ``path_gain_db:<site_id>``  one per site with ``per_site=True``, dB (antenna pattern included)
* ``model_source``  only for models that report provenance (a network blended with a fallback):
  where the best server's value came from, 1 = network, 2 = fallback, in between = blend ring
* ``e_field_vpm``  exposure: total RMS electric field of all sites for an isotropic receiver,
  V/m, ``sqrt(sum_i E_i^2)`` with ``E_i = sqrt(4 pi eta0 P_i) / lambda_i`` from each site's
  received power and carrier (:mod:`radiomap_geo.efield`); written by ``predict`` (last band,
  after ``rsrp_std_db`` where that exists) and ``simulate`` (before ``validity``)

Cells inside buildings, and cells no site reaches, are NaN (the raster nodata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radiomap_geo.efield import e_field_squared
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.sites import Sites

BOLTZMANN_DBM_PER_HZ = -174.0


#: What each band holds, written into the file's tags (``description_<band>``) and shown by QGIS.
BAND_DESCRIPTIONS = {
    "rsrp_dbm": "RSRP: best server's received power per resource element (one subcarrier), dBm",
    "best_server": "1-based number of the strongest site (see best_server_lookup)",
    "sinr_db": "SINR of the best server against the other sites plus thermal noise, dB",
    "rx_power_dbm": "total received power of the best server over the whole channel, dBm",
    "model_source": "where the value came from: 1 network, 2 fallback, between: blend",
    "validity": "1 where a ray arrived, 0 where none did",
    "path_gain_db": "path gain of one site incl. its antenna pattern, transmit power excluded, dB",
    "e_field_vpm": "total RMS electric field of all sites for an isotropic receiver, V/m",
}


def noise_power_dbm(bandwidth_mhz: float, noise_figure_db: float) -> float:
    """Thermal noise power in dBm over ``bandwidth_mhz`` with a receiver noise figure."""
    return BOLTZMANN_DBM_PER_HZ + 10.0 * np.log10(bandwidth_mhz * 1e6) + noise_figure_db


def per_site_band(site_id: str) -> str:
    """Name of the per-site path-gain band."""
    return f"path_gain_db:{site_id}"


def band_description_tags(names) -> dict[str, str]:
    """``description_<band>`` tags saying what each named band (kind) holds."""
    kinds = dict.fromkeys(name.split(":", 1)[0] for name in names)
    return {f"description_{k}": BAND_DESCRIPTIONS[k] for k in kinds if k in BAND_DESCRIPTIONS}


@dataclass
class CoverageAccumulator:
    """Folds per-site path gains into running coverage bands with O(cells) memory.

    Sites are added one at a time, so memory does not grow with the number of sites (unless the
    per-site bands are kept).
    """

    shape: tuple[int, int]
    noise_dbm: float
    rsrp_offset_db: float  # total received power to RSRP, see radiomap_geo.rsrp
    keep_per_site: bool = False
    keep_source: bool = False
    keep_field: bool = False  # add e_field_vpm (then every site comes with its frequency)
    best_mw: np.ndarray = field(init=False)
    total_mw: np.ndarray = field(init=False)
    best_index: np.ndarray = field(init=False)
    best_source: np.ndarray = field(init=False)
    per_site: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    field_sq: np.ndarray = field(init=False)  # sum over sites of E^2, (V/m)^2

    def __post_init__(self) -> None:
        self.best_mw = np.zeros(self.shape, np.float64)
        self.total_mw = np.zeros(self.shape, np.float64)
        self.best_index = np.zeros(self.shape, np.int32)
        self.best_source = np.full(self.shape, np.nan, np.float32)
        self.field_sq = np.zeros(self.shape, np.float64)

    def add(
        self,
        index: int,
        site_id: str,
        power_dbm: float,
        gain_db: np.ndarray,
        source: np.ndarray | None = None,
        frequency_mhz: float | None = None,
    ) -> None:
        """Add site number ``index`` (0-based) with its path gain (NaN = not reached).

        ``source`` optionally says which model produced each cell (see ``model_source``); with
        ``keep_field`` the site's field at ``frequency_mhz`` adds to ``e_field_vpm`` (fields of
        different carriers add in power, see :mod:`radiomap_geo.efield`).
        """
        received = np.where(np.isfinite(gain_db), 10.0 ** ((power_dbm + gain_db) / 10.0), 0.0)
        if self.keep_field:
            if frequency_mhz is None:
                raise ValueError("keep_field needs each site's frequency_mhz")
            self.field_sq += e_field_squared(power_dbm + gain_db, frequency_mhz)
        stronger = received > self.best_mw
        self.best_mw = np.where(stronger, received, self.best_mw)
        self.best_index = np.where(stronger, index + 1, self.best_index)
        if self.keep_source and source is not None:
            self.best_source = np.where(stronger, source, self.best_source)
        self.total_mw += received
        if self.keep_per_site:
            self.per_site[per_site_band(site_id)] = gain_db.astype(np.float32)

    def bands(self, invalid: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The coverage bands, NaN where ``invalid`` or where no site reached."""
        reached = self.best_index > 0
        bad = ~reached if invalid is None else (~reached | invalid)
        noise_mw = 10.0 ** (self.noise_dbm / 10.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rx_power = 10.0 * np.log10(self.best_mw)
            sinr = 10.0 * np.log10(self.best_mw / (self.total_mw - self.best_mw + noise_mw))
        out = {
            "rsrp_dbm": rx_power + self.rsrp_offset_db,
            "best_server": self.best_index.astype(np.float64),
            "sinr_db": sinr,
            "rx_power_dbm": rx_power,
        }
        if self.keep_source:
            out["model_source"] = self.best_source
        out.update(self.per_site)
        if self.keep_field:
            out["e_field_vpm"] = np.sqrt(self.field_sq)
        return {name: np.where(bad, np.nan, band).astype(np.float32) for name, band in out.items()}


@dataclass
class CoverageResult:
    """Georeferenced coverage bands on a :class:`Grid`, with the metadata to interpret them."""

    grid: Grid
    bands: dict[str, np.ndarray]
    sites: Sites
    model: str
    metadata: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.bands[name]

    @property
    def band_names(self) -> list[str]:
        """Band names in file order."""
        return list(self.bands)

    def value_at(self, band: str, x: float, y: float) -> float:
        """Value of ``band`` at point ``(x, y)`` in the grid CRS.

        Raises:
            InputError: an unknown band, or a point outside the grid (a negative index would
                silently read the opposite edge).
        """
        if band not in self.bands:
            raise InputError(
                f"no band {band!r}; this result has {list(self.bands)}", parameter="band"
            )
        if not self.grid.contains(x, y):
            raise InputError(
                f"point ({x:g}, {y:g}) lies outside the grid {self.grid.bounds} "
                f"({self.grid.crs.to_string()}): give coordinates in the grid's CRS, inside it",
                parameter="x",
            )
        row, col = self.grid.rowcol(x, y)
        return float(self.bands[band][int(row), int(col)])

    def tags(self) -> dict[str, str]:
        """Dataset-level metadata written into the GeoTIFF."""
        tags = {
            "model": self.model,
            "site_ids": ",".join(self.sites.ids),
            "best_server_lookup": ";".join(f"{i + 1}={s}" for i, s in enumerate(self.sites.ids)),
        }
        tags.update({k: str(v) for k, v in self.metadata.items()})
        tags.update(band_description_tags(self.bands))
        return tags

    def write(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        dst_crs=None,
        driver: str = "COG",
    ) -> Path:
        """Write all bands to a georeferenced GeoTIFF/COG atomically (see :mod:`radiomap_geo.io.raster`)."""
        from radiomap_geo.io.raster import write_bands

        return write_bands(
            path,
            self.grid,
            self.bands,
            tags=self.tags(),
            overwrite=overwrite,
            dst_crs=dst_crs,
            driver=driver,
        )

    def to_xarray(self):
        """The bands as an ``xarray.Dataset`` with CRS and transform (needs rioxarray).

        See :func:`radiomap_geo.io.xarray.coverage_to_xarray`.
        """
        from radiomap_geo.io.xarray import coverage_to_xarray

        return coverage_to_xarray(self)

    def preview(
        self, path: str | Path, *, overwrite: bool = False, buildings=None, title: str | None = None
    ) -> Path:
        """Write a PNG quick-look of ``rsrp_dbm`` with a colour bar and site markers (``title``:
        default ``RSRP (<model>)``).
        """
        from radiomap_geo.io.preview import write_preview

        return write_preview(path, self, overwrite=overwrite, buildings=buildings, title=title)
