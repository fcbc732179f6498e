"""Rasters onto the working grid: any CRS and resolution in, ``grid``-shaped float32 arrays out.

Every reader reprojects with :func:`rasterio.warp.reproject` straight onto the :class:`Grid` (GDAL
reads only the windows it needs) and turns nodata, and cells the raster does not cover, into NaN
before any filling.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radiomap_geo.errors import CRSError, InputError
from radiomap_geo.grid import Grid

log = logging.getLogger(__name__)

#: Above this median over the covered cells an "nDSM" probably holds absolute heights (a DSM).
_DSM_MEDIAN_HINT_M = 50.0


def _resampling(name: str):
    from rasterio.enums import Resampling

    try:
        return Resampling[str(name).lower()]
    except KeyError:
        options = sorted(r.name for r in Resampling if r.value < 100)
        raise InputError(f"unknown resampling {name!r}; choose one of {options}") from None


def _extent(bounds: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in bounds) + ")"


def _open(path: str | os.PathLike, parameter: str | None = None):
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise InputError(f"raster {path} does not exist", parameter=parameter)
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(
            f"cannot read {path} as a raster ({exc}): give a GeoTIFF or another raster GDAL "
            "reads (a LAS/LAZ point cloud: grid it first, radiomap_geo.io.lidar.lidar_to_rasters)",
            parameter=parameter,
        ) from exc


def _check_overlap(src, grid: Grid, path: Path) -> None:
    from rasterio.warp import transform_bounds

    if src.crs is None:
        if src.gcps[0]:
            raise InputError(
                f"raster {path} is georeferenced by ground control points only: warp it first "
                f"(gdalwarp -t_srs EPSG:... {path.name} out.tif)"
            )
        raise CRSError(
            f"raster {path} has no CRS: assign the one it is in, e.g. "
            f"'gdal_edit.py -a_srs EPSG:2056 {path.name}' or QGIS 'Assign projection'"
        )
    try:
        bounds = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    except Exception as exc:  # PROJ fails for rasters far outside the grid CRS's area of use
        raise InputError(
            f"raster {path} (extent {_extent(src.bounds)} in {src.crs.to_string()}) cannot be "
            f"transformed into the grid CRS {grid.crs.to_string()}: {exc}"
        ) from exc
    gminx, gminy, gmaxx, gmaxy = grid.bounds
    minx, miny, maxx, maxy = bounds
    if minx >= gmaxx or maxx <= gminx or miny >= gmaxy or maxy <= gminy or not np.isfinite(minx):
        raise InputError(
            f"raster {path} does not overlap the area: the raster covers {_extent(src.bounds)} in "
            f"{src.crs.to_string()}, i.e. {_extent(bounds)} in {grid.crs.to_string()}, but the "
            f"area is {_extent(grid.bounds)}. Check the bbox, or that the raster's CRS is right"
        )


def _warp_bands(src, grid: Grid, bands: Sequence[int], resampling: str) -> np.ndarray:
    from rasterio import band as rio_band
    from rasterio.warp import reproject

    method = _resampling(resampling)
    out = np.full((len(bands), *grid.shape), np.nan, dtype=np.float32)
    for i, index in enumerate(bands):
        nodata = src.nodatavals[index - 1]
        reproject(
            source=rio_band(src, index),
            destination=out[i],
            src_nodata=nodata,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            dst_nodata=np.nan,
            init_dest_nodata=True,
            resampling=method,
        )
        if nodata is not None and np.isfinite(nodata):
            # Values that are close to nodata after resampling are edge blends: drop them.
            out[i][np.isclose(out[i], nodata)] = np.nan
    return out


def read_raster_on_grid(
    path: str | os.PathLike,
    grid: Grid,
    *,
    resampling: str = "bilinear",
    bands: Sequence[int] | None = None,
    parameter: str | None = None,
) -> np.ndarray:
    """Reproject bands of a raster onto ``grid`` (``parameter``: the setting that named the file,
    for error messages).

    Args:
        path: any raster GDAL reads, in any CRS.
        grid: the target grid.
        resampling: a :class:`rasterio.enums.Resampling` name (``nearest``, ``bilinear``,
            ``average``, ``max``...).
        bands: 1-based band numbers; default all.

    Returns:
        ``(bands, rows, cols)`` float32; nodata and uncovered cells are NaN.

    Raises:
        InputError: missing or unreadable file, bad band numbers, no overlap with the grid.
        CRSError: the raster has no CRS.
    """
    path = Path(path)
    with _open(path, parameter) as src:
        _check_overlap(src, grid, path)
        if bands is None:
            bands = list(range(1, src.count + 1))
        bands = [int(b) for b in bands]
        wrong = [b for b in bands if not 1 <= b <= src.count]
        if wrong or not bands:
            raise InputError(
                f"raster {path} has bands 1..{src.count}; asked for {list(bands) or 'none'}"
            )
        return _warp_bands(src, grid, bands, resampling)


def _refuse_images(path: str | os.PathLike, parameter: str) -> None:
    """A height model is one band of metres; three or four 8-bit bands are a photograph, whose
    first band read as metres would be a wrong map.
    """
    with _open(path, parameter) as src:
        if src.count >= 3 and all(dtype == "uint8" for dtype in src.dtypes):
            raise InputError(
                f"{path} holds {src.count} 8-bit bands, an image, not heights: a surface model "
                "is one band of metres (an orthophoto goes to ortho, --ortho)",
                parameter=parameter,
            )


def check_height_sources(ndsm, dsm, dtm) -> None:
    """Refuse a height model given twice or half: an nDSM, or a DSM and a DTM, not both.

    Checked whether or not the model reads heights, so a contradiction is never hidden.
    """
    if ndsm is not None and (dsm is not None or dtm is not None):
        raise InputError("give either an nDSM, or a DSM and a DTM, not both", parameter="ndsm")
    if ndsm is None and (dsm is None) != (dtm is None):
        given, missing = ("dsm", "dtm") if dsm is not None else ("dtm", "dsm")
        raise InputError(
            f"a {given.upper()} needs a {missing.upper()} too (their difference is the heights "
            "above ground); or give an nDSM instead",
            parameter=missing,
        )
    if ndsm is None and dsm is None:
        raise InputError(
            "heights need an nDSM (ndsm=, --ndsm) or both a DSM and a DTM (dsm= and dtm=)",
            parameter="ndsm",
        )


def read_ndsm(
    grid: Grid,
    ndsm: str | os.PathLike | None = None,
    dsm: str | os.PathLike | None = None,
    dtm: str | os.PathLike | None = None,
    *,
    resampling: str = "bilinear",
) -> np.ndarray:
    """Heights above ground on ``grid``: an nDSM, or a DSM minus a DTM.

    Args:
        grid: the target grid.
        ndsm: a normalised surface model (heights above ground), band 1.
        dsm: a surface model (absolute heights), band 1; needs ``dtm``.
        dtm: a terrain model (absolute ground heights), band 1; needs ``dsm``.
        resampling: resampling method name (see :func:`read_raster_on_grid`).

    Returns:
        ``(rows, cols)`` float32 metres, negative values clipped to 0, uncovered cells 0.

    Raises:
        InputError: neither or both kinds of input, unreadable rasters, no overlap with the grid.
        CRSError: a raster has no CRS.
    """
    check_height_sources(ndsm, dsm, dtm)

    def first_band(path, parameter: str) -> np.ndarray:
        _refuse_images(path, parameter)
        return read_raster_on_grid(
            path, grid, resampling=resampling, bands=[1], parameter=parameter
        )[0]

    if ndsm is not None:
        heights = first_band(ndsm, "ndsm")
        covered = np.isfinite(heights)
        if covered.any() and float(np.median(heights[covered])) > _DSM_MEDIAN_HINT_M:
            log.warning(
                "%s: the median height above ground is %.0f m; is it a DSM of absolute heights? "
                "Then pass it as dsm= together with a dtm=",
                ndsm,
                float(np.median(heights[covered])),
            )
    else:
        surface = first_band(dsm, "dsm")
        ground = first_band(dtm, "dtm")
        heights = surface - ground
    missing = float(np.isnan(heights).mean())
    if missing > 0.05:
        log.warning("%.0f %% of the area has no height data: filled with 0 m", 100 * missing)
    return np.clip(np.nan_to_num(heights, nan=0.0), 0.0, None).astype(np.float32)


def _ortho_scale(src, bands: Sequence[int], values: np.ndarray) -> float:
    """The number that maps the ortho's value range onto 0..1."""
    dtype = np.dtype(src.dtypes[bands[0] - 1])
    if dtype == np.uint8:
        return 255.0
    nbits = src.tags(ns="IMAGE_STRUCTURE").get("NBITS") or src.tags(bidx=bands[0]).get("NBITS")
    if nbits and str(nbits).isdigit() and np.issubdtype(dtype, np.integer):
        return float(2 ** int(nbits) - 1)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    if np.issubdtype(dtype, np.integer):
        # 10-, 11-, 12-, 14- or 16-bit imagery stored in 16 bits: scale by its bit depth.
        bits = max(8, int(np.ceil(np.log2(top + 1))))
        return float(2**bits - 1)
    if top <= 1.0:
        return 1.0
    return 255.0 if top <= 255.0 else top


