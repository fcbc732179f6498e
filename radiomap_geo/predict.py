"""The prediction engine: tiles with a halo as wide as the model's reach, stitched without seams.

Each tile rasterises the scene over its core plus ``reach_m`` on every side, asks the model for
the path gain of every site within reach of the core, folds the sites into coverage bands and
hands the core to a sink (an in-memory array or a window of the output file). A cell's value
depends only on the sites within reach and the scene between them, so the tiling is invisible.

Coarse grids and networks: a network trained on ``r`` m cells would see blurred streets and
buildings if its inputs were rasterised on, say, 8 m cells. When the output cell is at least 1.5
times the model's native cell size (``native_resolution_m``), each tile's scene is rasterised on
a grid ``k`` times finer (``k = round(cell / r)``), the model predicts there, and every output
cell gets the mean *power* (linear) of its ``k x k`` outdoor sub-cells: the area-averaged path
gain of the cell (see :func:`supersampling_factor`, :func:`aggregate_power_db`).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from radiomap_geo.coverage import CoverageAccumulator, CoverageResult, noise_power_dbm
from radiomap_geo.fastpath import accelerated
from radiomap_geo.grid import Grid, Tile
from radiomap_geo.inputs import load_sites, require_footprints
from radiomap_geo.models.base import PathGainModel, SceneInputs
from radiomap_geo.models.registry import get_model
from radiomap_geo.options import PredictOptions, RunOptions, run_options
from radiomap_geo.progress import Monitor, as_monitor
from radiomap_geo.rasterize import rasterize_buildings
from radiomap_geo.reach import skip_site
from radiomap_geo.sites import Sites

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneSource:
    """Where tile scenes come from: footprints plus optional raster paths, read per tile."""

    buildings: object = None  # GeoDataFrame with height_m, or None for open ground
    ndsm: str | Path | None = None
    ortho: str | Path | None = None
    dsm: str | Path | None = None
    dtm: str | Path | None = None

    def building_height(self, grid: Grid) -> np.ndarray:
        """The footprints' heights rasterised onto ``grid`` (0 outside buildings)."""
        return rasterize_buildings(_clip(self.buildings, grid), grid)

    def scene_for(self, grid: Grid, rx_height_m: float) -> SceneInputs:
        """Rasterise (and reproject) everything onto ``grid``."""
        ndsm = ortho = None
        if any(p is not None for p in (self.ndsm, self.dsm, self.dtm, self.ortho)):
            from radiomap_geo.io import rasters

            if self.ndsm is not None or self.dsm is not None:
                ndsm = rasters.read_ndsm(grid, ndsm=self.ndsm, dsm=self.dsm, dtm=self.dtm)
            if self.ortho is not None:
                ortho = rasters.read_ortho(grid, self.ortho)
        return SceneInputs(
            grid=grid,
            building_height=self.building_height(grid),
            ndsm=ndsm,
            ortho=ortho,
            rx_height_m=rx_height_m,
        )

    def read_by(self, model: PathGainModel) -> SceneSource:
        """The same source without the rasters ``model`` does not read, each dropped with a
        WARNING: an nDSM or orthophoto given to a model trained without one changes nothing,
        and whoever passed it expects it to count.
        """
        if any(path is not None for path in (self.ndsm, self.dsm, self.dtm)):
            from radiomap_geo.io.rasters import check_height_sources

            check_height_sources(self.ndsm, self.dsm, self.dtm)
        channels = input_channels(model)
        if channels is None:
            return self
        source = self
        if (self.ndsm is not None or self.dsm is not None) and "ndsm" not in channels:
            logger.warning(
                "model %s does not read a surface model: the nDSM (ndsm, or dsm and dtm) is "
                "ignored; choose a model trained on one (unet-ndsm, unet-ortho: "
                "`radiomap-geo models`)",
                model.name,
            )
            source = replace(source, ndsm=None, dsm=None, dtm=None)
        if self.ortho is not None and not any(c.startswith("ortho") for c in channels):
            logger.warning(
                "model %s does not read an orthophoto: the ortho raster is ignored; choose a "
                "model trained on one (unet-ortho: `radiomap-geo models`)",
                model.name,
            )
            source = replace(source, ortho=None)
        return source

    def in_crs(self, crs) -> SceneSource:
        """The same source with the footprints reprojected into ``crs`` once, not per tile."""
        buildings = self.buildings
        if buildings is None or len(buildings) == 0 or buildings.crs == crs:
            return self
        return replace(self, buildings=buildings.to_crs(crs))

    def clipped_to(self, grid: Grid) -> SceneSource:
        """The same source with only the footprints a tile on ``grid`` can see.

        For shipping a tile's work to another process. The box is one cell wider than ``grid``
        so that :meth:`scene_for` on ``grid`` or a refinement of it (whose bounds can differ in
        the last bit) selects exactly the footprints it would from the full set.
        """
        if self.buildings is None or len(self.buildings) == 0:
            return self
        margin = grid.resolution
        minx, miny, maxx, maxy = grid.bounds
        wider = _box(minx - margin, miny - margin, maxx + margin, maxy + margin)
        frame = (
            self.buildings.to_crs(grid.crs) if self.buildings.crs != grid.crs else self.buildings
        )
        return replace(self, buildings=frame.iloc[np.sort(frame.sindex.query(wider))])


