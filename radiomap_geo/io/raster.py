"""Writing coverage bands as georeferenced, compressed GeoTIFF / Cloud-Optimised GeoTIFF.

Writes are atomic: data goes to a hidden temporary file beside the target, which replaces the
target only once complete. Nothing is overwritten unless asked.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from radiomap_geo.coverage import BAND_UNITS
from radiomap_geo.errors import InputError, OutputExistsError
from radiomap_geo.grid import Grid, Tile, to_crs

COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": "256", "BIGTIFF": "IF_SAFER"}
TILED_OPTIONS = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
DRIVERS = ("COG", "GTiff")


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """Refuse to clobber an existing file without ``overwrite``; make the parent directory."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"output {path} must end in .tif or .tiff (a GeoTIFF / COG)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def band_unit(name: str) -> str:
    """Unit of a band from its name (``path_gain_db:<id>`` → dB)."""
    return BAND_UNITS.get(name.split(":", 1)[0], "")


def _temp_path(target: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    return Path(name)


def default_permissions(path: Path) -> None:
    """Give a published file the mode a plain ``open()`` would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class TiledBandWriter:
    """Context manager that receives tiles and publishes a finished COG on a clean exit."""

    def __init__(
        self,
        path: str | Path,
        grid: Grid,
        band_names: list[str],
        tags: dict[str, str] | None = None,
        overwrite: bool = False,
        dst_crs=None,
        driver: str = "COG",
    ) -> None:
        if driver not in DRIVERS:
            raise InputError(f"driver must be one of {DRIVERS}, got {driver!r}")
        self.path = check_writable(path, overwrite)
        self.grid, self.band_names, self.tags = grid, list(band_names), dict(tags or {})
        self.dst_crs = None if dst_crs is None else to_crs(dst_crs)
        self.driver = driver
        self._index = {name: i + 1 for i, name in enumerate(self.band_names)}
        self._staging = _temp_path(self.path, ".staging.tif")
        profile = grid.to_profile(len(self.band_names), "float32", nodata=float("nan"))
        self._dataset = rasterio.open(self._staging, "w", **profile, **TILED_OPTIONS)
        self._describe(self._dataset)

    def __enter__(self) -> TiledBandWriter:
        return self

    def write_tile(self, tile: Tile, bands: dict[str, np.ndarray]) -> None:
        """Write a tile's core into every band it carries."""
        row, col, height, width = tile.core
        self.write_window(Window(col, row, width, height), bands)

    def write_window(self, window: Window, bands: dict[str, np.ndarray]) -> None:
        """Write arrays into a window of the named bands."""
        for name, values in bands.items():
            if values.shape != (window.height, window.width):
                raise ValueError(
                    f"band {name!r} has shape {values.shape}, the window is "
                    f"{(window.height, window.width)}"
                )
            self._dataset.write(values.astype(np.float32), self._index[name], window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._dataset.close()
        try:
            if exc_type is None:
                self._publish()
        finally:
            with suppress(FileNotFoundError):
                self._staging.unlink()

    def _publish(self) -> None:
        final = _temp_path(self.path, ".final.tif")
        warped = None
        try:
            source = self._staging
            if self.dst_crs is not None and self.dst_crs != self.grid.crs:
                warped = _temp_path(self.path, ".warped.tif")
                self._warp(warped)
                source = warped
            with rasterio.open(source) as src:
                if self.driver == "COG":
                    rio_copy(src, final, driver="COG", **COG_OPTIONS)
                else:
                    rio_copy(src, final, driver="GTiff", TILED="YES", COMPRESS="DEFLATE")
            default_permissions(final)
            os.replace(final, self.path)
        finally:
            for leftover in (final, warped):
                if leftover is not None:
                    with suppress(FileNotFoundError):
                        leftover.unlink()

    def _warp(self, target: Path) -> None:
        """Reproject the staged bands into ``dst_crs`` (nearest: best_server is categorical)."""
        with rasterio.open(self._staging) as src:
            with WarpedVRT(src, crs=self.dst_crs.to_wkt(), nodata=float("nan")) as vrt:
                profile = {**vrt.profile, "driver": "GTiff", **TILED_OPTIONS}
                with rasterio.open(target, "w", **profile) as dst:
                    dst.write(vrt.read())
                    self._describe(dst)

    def _describe(self, dataset) -> None:
        for name, index in self._index.items():
            dataset.set_band_description(index, name)
            dataset.set_band_unit(index, band_unit(name))
            dataset.update_tags(index, units=band_unit(name))
        dataset.update_tags(**self.tags)


def write_bands(
    path: str | Path,
    grid: Grid,
    bands: dict[str, np.ndarray],
    *,
    tags: dict[str, str] | None = None,
    overwrite: bool = False,
    dst_crs=None,
    driver: str = "COG",
) -> Path:
    """Write in-memory bands (each ``grid.shape``) to one multi-band georeferenced file."""
    with TiledBandWriter(path, grid, list(bands), tags, overwrite, dst_crs, driver) as writer:
        writer.write_window(Window(0, 0, grid.width, grid.height), bands)
    return writer.path