def read_ortho(
    grid: Grid,
    path: str | os.PathLike,
    *,
    resampling: str = "bilinear",
    fill: float | None = 0.0,
) -> np.ndarray:
    """An orthophoto on ``grid``, scaled to 0..1: 3 bands (RGB) or 4 (RGB + near infrared).

    uint8 images are divided by 255; 16-bit ones by their bit depth (the ``NBITS`` tag, else the
    smallest depth that holds their largest value, e.g. 4095 for 12-bit data). An alpha band is
    dropped. Cells the image does not cover become ``fill`` (NaN when ``fill`` is None).

    Args:
        grid: the target grid.
        path: the orthophoto.
        resampling: resampling method name (see :func:`read_raster_on_grid`).
        fill: value for uncovered cells.

    Returns:
        ``(3 or 4, rows, cols)`` float32 in 0..1.

    Raises:
        InputError: not 3 or 4 colour bands, unreadable, no overlap with the grid.
        CRSError: the image has no CRS.
    """
    from rasterio.enums import ColorInterp

    path = Path(path)
    with _open(path, "ortho") as src:
        _check_overlap(src, grid, path)
        bands = [i + 1 for i, c in enumerate(src.colorinterp) if c != ColorInterp.alpha]
        if len(bands) < src.count:
            log.info("%s: ignoring the alpha band", path.name)
        if len(bands) not in (3, 4):
            raise InputError(
                f"orthophoto {path} has {len(bands)} colour bands; expected 3 (red, green, blue) "
                "or 4 (red, green, blue, near infrared)"
            )
        values = _warp_bands(src, grid, bands, resampling)
        scale = _ortho_scale(src, bands, values)
    values /= np.float32(scale)
    np.clip(values, 0.0, 1.0, out=values)
    if fill is not None:
        values[np.isnan(values)] = fill
    return values