def input_channels(model: PathGainModel) -> set[str] | None:
    """The raster channels a model reads: a network's inputs, none for a physics baseline, or
    None when the model cannot say (a model fitted to drive tests reads through another).
    """
    if hasattr(model, "fitted"):
        return None
    for candidate in (model, getattr(model, "net", None)):  # .net: a network with a fallback
        channels = getattr(candidate, "channels", None)
        if channels is not None:
            return set(channels)
    return set()


def _clip(buildings, grid: Grid):
    if buildings is None or len(buildings) == 0:
        return buildings
    if buildings.crs != grid.crs:
        buildings = buildings.to_crs(grid.crs)
    minx, miny, maxx, maxy = grid.bounds
    return buildings.iloc[buildings.sindex.query(_box(minx, miny, maxx, maxy))]


def _box(minx: float, miny: float, maxx: float, maxy: float):
    from shapely.geometry import box

    return box(minx, miny, maxx, maxy)


def sites_near(sites: Sites, grid: Grid, distance_m: float) -> list[int]:
    """Indices of the sites within ``distance_m`` of the rectangle of ``grid``."""
    minx, miny, maxx, maxy = grid.bounds
    xy = sites.xy()
    dx = np.maximum.reduce([minx - xy[:, 0], np.zeros(len(xy)), xy[:, 0] - maxx])
    dy = np.maximum.reduce([miny - xy[:, 1], np.zeros(len(xy)), xy[:, 1] - maxy])
    return [int(i) for i in np.flatnonzero(np.hypot(dx, dy) <= distance_m)]


@dataclass(frozen=True)
class TilePlan:
    """One tile of a run and the indices of the sites within reach of its core."""

    tile: Tile
    near: tuple[int, ...]

    @property
    def steps(self) -> int:
        """Progress steps the tile reports: one per site in reach, or one if there is none."""
        return max(len(self.near), 1)


def plan_tiles(grid: Grid, sites: Sites, model: PathGainModel, tile_size: int) -> list[TilePlan]:
    """Cut ``grid`` into tiles with a halo wide enough for ``model`` and find their sites.

    Args:
        grid: the working grid.
        sites: transmitters in ``grid.crs`` (their indices are the ``best_server`` numbers).
        model: the path-gain model; its reach (plus ``context_m``) sets the halo.
        tile_size: tile edge in cells.
    """
    # Context: every site within reach of the core, plus whatever the model reads around a site.
    context_m = model.reach_m + float(getattr(model, "context_m", 0.0))
    halo = math.ceil(context_m / grid.resolution) + 1
    # Sites lie inside the grid, so no line from a site to a cell leaves it: clamp the halo.
    tiles = grid.tiles(tile_size, halo=halo, clamp=True)
    return [
        TilePlan(tile, tuple(sites_near(sites, tile_core(grid, tile), model.reach_m)))
        for tile in tiles
    ]


