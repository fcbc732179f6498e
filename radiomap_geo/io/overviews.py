"""Overviews (zoomed-out copies inside the GeoTIFF) that ignore nodata and respect the units.

GDAL's own overviews average every child cell, so a block with one building cell (NaN) becomes
NaN and a zoomed-out coverage map looks mostly empty; averaging decibels also under-weights the
strong cells. Here each overview cell is computed from the *finite* full-resolution cells under
it, by the band's unit (:func:`band_kind`), and is nodata only where most of them are (so the
share of nodata, the buildings, stays what it is at full resolution, zoomed in or out):

* ``power`` (dBm and dB bands: RSRP, received power, SINR, per-site path gain): the mean in
  linear units, back in dB (the area-averaged power, as the engine's supersampling does);
* ``mode`` (``best_server``, ``validity``): the most frequent value (ties: the smallest);
* ``mean`` (anything else, e.g. ``model_source``): the arithmetic mean.

:func:`with_overviews` computes them from a GeoTIFF (strip by strip: memory stays small) and
offers the GeoTIFF with them as a VRT that GDAL's COG driver copies with
``OVERVIEWS=FORCE_USE_EXISTING``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from xml.etree import ElementTree

import numba
import numpy as np
import rasterio
from affine import Affine
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from radiomap_geo.bands import NOT_POWER_BANDS, band_unit

KINDS = ("power", "mode", "mean")
#: Output rows of an overview computed at a time.
STRIP_ROWS = 256


def band_kind(name: str) -> str:
    """How a band is aggregated (see the module notes)."""
    unit = band_unit(name or "")
    if unit in ("dBm", "dB") and (name or "").split(":", 1)[0] not in NOT_POWER_BANDS:
        return "power"
    if unit in ("index", "flag"):
        return "mode"
    return "mean"


def overview_factors(height: int, width: int, block: int = 256) -> list[int]:
    """Factors 2, 4, 8... until the overview fits in one ``block`` x ``block`` tile."""
    factors, factor = [], 2
    while max(height, width) > block * (factor // 2):
        factors.append(factor)
        factor *= 2
    return factors


@numba.njit(cache=True)
def _reduce(values, factor, kind):  # kind: 0 power, 1 mode, 2 mean
    rows, cols = values.shape
    out_rows, out_cols = -(-rows // factor), -(-cols // factor)
    out = np.full((out_rows, out_cols), np.nan, np.float32)
    scratch = np.empty(factor * factor, np.float64)
    for i in range(out_rows):
        for j in range(out_cols):
            n, children = 0, 0
            for r in range(i * factor, min((i + 1) * factor, rows)):
                for c in range(j * factor, min((j + 1) * factor, cols)):
                    children += 1
                    v = values[r, c]
                    if np.isfinite(v):
                        scratch[n] = v
                        n += 1
            if 2 * n < children:  # mostly nodata (buildings): nodata, as at full resolution
                continue
            if kind == 0:
                peak = scratch[:n].max()  # factored out: no overflow or underflow
                total = 0.0
                for k in range(n):
                    total += 10.0 ** ((scratch[k] - peak) / 10.0)
                out[i, j] = peak + 10.0 * math.log10(total / n)
            elif kind == 1:
                ordered = np.sort(scratch[:n])
                best, best_n, run = ordered[0], 0, 0
                for k in range(n):
                    run = run + 1 if k > 0 and ordered[k] == ordered[k - 1] else 1
                    if run > best_n:
                        best, best_n = ordered[k], run
                out[i, j] = best
            else:
                out[i, j] = scratch[:n].mean()
    return out


def reduce_block(values: np.ndarray, factor: int, kind: str) -> np.ndarray:
    """One overview of a 2-D array: ``ceil(shape / factor)`` cells, NaN ignored (see module)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return _reduce(np.asarray(values, np.float32), int(factor), KINDS.index(kind))


@contextmanager
def with_overviews(path: str | Path, block: int = 256) -> Iterator[Path]:
    """A VRT of the GeoTIFF at ``path`` carrying nodata-ignoring overviews; removed on exit.

    Copy it with GDAL's COG driver and ``OVERVIEWS=FORCE_USE_EXISTING`` (or the GTiff driver
    and ``COPY_SRC_OVERVIEWS=YES``) to get a file with these overviews. Band kinds come from
    the band descriptions (the band names). Each overview is computed from the full-resolution
    bands, ``STRIP_ROWS`` overview rows at a time, into a GeoTIFF beside ``path``.
    """
    path = Path(path)
    made: list[Path] = []
    try:
        vrt = _beside(path, "ovrvrt")
        made.append(vrt)
        with rasterio.open(path) as full:
            factors = overview_factors(full.height, full.width, block)
            kinds = [band_kind(name) for name in full.descriptions]
            levels = []
            for factor in factors:
                level = _beside(path, f"ovr{factor}")
                made.append(level)
                _write_level(full, level, factor, kinds)
                levels.append(level)
            rio_copy(full, vrt, driver="VRT")
        _declare_overviews(vrt, levels)
        yield vrt
    finally:
        for leftover in made:
            with suppress(FileNotFoundError):
                leftover.unlink()


def _beside(path: Path, tag: str) -> Path:
    """A file beside ``path`` for ``tag``; a staging file's helpers are staging files too, so
    a killed run's leftovers are cleaned with it (:func:`radiomap_geo.io.atomic.clean_stale_staging`).
    """
    suffix = ".staging"
    if path.name.endswith(suffix):
        return path.with_name(path.name[: -len(suffix)] + tag + suffix)
    return path.with_name(f"{path.name}.{tag}")


def _write_level(full, target: Path, factor: int, kinds: list[str]) -> None:
    height, width = math.ceil(full.height / factor), math.ceil(full.width / factor)
    profile = {
        **full.profile,
        "driver": "GTiff",
        "height": height,
        "width": width,
        "transform": full.transform @ Affine.scale(full.width / width, full.height / height),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(target, "w", **profile) as level:  # driver named: any file name
        for top in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - top)
            src_top = top * factor
            window = Window(0, src_top, full.width, min(rows * factor, full.height - src_top))
            for band, kind in enumerate(kinds, start=1):
                reduced = reduce_block(full.read(band, window=window), factor, kind)
                level.write(reduced, band, window=Window(0, top, width, rows))


def _declare_overviews(vrt: Path, levels: list[Path]) -> None:
    """Add ``<Overview>`` sources (band i of each level file) to every band of a VRT."""
    tree = ElementTree.parse(vrt)
    for band in tree.getroot().iter("VRTRasterBand"):
        index = band.get("band")
        for level in levels:
            overview = ElementTree.SubElement(band, "Overview")
            source = ElementTree.SubElement(overview, "SourceFilename", relativeToVRT="0")
            source.text = str(level.resolve())
            ElementTree.SubElement(overview, "SourceBand").text = index
    tree.write(vrt)
