"""Writing coverage bands as georeferenced, compressed GeoTIFF / Cloud-Optimised GeoTIFF.

Writes are atomic and exclusive (see :mod:`radiomap_geo.io.atomic`): data goes to a hidden staging
file beside the target, published only once complete; nothing is overwritten unless asked, and of
two concurrent runs without ``overwrite`` only one succeeds. A full disk or a read-only folder is
reported as such.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

from radiomap_geo.bands import band_unit
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid, Tile, to_crs
from radiomap_geo.io.atomic import check_target, default_permissions, os_errors, publish
from radiomap_geo.io.atomic import staging_path as _staging_path
from radiomap_geo.io.overviews import with_overviews

COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": "256", "BIGTIFF": "IF_SAFER"}
TILED_OPTIONS = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
DRIVERS = ("COG", "GTiff")


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """Refuse to clobber an existing file without ``overwrite``; make the parent directory.

    Also refuses a read-only folder and removes staging files of killed earlier runs.
    """
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(
            f"output {path} must end in .tif or .tiff (a GeoTIFF / COG)", parameter="output"
        )
    return check_target(path, overwrite)


__all__ = ["TiledBandWriter", "band_unit", "check_writable", "default_permissions", "write_bands"]


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
        self.overwrite = overwrite
        self.grid, self.band_names, self.tags = grid, list(band_names), dict(tags or {})
        self.dst_crs = None if dst_crs is None else to_crs(dst_crs, parameter="dst_crs")
        self.driver = driver
        self._index = {name: i + 1 for i, name in enumerate(self.band_names)}
        self._staging = _staging_path(self.path)
        profile = grid.to_profile(len(self.band_names), "float32", nodata=float("nan"))
        with os_errors(self.path):
            try:
                self._dataset = rasterio.open(self._staging, "w", **profile, **TILED_OPTIONS)
            except BaseException:
                self._staging.unlink(missing_ok=True)
                raise
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
            with os_errors(self.path):
                self._dataset.write(values.astype(np.float32), self._index[name], window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            with os_errors(self.path):
                self._dataset.close()
                if exc_type is None:
                    self._publish()
        finally:
            with suppress(FileNotFoundError):
                self._staging.unlink()

    def _publish(self) -> None:
        final = _staging_path(self.path)
        warped = None
        try:
            source = self._staging
            if self.dst_crs is not None and self.dst_crs != self.grid.crs:
                warped = _staging_path(self.path)
                self._warp(warped)
                source = warped
            if self.driver == "COG":
                # Overviews from the finite cells, in the bands' units (io.overviews).
                with with_overviews(source) as vrt, rasterio.open(vrt) as src:
                    rio_copy(src, final, driver="COG", OVERVIEWS="FORCE_USE_EXISTING",
                             **COG_OPTIONS)  # fmt: skip
            else:
                with rasterio.open(source) as src:
                    rio_copy(src, final, driver="GTiff", TILED="YES", COMPRESS="DEFLATE")
            publish(final, self.path, self.overwrite)
        finally:
            for leftover in (final, warped):
                if leftover is not None:
                    with suppress(FileNotFoundError):
                        leftover.unlink()

    def _warp(self, target: Path) -> None:
        """Reproject the staged bands into ``dst_crs`` (nearest: best_server is categorical)."""
        with rasterio.open(self._staging) as src:
            target_grid = {}
            resolution = cell_size_in(self.grid, self.dst_crs)
            if resolution is not None:
                transform, width, height = calculate_default_transform(
                    src.crs, self.dst_crs.to_wkt(), src.width, src.height, *src.bounds,
                    resolution=resolution,
                )  # fmt: skip
                target_grid = {"transform": transform, "width": width, "height": height}
            with WarpedVRT(
                src, crs=self.dst_crs.to_wkt(), nodata=float("nan"), **target_grid
            ) as vrt:
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


def cell_size_in(grid: Grid, dst_crs) -> tuple[float, float] | None:
    """``(x, y)`` cell size in degrees that keeps the grid's metres when ``dst_crs`` is
    geographic, else None (GDAL's choice: square cells, right for a projected CRS).

    GDAL's default keeps the cell count along the diagonal with square cells, which in degrees
    at 60 N halves the north-south detail (a cell 1.7 m wide and 3.3 m tall): degrees get their
    own x and y sizes from the metres per degree at the grid's centre latitude.
    """
    from pyproj import Transformer

    metres = grid.resolution
    if dst_crs.is_geographic:
        minx, miny, maxx, maxy = grid.bounds
        to_lonlat = Transformer.from_crs(grid.crs, dst_crs.geodetic_crs, always_xy=True)
        _, lat = to_lonlat.transform((minx + maxx) / 2, (miny + maxy) / 2)
        phi = np.radians(lat)
        # metres per degree on the WGS84 ellipsoid (series to second order)
        per_degree_lat = 111_132.954 - 559.822 * np.cos(2 * phi)
        per_degree_lon = 111_412.84 * np.cos(phi)
        return metres / per_degree_lon, metres / per_degree_lat
    return None


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