def coverage_tile(
    grid: Grid,
    tile: Tile,
    sites: Sites,
    near: Sequence[int],
    model: PathGainModel,
    source: SceneSource,
    options: PredictOptions,
    step: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """The coverage bands of one tile's core: the unit of work of every runner.

    A pure function of its arguments, so tiles can be computed in any order, in any process,
    and stitched afterwards without seams.

    Args:
        grid: the working grid the tile belongs to.
        tile: the tile (core and haloed grid), from :func:`plan_tiles`.
        sites: all transmitters of the run, in ``grid.crs``.
        near: indices into ``sites`` of those within reach of the core.
        model: the path-gain model.
        source: where the tile's scene comes from.
        options: the run's settings.
        step: called with a message after each site (or once when ``near`` is empty); a
            runner reports progress and checks for cancellation there.
    """
    model = accelerated(model)  # the same values, the empirical parts in one pass (fastpath)
    factor = supersampling_factor(model, grid.resolution)
    core = tile_core(grid, tile)
    # Networks on coarse grids see a finer scene; the output's nodata stays the grid's own
    # building cells.
    fine_scene = source.scene_for(tile.grid.refine(factor), options.rx_height_m)
    indoor = fine_scene.building_mask if factor == 1 else source.building_height(tile.grid) > 0
    fine_core = core.refine(factor)
    outdoor = None
    if factor > 1:
        r, c = (v * factor for v in tile.offset)
        h, w = fine_core.shape
        outdoor = ~fine_scene.building_mask[r : r + h, c : c + w]
    noise = noise_power_dbm(options.bandwidth_mhz, options.noise_figure_db)
    acc = CoverageAccumulator(
        core.shape,
        noise,
        options.rsrp_offset_db,
        keep_per_site=options.per_site,
        keep_source=reports_source(model),
        keep_field=True,
    )
    std_of = getattr(model, "std_db", None)  # models fitted to measurements give their 1-sigma
    stds: dict[int, np.ndarray] = {}
    for index in near:
        site = sites[index]
        if not options.per_site and skip_site(
            model, site, core, noise, acc.best_mw, options.rx_height_m
        ):  # nowhere on this tile within 30 dB of the noise or of the best server (reach.py)
            if step is not None:
                step(f"tile {tile.core[:2]}: {site.site_id} out of reach")
            continue
        gain, origin = gain_and_source(model, fine_scene, site, fine_core)
        gain = aggregate_power_db(gain, factor, outdoor)
        origin = _aggregate_mean(origin, factor)
        acc.add(index, site.site_id, site.power_dbm, gain, origin, site.frequency_mhz)
        if std_of is not None:
            stds[index + 1] = _aggregate_mean(std_of(fine_scene, site, fine_core), factor)
        if step is not None:
            step(f"tile {tile.core[:2]}: {site.site_id}")
    if options.per_site:
        _fill_unreached(acc, sites, core.shape)
    if not near and step is not None:
        step(f"tile {tile.core[:2]}: no site in reach")
    bands = acc.bands(invalid=tile.crop(indoor))
    if std_of is not None:  # the best server's sigma, where the best server is known
        std = np.full(core.shape, np.nan, np.float32)
        for number, values in stds.items():
            std = np.where(acc.best_index == number, values, std)
        valid = np.isfinite(bands["rsrp_dbm"])
        bands["rsrp_std_db"] = np.where(valid, std, np.nan).astype(np.float32)
    return bands


def iter_coverage_tiles(run: CoverageRun) -> Iterator[tuple[Tile, dict[str, np.ndarray]]]:
    """Yield each tile of ``run`` with its coverage bands (core only), reporting progress per
    site.
    """
    plans = plan_tiles(run.grid, run.sites, run.model, run.options.tile_size)
    total, done = sum(plan.steps for plan in plans), 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        run.monitor.step(done, total, message)

    for plan in plans:
        bands = coverage_tile(
            run.grid, plan.tile, run.sites, plan.near, run.model, run.source, run.options, step
        )
        yield plan.tile, bands


def supersampling_factor(model: PathGainModel, resolution: float) -> int:
    """How many sub-cells per side the scene is computed on for ``model`` at ``resolution``.

    1 unless the model has a native cell size (trained networks) and ``resolution`` is at least
    1.5 times it; then ``round(resolution / native)``, so the sub-cells are within a factor
    1.5 of the native size (networks resample that small a difference by their own rule).
    """
    native = getattr(model, "native_resolution_m", None)
    if not native or resolution < 1.5 * native:
        return 1
    return int(math.floor(resolution / native + 0.5))


def aggregate_power_db(
    values: np.ndarray, factor: int, outdoor: np.ndarray | None = None
) -> np.ndarray:
    """Mean power (dB of the linear mean) over ``factor`` x ``factor`` blocks, NaN ignored.

    With ``outdoor``, only outdoor sub-cells count, except in blocks that have none (a cell
    filled by a building keeps the mean of all its sub-cells).
    """
    if factor == 1:
        return values
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    power = np.power(10.0, values.astype(np.float64) / 10.0)
    weight = np.isfinite(power).astype(np.float64)
    if outdoor is not None:
        blocks_out = outdoor.reshape(rows, factor, cols, factor).any(axis=(1, 3))
        keep = outdoor | ~np.repeat(np.repeat(blocks_out, factor, 0), factor, 1)
        weight *= keep
    power = np.where(weight > 0, power, 0.0)
    total = power.reshape(rows, factor, cols, factor).sum(axis=(1, 3))
    count = weight.reshape(rows, factor, cols, factor).sum(axis=(1, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(count > 0, 10.0 * np.log10(total / np.maximum(count, 1)), np.nan)
    return out.astype(np.float32)


def _aggregate_mean(values: np.ndarray | None, factor: int) -> np.ndarray | None:
    """Block mean ignoring NaN (for the model-source band)."""
    if values is None or factor == 1:
        return values
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    blocks = values.reshape(rows, factor, cols, factor)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def reports_source(model: PathGainModel) -> bool:
    """Whether ``model`` can say which sub-model produced each cell."""
    return callable(getattr(model, "path_gain_and_source", None))


def gain_and_source(
    model: PathGainModel, scene: SceneInputs, site, target: Grid
) -> tuple[np.ndarray, np.ndarray | None]:
    """Path gain on ``target`` and, for models that report it, the per-cell source."""
    if reports_source(model):
        return model.path_gain_and_source(scene, site, target)
    return model.path_gain_db(scene, site, target), None


def tile_core(grid: Grid, tile: Tile) -> Grid:
    """The grid of a tile's core."""
    return grid.window(*tile.core)


def _fill_unreached(acc: CoverageAccumulator, sites: Sites, shape: tuple[int, int]) -> None:
    """Keep per-site bands complete (NaN) for sites out of this tile's reach."""
    from radiomap_geo.coverage import per_site_band

    for site in sites:
        acc.per_site.setdefault(per_site_band(site.site_id), np.full(shape, np.nan, np.float32))
    order = [per_site_band(s.site_id) for s in sites]
    acc.per_site = {name: acc.per_site[name] for name in order}


@dataclass(frozen=True)
class CoverageRun:
    """A checked run of the engine: what every runner (in memory, into a file, on Dask) starts
    from. Build it with :meth:`start`.
    """

    grid: Grid
    sites: Sites  # in ``grid.crs``, all inside the grid
    model: PathGainModel
    #: The ``model`` argument as given: a registry name lets worker processes build their own.
    requested_model: str | PathGainModel | None
    options: RunOptions
    source: SceneSource  # footprints already in ``grid.crs``
    monitor: Monitor

    @classmethod
    def start(
        cls,
        grid: Grid,
        sites: Sites,
        buildings=None,
        *,
        model: str | PathGainModel | None = None,
        ndsm: str | Path | None = None,
        ortho: str | Path | None = None,
        dsm: str | Path | None = None,
        dtm: str | Path | None = None,
        options: RunOptions | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        **settings,
    ) -> CoverageRun:
        """Check the arguments every runner takes (see :func:`predict_coverage`) and build the
        model.
        """
        options = run_options(options, **settings)
        path_model = model
        if isinstance(model, str) or model is None:
            path_model = get_model(
                model, reach_m=options.max_range_m, tta=options.tta, precision=options.precision
            )
        sites = load_sites(sites, grid)
        check_sites = getattr(path_model, "check_sites", None)  # a fitted model: known cells
        if callable(check_sites):
            check_sites(sites)
        require_footprints(buildings)
        source = SceneSource(buildings, ndsm, ortho, dsm, dtm).read_by(path_model)
        source = source.in_crs(grid.crs)
        monitor = as_monitor(progress, is_cancelled)
        return cls(grid, sites, path_model, model, options, source, monitor)

    def output_layout(self) -> tuple[list[str], dict[str, str]]:
        """Band names (in file order) and dataset tags of this run's coverage file."""
        return output_layout(self.grid, self.sites, self.model, self.options)


def takes_run_inputs(runner: Callable) -> Callable:
    """Show the keywords ``runner`` forwards to :meth:`CoverageRun.start` in its signature.

    The runners pass their shared inputs (model, rasters, options, callbacks, settings) through
    ``**inputs`` so that they are declared once; ``help()``, notebooks and ``inspect`` still list
    them, because the runner's ``__signature__`` is rebuilt from ``CoverageRun.start``.
    """
    own = inspect.signature(runner)
    start = inspect.signature(CoverageRun.start)
    params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in params}
    shared = [p for p in start.parameters.values() if p.kind is p.KEYWORD_ONLY]
    params += [p for p in shared if p.name not in taken]
    params.append(inspect.Parameter("settings", inspect.Parameter.VAR_KEYWORD))
    runner.__signature__ = own.replace(parameters=params)
    return runner


@takes_run_inputs
def predict_coverage(grid: Grid, sites: Sites, buildings=None, **inputs) -> CoverageResult:
    """Predict coverage bands for ``sites`` over ``grid`` and return them in memory.

    Args:
        grid: the working grid (see :meth:`Grid.from_bbox`).
        sites: transmitters (any CRS; they must lie inside the grid).
        buildings: footprints with ``height_m`` (see :func:`radiomap_geo.io.buildings.load_buildings`),
            or None for open ground.
        **inputs: keywords, all optional:

            * ``model``: a registry name (see :func:`list_models`) or a model object;
            * ``ndsm``, ``ortho``: raster paths, reprojected onto the grid;
            * ``dsm``, ``dtm``: a surface and a terrain model whose difference stands in for
              ``ndsm``;
            * ``options``: the run's settings (:class:`~radiomap_geo.options.RunOptions`;
              defaults there);
            * ``progress``, ``is_cancelled``: callbacks (see :mod:`radiomap_geo.progress`);
            * fields of :class:`~radiomap_geo.options.RunOptions` overriding ``options``
              (``rx_height_m``, ``per_site``, ``bandwidth_mhz``, ``noise_figure_db``,
              ``subcarrier_spacing_khz``, ``technology``, ``max_range_m``, ``tile_size``...).
    """
    run = CoverageRun.start(grid, sites, buildings, **inputs)
    bands: dict[str, np.ndarray] = {}
    for tile, tile_bands in iter_coverage_tiles(run):
        for name, values in tile_bands.items():
            if name not in bands:
                bands[name] = np.full(grid.shape, np.nan, np.float32)
            bands[name][tile.slices] = values
    metadata = _metadata(run.model, run.options)
    return CoverageResult(grid, bands, run.sites, run.model.name, metadata)


@takes_run_inputs
def predict_to_file(
    path: str | Path,
    grid: Grid,
    sites: Sites,
    buildings=None,
    *,
    overwrite: bool = False,
    dst_crs=None,
    **inputs,
) -> Path:
    """Like :func:`predict_coverage` (``inputs`` as there), but streams tiles into a COG at
    ``path``: memory stays per-tile. ``overwrite`` replaces an existing file; ``dst_crs``
    reprojects the output.

    The file appears atomically when the run completes; a failed or cancelled run leaves nothing.
    """
    from radiomap_geo.io.raster import TiledBandWriter

    run = CoverageRun.start(grid, sites, buildings, **inputs)
    names, tags = run.output_layout()
    with TiledBandWriter(path, grid, names, tags, overwrite, dst_crs) as writer:
        for tile, bands in iter_coverage_tiles(run):
            writer.write_tile(tile, bands)
    return writer.path


def output_layout(
    grid: Grid, sites: Sites, model: PathGainModel, options: PredictOptions
) -> tuple[list[str], dict[str, str]]:
    """Band names (in file order) and dataset tags of a coverage file.

    Shared by every runner that writes a file, so their outputs are interchangeable.
    """
    from radiomap_geo.coverage import band_description_tags, per_site_band

    names = ["rsrp_dbm", "best_server", "sinr_db", "rx_power_dbm"]
    if reports_source(model):
        names.append("model_source")
    if options.per_site:
        names += [per_site_band(s) for s in sites.ids]
    if hasattr(model, "std_db"):  # models fitted to measurements (radiomap_geo.measurements)
        names.append("rsrp_std_db")
    names.append("e_field_vpm")  # exposure: the total field of all sites (radiomap_geo.efield)
    shell = CoverageResult(grid, {}, sites, model.name, _metadata(model, options))
    return names, {**shell.tags(), **band_description_tags(names)}


def _metadata(model: PathGainModel, options: PredictOptions) -> dict:
    return {
        "reach_m": model.reach_m,
        "rx_height_m": options.rx_height_m,
        "bandwidth_mhz": options.bandwidth_mhz,
        "noise_figure_db": options.noise_figure_db,
        "technology": options.technology,
        "subcarrier_spacing_khz": options.subcarrier_spacing,
        "rsrp_offset_db": round(options.rsrp_offset_db, 4),
        "tta": options.tta,
        "precision": _network_precision(model) or options.precision,
    }


def _network_precision(model: PathGainModel) -> str | None:
    """The arithmetic a model's network runs in (``auto`` resolved), None without a network."""
    for candidate in (model, getattr(model, "net", None)):
        runner = getattr(candidate, "runner", None)
        if runner is not None:
            return runner.precision
    return None
