"""The working grid: one frozen object (CRS, affine transform, shape) that flows everywhere.

A grid is always in a projected, metric CRS with square, north-up cells. It is built from a
bounding box given in any CRS; the metric CRS is the local UTM zone unless the caller names one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS, Proj, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from radiomap_geo.errors import AreaTooLargeError, BBoxError, CRSError

#: Above this many cells a run stops and asks for ``allow_large`` (about 8000 x 8000 cells).
DEFAULT_MAX_CELLS = 64_000_000
#: Scale errors of the working CRS (|k - 1|, worst over the box) above which a run is warned
#: about / refused. A UTM zone stays within 0.1 % inside its 6 degrees; EPSG:3857 at 60 N is 100 %.
WARN_SCALE_ERROR = 0.002
MAX_SCALE_ERROR = 0.01

log = logging.getLogger(__name__)


def to_crs(value: CRS | str | int, parameter: str = "crs") -> CRS:
    """Parse anything pyproj understands ("EPSG:25832", 3857, WKT, a CRS) into a :class:`CRS`.

    ``parameter`` names the setting the value came from, for the error message.
    """
    if isinstance(value, CRS):
        return value
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError with a terse message
        raise CRSError(
            f"unknown CRS {value!r}: give an EPSG code such as 'EPSG:4326' or a WKT/PROJ string",
            parameter=parameter,
        ) from exc


def require_metric(crs: CRS, what: str = "the working CRS") -> None:
    """Refuse geographic CRSs (and any CRS not in metres) where metres are needed."""
    if crs.is_geographic:
        raise CRSError(
            f"{what} {crs.to_string()} is geographic (degrees) but resolution and distances are in "
            "metres: use a projected CRS such as the local UTM zone, or leave the working CRS unset to pick it",
            parameter="crs",
        )
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"{what} {crs.to_string()} has units {sorted(units)}, not metres", parameter="crs"
        )


@dataclass(frozen=True)
class BBox:
    """An axis-aligned box ``(minx, miny, maxx, maxy)`` with the CRS its numbers are in."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: CRS

    @classmethod
    def parse(cls, text_or_values: str | tuple | list, crs: CRS | str | int = "EPSG:4326") -> BBox:
        """Parse ``"minx,miny,maxx,maxy"`` (or a 4-sequence) and validate it against ``crs``."""
        if isinstance(text_or_values, str):
            parts = [p for p in text_or_values.replace(" ", ",").split(",") if p]
        else:
            parts = list(text_or_values)
        if len(parts) != 4:
            raise BBoxError(
                f"a bbox needs four numbers minx,miny,maxx,maxy; got {len(parts)}: {text_or_values!r}",
                parameter="bbox",
            )
        try:
            values = [float(p) for p in parts]
        except (TypeError, ValueError) as exc:
            raise BBoxError(
                f"bbox values must be numbers, got {text_or_values!r}", parameter="bbox"
            ) from exc
        box = cls(*values, crs=to_crs(crs, parameter="bbox_crs"))
        box.validate()
        return box

    def validate(self) -> None:
        """Raise :class:`BBoxError` for swapped, empty or out-of-range boxes."""
        if not all(math.isfinite(v) for v in self.bounds):
            raise BBoxError(f"bbox has non-finite values: {self.bounds}", parameter="bbox")
        if self.minx > self.maxx or self.miny > self.maxy:
            raise BBoxError(
                f"bbox {self.bounds} is swapped: the order is minx,miny,maxx,maxy "
                "(west,south,east,north), each min smaller than its max",
                parameter="bbox",
            )
        if self.minx == self.maxx or self.miny == self.maxy:
            raise BBoxError(f"bbox {self.bounds} is empty (zero width or height)", parameter="bbox")
        if self.crs.is_geographic:
            if not (-180 <= self.minx <= 180 and -180 <= self.maxx <= 180):
                raise BBoxError(
                    f"bbox x values {self.minx}, {self.maxx} are not longitudes but the bbox CRS is "
                    f"{self.crs.to_string()}: give the bbox CRS the numbers are in",
                    parameter="bbox",
                )
            if not (-90 <= self.miny <= 90 and -90 <= self.maxy <= 90):
                raise BBoxError(
                    f"bbox y values {self.miny}, {self.maxy} are not latitudes but the bbox CRS is "
                    f"{self.crs.to_string()}: give the bbox CRS the numbers are in, or "
                    "check that the order is lon,lat (minx,miny,maxx,maxy)",
                    parameter="bbox",
                )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The four numbers as a tuple."""
        return (self.minx, self.miny, self.maxx, self.maxy)

    def to_crs(self, crs: CRS | str | int) -> BBox:
        """Bounds of this box in another CRS (edges densified, so curved edges are covered)."""
        crs = to_crs(crs)
        if crs == self.crs:
            return self
        transformer = Transformer.from_crs(self.crs, crs, always_xy=True)
        minx, miny, maxx, maxy = transformer.transform_bounds(*self.bounds, densify_pts=64)
        return BBox(minx, miny, maxx, maxy, crs)

    def lonlat_center(self) -> tuple[float, float]:
        """Centre of the box in longitude/latitude."""
        geo = self.to_crs("EPSG:4326")
        return ((geo.minx + geo.maxx) / 2, (geo.miny + geo.maxy) / 2)


def scale_error(crs: CRS, bbox: BBox) -> float:
    """Worst relative distance error ``|k - 1|`` of ``crs`` over ``bbox`` (corners and centre).

    ``k`` is the projection's point scale (pyproj's meridional and parallel scale factors): a
    metre measured on the map is ``1 / k`` metres on the ground.
    """
    geo = bbox.to_crs("EPSG:4326")
    lons = [geo.minx, geo.maxx, geo.minx, geo.maxx, (geo.minx + geo.maxx) / 2]
    lats = [geo.miny, geo.miny, geo.maxy, geo.maxy, (geo.miny + geo.maxy) / 2]
    try:
        factors = Proj(crs).get_factors(lons, lats)
    except Exception as exc:  # pyproj raises several types for CRSs it cannot differentiate
        log.warning("cannot measure the scale error of %s: %s", crs.to_string(), exc)
        return 0.0
    scales = np.concatenate([factors.meridional_scale, factors.parallel_scale])
    scales = scales[np.isfinite(scales)]
    return float(np.max(np.abs(scales - 1.0))) if scales.size else 0.0


def check_scale(crs: CRS, bbox: BBox) -> float:
    """Refuse a working CRS that distorts distances over ``bbox`` by more than 1 %, warn > 0.2 %."""
    error = scale_error(crs, bbox)
    if error <= WARN_SCALE_ERROR:
        return error
    suggestion = utm_crs_for(bbox).to_string()
    text = (
        f"the working CRS {crs.to_string()} distorts distances by {100 * error:.2f} % over this "
        f"area (scale factor {1 + error:.4f}): cells and distances are that far off on the ground"
    )
    if error > MAX_SCALE_ERROR:
        raise CRSError(
            f"{text}; use the local UTM zone ({suggestion}) or leave the working CRS unset",
            parameter="crs",
        )
    log.warning("%s; the local UTM zone is %s", text, suggestion)
    return error


def utm_crs_for(bbox: BBox) -> CRS:
    """The WGS 84 UTM zone containing the centre of ``bbox``."""
    lon, lat = bbox.lonlat_center()
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:
        raise CRSError(
            f"no UTM zone covers lon={lon:.4f}, lat={lat:.4f}: name a working CRS explicitly",
            parameter="crs",
        )
    return CRS.from_epsg(int(infos[0].code))


def _snap_down(value: float, step: float) -> float:
    # The tolerance makes the same box given in two CRSs (millimetre round-off) snap alike.
    return math.floor(value / step + 1e-6) * step


def _snap_up(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-6) * step


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in a metric CRS: ``crs``, affine ``transform``, ``shape=(rows, cols)``."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        require_metric(self.crs, "the grid CRS")
        t = self.transform
        if t.b != 0 or t.d != 0 or t.e >= 0 or t.a <= 0:
            raise CRSError("grids must be north-up (no rotation, negative y step)", parameter="crs")
        if abs(t.a + t.e) > 1e-9 * t.a:
            raise CRSError(f"grid cells must be square, got {t.a} x {-t.e} m", parameter="crs")
        if self.shape[0] <= 0 or self.shape[1] <= 0:
            raise BBoxError(f"grid shape {self.shape} is empty")

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_bbox(
        cls,
        bbox: BBox,
        resolution: float,
        crs: CRS | str | int | None = None,
        max_cells: int | None = DEFAULT_MAX_CELLS,
    ) -> Grid:
        """Cover ``bbox`` with square cells of ``resolution`` metres in ``crs`` (default: UTM).

        The box is transformed into the working CRS, and its bounds are snapped outwards to whole
        multiples of the resolution so that the same area given in any CRS gives the same grid.
        """
        if not resolution or not math.isfinite(resolution) or resolution <= 0:
            raise BBoxError(
                f"resolution must be a positive number of metres, got {resolution!r}",
                parameter="resolution",
            )
        work_crs = utm_crs_for(bbox) if crs is None else to_crs(crs)
        require_metric(work_crs)
        if crs is not None:
            check_scale(work_crs, bbox)
        box = bbox.to_crs(work_crs)
        size = min(box.maxx - box.minx, box.maxy - box.miny)
        if resolution > size:
            raise BBoxError(
                f"resolution {resolution:g} m is larger than the area itself "
                f"({box.maxx - box.minx:.1f} m x {box.maxy - box.miny:.1f} m): use smaller cells "
                "or a larger box",
                parameter="resolution",
            )
        minx, miny = _snap_down(box.minx, resolution), _snap_down(box.miny, resolution)
        maxx, maxy = _snap_up(box.maxx, resolution), _snap_up(box.maxy, resolution)
        cols = int(round((maxx - minx) / resolution))
        rows = int(round((maxy - miny) / resolution))
        if max_cells is not None and rows * cols > max_cells:
            raise AreaTooLargeError(
                f"the area is {(maxx - minx) / 1000:.2f} km x {(maxy - miny) / 1000:.2f} km, "
                f"{rows} x {cols} = {rows * cols / 1e6:.1f} million cells at {resolution} m "
                f"(about {rows * cols * 4 / 2**30:.1f} GiB per band). If the bbox is in the wrong "
                "units, fix the bbox CRS; to go ahead anyway, allow large areas",
                parameter="allow_large",
            )
        transform = Affine(resolution, 0.0, minx, 0.0, -resolution, maxy)
        return cls(work_crs, transform, (rows, cols))

    # -- geometry ----------------------------------------------------------------------------
    @property
    def resolution(self) -> float:
        """Cell size in metres."""
        return float(self.transform.a)

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.shape[1]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the outer cell edges."""
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    @property
    def bbox(self) -> BBox:
        """The grid's bounds as a :class:`BBox`."""
        return BBox(*self.bounds, crs=self.crs)

    def xy(self, row: np.ndarray | float, col: np.ndarray | float) -> tuple:
        """Coordinates of the centres of cells ``(row, col)``."""
        t = self.transform
        return (t.c + (np.asarray(col) + 0.5) * t.a, t.f + (np.asarray(row) + 0.5) * t.e)

    def rowcol(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple:
        """Integer ``(row, col)`` of the cells containing points ``(x, y)`` (may be outside)."""
        t = self.transform
        col = np.floor((np.asarray(x) - t.c) / t.a).astype(int)
        row = np.floor((np.asarray(y) - t.f) / t.e).astype(int)
        return row, col

    def contains(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """Whether points lie inside the grid's bounds."""
        minx, miny, maxx, maxy = self.bounds
        x, y = np.asarray(x), np.asarray(y)
        return (x >= minx) & (x < maxx) & (y > miny) & (y <= maxy)

    def cell_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Two ``shape`` arrays with the x and y of every cell centre."""
        rows = np.arange(self.height, dtype=np.float64)
        cols = np.arange(self.width, dtype=np.float64)
        x, y = self.xy(rows[:, None], cols[None, :])
        return np.broadcast_to(x, self.shape), np.broadcast_to(y, self.shape)

    # -- sub-grids and tiling ------------------------------------------------------------------
    def window(self, row_off: int, col_off: int, height: int, width: int) -> Grid:
        """The grid of a rectangular block of cells; offsets may reach outside (for halos)."""
        t = self.transform
        origin = t @ (col_off, row_off)
        return Grid(self.crs, Affine(t.a, 0.0, origin[0], 0.0, t.e, origin[1]), (height, width))

    def refine(self, factor: int) -> Grid:
        """The same area split into ``factor`` x ``factor`` cells per cell (``factor`` >= 1)."""
        factor = int(factor)
        if factor < 1:
            raise ValueError(f"refinement factor must be a positive integer, got {factor}")
        if factor == 1:
            return self
        t = self.transform
        fine = Affine(t.a / factor, 0.0, t.c, 0.0, t.e / factor, t.f)
        return Grid(self.crs, fine, (self.height * factor, self.width * factor))

    def offset_in(self, parent: Grid) -> tuple[int, int]:
        """``(row_off, col_off)`` of this grid's top-left cell inside ``parent``."""
        col = (self.transform.c - parent.transform.c) / parent.resolution
        row = (self.transform.f - parent.transform.f) / -parent.resolution
        return int(round(row)), int(round(col))

    def tiles(self, tile_size: int, halo: int = 0, clamp: bool = False) -> Iterator[Tile]:
        """Tiles covering the grid exactly once, each with a ``halo`` of cells around its core.

        With ``clamp`` the halo stops at the grid's edge (for models whose context never lies
        outside the grid, such as line of sight between cells and sites that are both inside).
        """
        if tile_size <= 0:
            raise ValueError("tile_size must be positive")
        for row_off in range(0, self.height, tile_size):
            for col_off in range(0, self.width, tile_size):
                h = min(tile_size, self.height - row_off)
                w = min(tile_size, self.width - col_off)
                top, left = row_off - halo, col_off - halo
                bottom, right = row_off + h + halo, col_off + w + halo
                if clamp:
                    top, left = max(top, 0), max(left, 0)
                    bottom, right = min(bottom, self.height), min(right, self.width)
                outer = self.window(top, left, bottom - top, right - left)
                yield Tile(
                    core=(row_off, col_off, h, w),
                    offset=(row_off - top, col_off - left),
                    grid=outer,
                )

    def to_profile(
        self, count: int = 1, dtype: str = "float32", nodata: float | None = None
    ) -> dict:
        """A rasterio profile for writing this grid."""
        profile = {
            "driver": "GTiff",
            "crs": self.crs.to_wkt(),
            "transform": self.transform,
            "height": self.height,
            "width": self.width,
            "count": count,
            "dtype": dtype,
        }
        if nodata is not None:
            profile["nodata"] = nodata
        return profile

    def __repr__(self) -> str:
        epsg = self.crs.to_epsg()
        name = f"EPSG:{epsg}" if epsg else self.crs.name
        return (
            f"Grid({name}, {self.resolution:g} m, {self.height}x{self.width}, bounds={self.bounds})"
        )


@dataclass(frozen=True)
class Tile:
    """One tile of a tiled run.

    ``core`` is (row_off, col_off, height, width) in the parent grid, ``grid`` the core grown by
    its halo, and ``offset`` the (row, col) of the core's first cell inside ``grid``.
    """

    core: tuple[int, int, int, int]
    offset: tuple[int, int]
    grid: Grid

    def crop(self, array: np.ndarray) -> np.ndarray:
        """Cut the core out of an array computed on the haloed ``grid`` (last two axes)."""
        (r, c), (h, w) = self.offset, self.core[2:]
        return array[..., r : r + h, c : c + w]

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of the core inside the parent grid."""
        r, c, h, w = self.core
        return slice(r, r + h), slice(c, c + w)
