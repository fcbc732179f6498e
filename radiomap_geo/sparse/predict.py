"""Coverage and exposure maps corrected by measurements: :func:`predict_with_measurements`.

1. The geometry-only prediction (``predict_coverage`` with the geometry network, per-site path
   gains kept) gives every site's path gain.
2. The measurements (:mod:`radiomap_geo.measurements.points`: any vector format or CSV, any CRS;
   outside points dropped, points sharing a cell averaged) are put on the grid.
3. Values tied to one site (a ``site_id`` column, or a single site) become that site's path gain
   (``power_dbm`` and the RSRP offset removed, fields through the isotropic aperture) and the
   measurement model (default ``geo-residual``) corrects that site's map; with several sites and no
   ``site_id`` the values are the total received power (exposure), and the model corrects the
   total. Without any site (EMGAN's case: transmitters unknown) the site-free model
   (``emgan``) maps the total from the topology and the measurements alone.
4. The coverage bands are recomputed from the corrected gains, and two bands are added:
   ``rsrp_std_db`` (the model's calibrated 1-sigma uncertainty, see
   :mod:`radiomap_geo.sparse.uncertainty`) and ``e_field_vpm`` (total RMS field of all sites,
   see :mod:`radiomap_geo.sparse.exposure`).

The ``radiocycle`` measurement model (issue #13) takes another road and needs no building layer:
:mod:`radiomap_geo.radiocycle.coverage`. Every other model needs the footprints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radiomap_geo.coverage import CoverageResult
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.radiocycle.weights import is_radiocycle
from radiomap_geo.sparse.baselines import BASELINES
from radiomap_geo.sparse.data import DEFAULT_GEOMETRY_MODEL, MapContext, free_space_gain_db
from radiomap_geo.sparse.exposure import (
    coverage_and_field,
    e_field_squared,
    to_path_gain_db,
    to_rx_power_dbm,
)
from radiomap_geo.sparse.model import (
    MeasurementModel,
    default_measurement_model,
    get_measurement_model,
)
from radiomap_geo.sparse.uncertainty import Calibration

logger = logging.getLogger(__name__)
#: Used when there is no site at all (transmitters unknown).
SITE_FREE_MODEL = "emgan"
#: The most a transmit antenna adds towards a receiver (generous: macro panels have ~18 dBi).
MAX_ANTENNA_GAIN_DB = 30.0
BAND_DESCRIPTIONS = {
    "rsrp_std_db": "1-sigma uncertainty of the measurement-corrected rsrp_dbm, dB (calibrated; "
    "NaN where the serving site has no measurement or the model no calibration)",
    "e_field_vpm": "total RMS electric field of all sites for an isotropic receiver, V/m",
}


def band_description_tags(bands) -> dict[str, str]:
    """``description_<band>`` tags of the bands this module adds (:data:`BAND_DESCRIPTIONS`)."""
    return {f"description_{k}": text for k, text in BAND_DESCRIPTIONS.items() if k in bands}


def _as_measurements(measurements: Any, **read: Any):
    """A :class:`~radiomap_geo.measurements.points.Measurements` from a path, a GeoDataFrame
    or one already read (its values checked as the reader does).
    """
    from radiomap_geo.measurements.points import (
        Measurements,
        check_plausible,
        measurements_from_frame,
        read_measurements,
    )

    if isinstance(measurements, Measurements):
        check_plausible(
            measurements.values, measurements.value_kind, measurements.unit, measurements.source
        )
        return measurements
    if hasattr(measurements, "geometry"):  # a GeoDataFrame (notebooks, QGIS layers)
        return measurements_from_frame(measurements, **read)
    return read_measurements(measurements, **read)


def _context(
    heights: np.ndarray, grid: Grid, geometry_db: np.ndarray, site, rx_height_m: float
) -> MapContext:
    from radiomap_geo.los import line_of_sight

    x, y = grid.cell_centers()
    if site is None:
        free = np.zeros(grid.shape, np.float32)
        los = np.ones(grid.shape, bool)
    else:
        free = free_space_gain_db(
            x, y, (site.x, site.y, site.height_m - rx_height_m), site.frequency_mhz
        )
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx_height_m)
    res = float(abs(grid.transform.a))
    geometry = np.where(np.isfinite(geometry_db), geometry_db, free).astype(np.float32)
    return MapContext(
        index=0,
        tile=0,
        heights=heights,
        gain_db=np.full(grid.shape, np.nan, np.float32),
        valid=np.zeros(grid.shape, bool),
        los=los,
        geometry_db=geometry,
        free_space_db=free,
        resolution=res,
    )


@dataclass
class BaselineMeasurementModel:
    """A geostatistical baseline (:data:`~radiomap_geo.sparse.baselines.BASELINES`) behind the
    measurement-model interface: any cell size, no calibrated uncertainty.
    """

    name: str
    metadata: dict = field(default_factory=dict)
    sha256: str | None = None

    @property
    def needs_site(self) -> bool:
        """Regression kriging and the random forest read the site's geometry."""
        return self.name in ("regression-kriging", "random-forest")

    def predict(self, ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The baseline's map."""
        return BASELINES[self.name](ctx, measured, values)


#: The baselines a map from measurements can use (``geometry`` alone ignores the measurements).
MEASUREMENT_BASELINES = tuple(sorted(n for n in BASELINES if n != "geometry"))


def other_measurement_models() -> dict[str, list[str]]:
    """The names ``measurement_model`` takes besides the shipped networks, by group: the
    baselines and the RadioCycle models (for the message of an unknown name).
    """
    from radiomap_geo.radiocycle.weights import available

    return {
        "baselines": list(MEASUREMENT_BASELINES),
        "RadioCycle": sorted(n for n in available() if is_radiocycle(n)),
    }


def resolve_measurement_model(name):
    """A measurement network (shipped name or ``net:PATH.pt``), a baseline name (for example
    ``regression-kriging``) or an already loaded model.

    Raises:
        InputError: unknown name (the message lists networks, baselines and RadioCycle models).
    """
    if isinstance(name, MeasurementModel | BaselineMeasurementModel):
        return name
    key = name.strip().lower() if isinstance(name, str) else name
    if key in MEASUREMENT_BASELINES:
        return BaselineMeasurementModel(key)
    return get_measurement_model(name, others=other_measurement_models())


def site_free_model(measurement_model=None):
    """The measurement model of a map without transmitters: ``measurement_model`` (default
    :data:`SITE_FREE_MODEL`), loaded.

    Raises:
        InputError: the model reads the transmitters or the geometry network's map of them
            (``radiocycle``, ``emgan-sites``, ``geo-residual``, regression kriging, ...).
    """
    name = measurement_model or SITE_FREE_MODEL
    model = None if is_radiocycle(name) else resolve_measurement_model(name)
    if model is None or model.needs_site or getattr(model, "needs_geometry", False):
        raise InputError(
            f"measurement model {getattr(name, 'name', name)} needs the transmitters (--tx-file); "
            f"without them use {SITE_FREE_MODEL} (the default then)",
            parameter="measurement_model",
        )
    return model


def _check_resolution(model, grid: Grid) -> None:
    if "metres_per_pixel" not in model.metadata:  # baselines work on any cell size
        return
    native = float(model.metadata["metres_per_pixel"])
    res = float(abs(grid.transform.a))
    if not native / 1.5 <= res <= native * 1.5:
        raise InputError(
            f"measurement model {model.name} works on {native:g} m cells, the grid has {res:g} m: "
            f"use a resolution between {native / 1.5:g} and {native * 1.5:g} m",
            parameter="resolution",
        )


def _correct(
    model: MeasurementModel, ctx: MapContext, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(corrected map, std or None)``; measured cells are where ``values`` is finite."""
    measured = np.isfinite(values)
    pred = model.predict(ctx, measured, np.where(measured, values, 0.0).astype(np.float32))
    calibration = model.metadata.get("uncertainty")
    std = None
    if calibration:
        std = Calibration.from_dict(calibration).std_db(
            measured, ctx.los, ctx.outdoor, ctx.resolution
        )
    return pred, std


def predict_with_measurements(
    grid: Grid,
    sites,
    buildings,
    measurements: Any,
    options=None,
    *,
    value_column: str = "rsrp_dbm",
    value_kind: str = "rsrp",
    value_unit: str | None = None,
    measurement_model: str | MeasurementModel | None = None,
    geometry_model: str = DEFAULT_GEOMETRY_MODEL,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    **settings: Any,
) -> CoverageResult:
    """Coverage and exposure bands corrected by measured values (see the module docstring).

    Args:
        grid: the working grid.
        sites: the transmitters (a file, a GeoDataFrame or :class:`~radiomap_geo.sites.Sites`),
            or None when unknown.
        buildings: footprints with ``height_m`` (GeoDataFrame); None only with ``radiocycle``.
        measurements: a point file path, a GeoDataFrame or a ``Measurements`` object.
        options: :class:`~radiomap_geo.options.RunOptions` (``settings`` override fields).
        value_column, value_kind, value_unit: how to read the values (see the reader).
        measurement_model: a shipped measurement model, ``net:PATH.pt``, a loaded one, or a
            baseline name (``regression-kriging``, ``kriging``, ``idw``, ``knn``,
            ``random-forest``; no calibrated ``rsrp_std_db``), or ``radiocycle`` (no buildings
            needed; adds ``building_probability``, and ``building_disagreement`` with them).
        geometry_model: the coverage network whose prediction is corrected.

    Returns:
        A :class:`~radiomap_geo.coverage.CoverageResult` with the usual bands plus
        ``rsrp_std_db`` and ``e_field_vpm``.

    Raises:
        InputError: no ``buildings`` for a model other than ``radiocycle``, bad measurements,
            ``sites`` None with a model that needs them (see :func:`site_free_model`).
    """
    from radiomap_geo.inputs import load_sites
    from radiomap_geo.options import run_options
    from radiomap_geo.predict import SceneSource, predict_coverage

    options = run_options(options, **settings)
    monitor = as_monitor(progress, is_cancelled)
    read = {"value_column": value_column, "value_kind": value_kind, "unit": value_unit}
    if sites is None:  # transmitters unknown: refuse a model that needs them before any work
        measurement_model = site_free_model(measurement_model)
    else:  # a file, a GeoDataFrame or Sites, in the grid's CRS and inside it
        sites = load_sites(sites, grid)
    points = _as_measurements(measurements, **read)
    if sites is not None:
        check_site_power(points, sites, float(options.rsrp_offset_db))
    if is_radiocycle(measurement_model):  # buildings inferred from the measurements (#13)
        from radiomap_geo.radiocycle.coverage import radiocycle_coverage

        result = radiocycle_coverage(
            grid, sites, buildings, points, options, measurement_model, monitor
        )
        result.metadata.update(band_description_tags(result.bands))
        return result
    model = resolve_measurement_model(measurement_model)  # an unknown name: before any work
    if buildings is None:
        _refuse_without_buildings(model)
    _check_resolution(model, grid)
    if sites is not None and points.site_ids is not None:
        points.require_sites(sites.ids)
    gridded = points.to_grid(grid)
    heights = SceneSource(buildings).building_height(grid)
    rx = float(options.rx_height_m)
    if sites is None:
        return _site_free(grid, heights, gridded, options, model, monitor)
    monitor.step(0, 3, "geometry prediction")
    base = predict_coverage(
        grid,
        sites,
        buildings,
        model=geometry_model,
        options=options.with_settings(per_site=True),
        is_cancelled=is_cancelled,
    )
    gains = {s.site_id: base.bands[f"path_gain_db:{s.site_id}"].copy() for s in sites}
    offset = float(options.rsrp_offset_db)
    monitor.step(1, 3, "measurement correction")
    stds: dict[str, np.ndarray] = {}
    total_std = None
    if gridded.site_ids is not None or len(sites) == 1:
        stds = _correct_per_site(model, grid, heights, sites, gains, gridded, offset, rx)
    else:
        gains, total_std = _correct_total(model, grid, heights, sites, gains, gridded, offset, rx)
    monitor.step(2, 3, "bands")
    bands, field = coverage_and_field(grid.shape, sites, gains, options, invalid=heights > 0)
    best = bands["best_server"]
    if total_std is None:
        total_std = _served_std(best, sites, stds, grid.shape)
    if not stds and not np.isfinite(total_std).any():
        logger.warning(
            "measurement model %s has no uncertainty calibration: rsrp_std_db is NaN", model.name
        )
    bands["rsrp_std_db"] = np.where(np.isfinite(best), total_std, np.nan).astype(np.float32)
    bands["e_field_vpm"] = field
    metadata = {
        **base.metadata,
        "measurement_model": model.name,
        "measurement_model_sha256": model.sha256 or "",
        "measurements": f"{len(gridded)} cells from {points.source} ({gridded.value_kind})",
        "measurements_dropped_outside": gridded.dropped_outside,
        **band_description_tags(bands),
    }
    monitor.step(3, 3, "done")
    return CoverageResult(grid, bands, sites, f"{base.model}+{model.name}", metadata)


def check_site_power(points, sites, rsrp_offset_db: float) -> None:
    """Refuse values tied to one site (its ``site_id``, or the only site) that are more than it
    can deliver: received power above its ``power_dbm`` + :data:`MAX_ANTENNA_GAIN_DB`.

    Raises:
        InputError: naming the rows, the site and its power.
    """
    from radiomap_geo.measurements.points import UNIT_LABELS, row_list

    if points.value_kind == "path-gain" or (points.site_ids is None and len(sites) != 1):
        return  # path gains exclude the power (the reader caps them at 0 dB); totals: no site
    for site in sites:
        mine = np.ones(len(points), bool)
        if points.site_ids is not None:
            mine = points.site_ids == site.site_id
        rx = to_rx_power_dbm(
            points.values[mine],
            points.value_kind,
            rsrp_offset_db=rsrp_offset_db,
            frequency_mhz=site.frequency_mhz,
        )
        limit = float(site.power_dbm) + MAX_ANTENNA_GAIN_DB
        over = rx > limit
        if not over.any():
            continue
        rows = np.flatnonzero(mine)[over]
        found = f"{points.values[rows].max():g} {UNIT_LABELS[points.unit]}"
        if points.value_kind != "rx-power":
            found += f" (received power up to {rx[over].max():.1f} dBm)"
        raise InputError(
            f"{points.source}: {row_list(rows)}: {points.value_kind} values up to {found} "
            f"for site {site.site_id!r}, more than it can deliver: its power_dbm "
            f"{site.power_dbm:g} dBm + at most {MAX_ANTENNA_GAIN_DB:g} dB antenna gain = "
            f"{limit:g} dBm; check the site_id column, that site's power_dbm, or "
            "--value-kind/--value-unit",
            parameter="measurements",
        )


def _refuse_without_buildings(measurement_model) -> None:
    """Every measurement model but radiocycle reads the buildings: say which to use instead."""
    name = getattr(measurement_model, "name", measurement_model) or default_measurement_model()
    raise InputError(
        f"measurement model {name} needs building footprints; without any, use the radiocycle "
        "measurement model, which infers them from the measurements",
        parameter="buildings",
    )


def _correct_per_site(model, grid, heights, sites, gains, gridded, offset, rx):
    """Values of one site each (``site_id``, or a single site): correct each measured site's
    path gain in ``gains`` (in place); returns its uncertainty per corrected site.
    """
    stds: dict[str, np.ndarray] = {}
    for site in sites:
        values, _ = gridded.to_array(site.site_id if gridded.site_ids is not None else None)
        if not np.isfinite(values).any():
            continue
        values = to_path_gain_db(
            values,
            gridded.value_kind,
            power_dbm=site.power_dbm,
            rsrp_offset_db=offset,
            frequency_mhz=site.frequency_mhz,
        )
        ctx = _context(heights, grid, gains[site.site_id], site, rx)
        gains[site.site_id], std = _correct(model, ctx, values)
        if std is not None:
            stds[site.site_id] = std
    return stds


def _served_std(best: np.ndarray, sites, stds: dict[str, np.ndarray], shape) -> np.ndarray:
    """Each cell's uncertainty: its best server's (NaN where that site was not corrected)."""
    served = np.full(shape, np.nan, np.float32)
    for index, site in enumerate(sites):
        if site.site_id in stds:
            served = np.where(best == index + 1, stds[site.site_id], served)
    return served


def _correct_total(model, grid, heights, sites, gains, gridded, offset, rx):
    """Several sites, values without ``site_id``: correct the total received power and share
    the correction among the sites in proportion (every site's gain shifted by the same dB).
    """
    values, _ = gridded.to_array()
    measured_rx = to_rx_power_dbm(
        values,
        gridded.value_kind,
        rsrp_offset_db=offset,
        frequency_mhz=float(np.mean([s.frequency_mhz for s in sites])),
    )
    total_mw = np.zeros(grid.shape)
    for site in sites:
        g = gains[site.site_id]
        total_mw += np.where(np.isfinite(g), 10.0 ** ((site.power_dbm + g) / 10.0), 0.0)
    with np.errstate(divide="ignore"):
        total_db = np.where(total_mw > 0, 10.0 * np.log10(total_mw), np.nan)
    strongest = max(sites, key=lambda s: s.power_dbm)
    ctx = _context(heights, grid, total_db, strongest, rx)
    ctx.free_space_db = (ctx.free_space_db + strongest.power_dbm).astype(np.float32)
    corrected, std = _correct(model, ctx, measured_rx)
    shift = corrected - ctx.geometry_db
    return {k: g + shift for k, g in gains.items()}, std


def _site_free(grid, heights, gridded, options, measurement_model, monitor) -> CoverageResult:
    """No transmitters known: the total received power / exposure from the measurements alone."""
    from radiomap_geo.sites import Site, Sites

    model = site_free_model(measurement_model)
    _check_resolution(model, grid)
    frequency = 3500.0
    values, _ = gridded.to_array()
    rx_dbm = to_rx_power_dbm(
        values, gridded.value_kind, rsrp_offset_db=options.rsrp_offset_db, frequency_mhz=frequency
    )
    ctx = _context(heights, grid, np.full(grid.shape, np.nan), None, options.rx_height_m)
    pred, std = _correct(model, ctx, rx_dbm)
    outdoor = heights <= 0
    bands = {
        "rx_power_dbm": np.where(outdoor, pred, np.nan).astype(np.float32),
        "rsrp_dbm": np.where(outdoor, pred + options.rsrp_offset_db, np.nan).astype(np.float32),
        "rsrp_std_db": np.where(outdoor, std if std is not None else np.nan, np.nan).astype(
            np.float32
        ),
        "e_field_vpm": np.where(outdoor, np.sqrt(e_field_squared(pred, frequency)), np.nan).astype(
            np.float32
        ),
    }
    cx, cy = grid.cell_centers()
    placeholder = Sites((Site("unknown", float(cx.mean()), float(cy.mean()), 1.0),), grid.crs)
    monitor.step(3, 3, "done")
    return CoverageResult(
        grid,
        bands,
        placeholder,
        model.name,
        {
            "measurement_model": model.name,
            "transmitters": "unknown (site-free model)",
            **band_description_tags(bands),
        },
    )
