"""Coverage bands as an :class:`xarray.Dataset` with its CRS and transform (rioxarray).

For notebook GIS workflows: one data variable per band on ``y``/``x`` coordinates at cell
centres, ``ds.rio.crs`` and ``ds.rio.transform()`` equal to the grid's, units and the file's
tags as attributes, so ``ds.rio.to_raster`` / ``ds.rio.reproject`` / ``ds.sel(x=..., y=...)``
work as on any raster opened with rioxarray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from radiomap_geo.bands import band_unit
from radiomap_geo.errors import DependencyError

if TYPE_CHECKING:
    import xarray

    from radiomap_geo.coverage import CoverageResult

INSTALL_HINT = "pip install 'radiomap-geo[xarray]'"


def _modules():
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)
        import xarray
    except ImportError as exc:
        raise DependencyError(f"to_xarray needs xarray and rioxarray: {INSTALL_HINT}") from exc
    return xarray


def coverage_to_xarray(result: CoverageResult) -> xarray.Dataset:
    """The bands of ``result`` as a georeferenced dataset (see the module docstring).

    Band names become variable names as they are (``path_gain_db:<site>`` too: use
    ``ds["path_gain_db:a"]``).
    """
    xr = _modules()
    grid = result.grid
    transform = grid.transform
    if transform.b != 0 or transform.d != 0:
        raise ValueError("rotated grids cannot be described by x/y coordinates")
    cols, rows = np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5
    x = transform.c + cols * transform.a
    y = transform.f + rows * transform.e
    variables = {
        name: xr.DataArray(
            np.asarray(values),
            dims=("y", "x"),
            attrs={"units": band_unit(name), "long_name": name, "_FillValue": np.nan},
        )
        for name, values in result.bands.items()
    }
    dataset = xr.Dataset(variables, coords={"y": y, "x": x}, attrs=result.tags())
    dataset = dataset.rio.write_crs(grid.crs.to_wkt())
    return dataset.rio.write_transform(transform)
