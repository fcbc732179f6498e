"""Ray-traced coverage maps with Sionna RT's :class:`RadioMapSolver`, cell by cell on the grid.

The radio map of every site is solved over a measurement plane at ``rx_height_m`` whose centre,
size and cell size equal the grid's, so the result shares the grid cell by cell with the other
models. Per-site path gains are folded into the standard coverage bands by
:class:`~radiomap_geo.coverage.CoverageAccumulator`, plus a ``validity`` band.

Conventions bridged here (checked by the tests):

* Sionna's radio-map rows run south to north (row 0 holds the smallest y); grid rows run north
  to south, so rows are flipped.
* Sionna orients a device by (yaw, pitch, roll) with the boresight along local +x, yaw
  counter-clockwise from +x (east). A site's azimuth is clockwise from north, so
  ``yaw = radians(90 - azimuth_deg)``. A positive pitch turns +x downwards, so
  ``pitch = radians(tilt_deg)`` for a down-tilt.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from radiomap_geo.antenna import AntennaPattern, get_pattern
from radiomap_geo.coverage import CoverageAccumulator, CoverageResult, noise_power_dbm
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.options import RunOptions, run_options
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.rt.llvm import backend_info, import_sionna_rt
from radiomap_geo.rt.scene import Materials, RTScene, build_scene, check_material
from radiomap_geo.sites import Site, Sites

MODEL_NAME = "sionna-rt"
VALIDITY_BAND = "validity"
TX_NAME = "radiomap-tx"
BUILTIN_PATTERNS = {"iso": "iso", "isotropic": "iso", "omni": "iso"}
SECTOR_PATTERNS = {"tr38901", "3gpp", "sector"}
#: Most rays per transmitter a run may launch (memory grows with it).
MAX_SAMPLES = 1e9
#: Most interactions (reflections, diffractions) per path a run may ask for (the command line
#: and the QGIS algorithm share it). Sionna RT sets no upper limit, but the cost grows with every
#: order; the dataset was traced at depth 3-5, so 10 leaves room to check convergence.
MAX_DEPTH = 10
#: The cell size (m) the front ends default to (``radiomap-geo simulate --resolution``, the QGIS
#: ray-trace algorithm's): the dataset's, where 3e6 rays per site keep LOS noise below 1 dB.
RESOLUTION_M = 2.0
#: Least vertical distance between a transmitter and the receiver plane (see _check_heights).
MIN_PLANE_CLEARANCE_M = 0.1


def sionna_orientation(azimuth_deg: float, tilt_deg: float) -> tuple[float, float, float]:
    """Sionna (yaw, pitch, roll) in radians for a GIS azimuth (clockwise from north) and down-tilt.

    Args:
        azimuth_deg: Boresight bearing, degrees clockwise from north.
        tilt_deg: Down-tilt, degrees, positive below the horizon.
    """
    yaw = math.radians((90.0 - azimuth_deg + 180.0) % 360.0 - 180.0)
    return (yaw, math.radians(tilt_deg), 0.0)


def _pattern_kind(spec: str) -> str:
    key = (spec or "iso").strip().lower()
    if key in BUILTIN_PATTERNS:
        return "iso"
    if key in SECTOR_PATTERNS:
        return "tr38901"
    return "file"


def _cut_lookup(cut: tuple[Any, Any], degrees: Any) -> Any:
    """Linear interpolation in a 360-entry cut indexed by whole degrees (angles mod 360).

    ``cut`` holds two Dr.Jit arrays, the cut and the cut shifted by one degree (see
    :func:`_cut_tables`), so a lookup is two gathers at the same index.
    """
    import drjit as dr
    import mitsuba as mi

    low_table, high_table = cut
    angle = degrees - dr.floor(degrees / 360.0) * 360.0
    # Round-off may leave the angle a hair outside [0, 360): clamp before the integer cast.
    angle = dr.clip(angle, 0.0, 359.999)
    whole = dr.floor(angle)
    index = mi.UInt32(whole)
    low = dr.gather(mi.Float, low_table, index)
    high = dr.gather(mi.Float, high_table, index)
    return low + (angle - whole) * (high - low)


def _cut_tables(cut: np.ndarray) -> tuple[Any, Any]:
    import mitsuba as mi

    values = np.asarray(cut, dtype=np.float32)
    return mi.Float(values), mi.Float(np.roll(values, -1))


def pattern_function(pattern: AntennaPattern) -> Callable[[Any, Any], Any]:
    """A Sionna vertically polarised pattern function ``(theta, phi) -> Complex2f`` from cuts.

    Follows :meth:`AntennaPattern.gain_dbi`: the horizontal angle is clockwise of boresight
    (Sionna's local azimuth ``phi`` is counter-clockwise, so ``-phi``), the vertical angle is
    positive below boresight (``theta - 90`` degrees, ``theta`` being the local zenith angle).
    """
    import drjit as dr
    import mitsuba as mi

    h_table = _cut_tables(pattern.horizontal_db)
    v_table = _cut_tables(pattern.vertical_db)
    peak, floor = float(pattern.max_gain_dbi), float(pattern.max_attenuation_db)

    def v_pattern(theta: Any, phi: Any) -> Any:
        deg = 180.0 / math.pi
        h = _cut_lookup(h_table, -phi * deg)
        v = _cut_lookup(v_table, theta * deg - 90.0)
        gain_db = peak - dr.minimum(h + v, floor)
        return mi.Complex2f(dr.sqrt(dr.power(10.0, gain_db / 10.0)), 0.0)

    return v_pattern


def antenna_array(spec: str) -> Any:
    """The single-element, vertically polarised Sionna antenna array of a site's ``antenna``.

    ``iso`` and ``tr38901`` use Sionna's built-in patterns; an MSI/Planet file becomes a custom
    pattern with the same cuts and summation rule as :mod:`radiomap_geo.antenna`.
    """
    rt = import_sionna_rt()
    kind = _pattern_kind(spec)
    if kind != "file":
        return rt.PlanarArray(num_rows=1, num_cols=1, pattern=kind, polarization="V")
    import mitsuba as mi

    pattern = get_pattern(spec)  # InputError for a bad file
    custom = rt.PolarizedAntennaPattern(v_pattern=pattern_function(pattern), polarization="V")
    return rt.AntennaArray(custom, mi.Point3f(0.0, 0.0, 0.0))


def _place_transmitter(rts: RTScene, site: Site) -> None:
    rt = import_sionna_rt()
    import mitsuba as mi

    scene = rts.scene
    if TX_NAME in scene.transmitters:
        scene.remove(TX_NAME)
    frequency_hz = site.frequency_mhz * 1e6
    if abs(float(scene.frequency[0]) - frequency_hz) > 1e-6 * frequency_hz:
        scene.frequency = frequency_hz
    scene.tx_array = antenna_array(site.antenna)
    x, y = rts.to_local(site.x, site.y)
    yaw, pitch, roll = sionna_orientation(site.azimuth_deg, site.tilt_deg)
    tx = rt.Transmitter(
        name=TX_NAME,
        position=mi.Point3f(x, y, float(site.height_m)),
        orientation=mi.Point3f(yaw, pitch, roll),
        power_dbm=float(site.power_dbm),
    )
    scene.add(tx)


def solve_site(
    rts: RTScene,
    solver: Any,
    site: Site,
    *,
    rx_height_m: float,
    samples_per_tx: int,
    max_depth: int,
    diffraction: bool,
    refraction: bool,
    seed: int,
) -> np.ndarray:
    """Linear path gain of one site on ``rts.grid`` (north-up rows; 0 where no ray arrived)."""
    import mitsuba as mi

    _place_transmitter(rts, site)
    grid = rts.grid
    res = grid.resolution
    # A quarter cell less than the grid: Sionna rounds the size up to whole cells, so float32
    # round-off can never add a column, and the plane stays centred on the grid.
    size = mi.Point2f((grid.width - 0.25) * res, (grid.height - 0.25) * res)
    radio_map = solver(
        rts.scene,
        center=mi.Point3f(0.0, 0.0, float(rx_height_m)),
        orientation=mi.Point3f(0.0, 0.0, 0.0),
        size=size,
        cell_size=mi.Point2f(res, res),
        samples_per_tx=int(samples_per_tx),
        max_depth=int(max_depth),
        los=True,
        specular_reflection=True,
        diffuse_reflection=False,
        refraction=bool(refraction),
        diffraction=bool(diffraction),
        seed=int(seed),
    )
    gain = np.asarray(radio_map.path_gain.numpy(), dtype=np.float64)[0]
    if gain.shape != grid.shape:
        raise RuntimeError(f"Sionna returned a {gain.shape} radio map for a {grid.shape} grid")
    return np.flipud(gain)


def gain_to_db(gain: np.ndarray) -> np.ndarray:
    """Linear path gain to dB; cells without any ray (gain 0) become NaN."""
    with np.errstate(divide="ignore"):
        return np.where(gain > 0, 10.0 * np.log10(np.maximum(gain, 1e-300)), np.nan)


def _check_arguments(samples_per_tx: float, max_depth: int, seed: int) -> None:
    if (
        isinstance(samples_per_tx, bool)
        or not isinstance(samples_per_tx, (int, float))
        or not math.isfinite(samples_per_tx)
        or int(samples_per_tx) != samples_per_tx
    ):
        raise InputError(
            f"the rays per transmitter must be a whole number, got {samples_per_tx!r}",
            parameter="samples",
        )
    if not 1 <= samples_per_tx <= MAX_SAMPLES:
        raise InputError(
            f"the rays per transmitter must be between 1 and {MAX_SAMPLES:.0e}, got "
            f"{samples_per_tx:g}",
            parameter="samples",
        )
    if (
        isinstance(max_depth, bool)
        or int(max_depth) != max_depth
        or not 0 <= max_depth <= MAX_DEPTH
    ):
        raise InputError(
            f"max_depth must be a whole number from 0 to {MAX_DEPTH}, got {max_depth!r}",
            parameter="max_depth",
        )
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}", parameter="seed")


def _check_heights(sites: Sites, rx_height_m: float) -> None:
    """Refuse antennas in the measurement plane: their direct rays run inside it, never across.

    Measured (``benchmarks/bench_rt_edges.py``, ``benchmarks/results/rt_edges.md``): on open
    ground an antenna exactly at the receiver height comes out 12.4 dB (10-30 m), 6.0 dB and
    4.6 dB (further rings) below the two-ray model; from 0.1 m above the receivers on, the
    tracer matches it within 0.05 dB. Closer than :data:`MIN_PLANE_CLEARANCE_M` is refused.
    """
    close = [s.site_id for s in sites if abs(s.height_m - rx_height_m) < MIN_PLANE_CLEARANCE_M]
    if close:
        raise InputError(
            f"site(s) {close[:10]} have their antenna within {MIN_PLANE_CLEARANCE_M:g} m of the "
            f"receiver height {rx_height_m:g} m: the ray tracer measures on a plane at that "
            "height and loses the direct path of an antenna lying in it (12 dB too low nearby). "
            f"Move the antenna at least {MIN_PLANE_CLEARANCE_M:g} m above or below the receivers",
            parameter="rx_height_m",
        )


@contextmanager
def _threads(reproducible: bool) -> Iterator[None]:
    """One Dr.Jit CPU thread while tracing when ``reproducible``, the previous count after.

    Several threads add ray contributions to the map in whatever order they finish, so float
    sums, and rays at the edge of a cell, differ between runs with the same seed. Measured
    (``benchmarks/results/rt_edges.md`` vs ``rt_seed_1thread.md``): all threads, 4.3 % of the
    cells differ by more than 1 dB; one thread, none differ.
    """
    if not reproducible:
        yield
        return
    import drjit as dr

    before = dr.thread_count()
    dr.set_thread_count(1)
    try:
        yield
    finally:
        dr.set_thread_count(before)


def _check_sites(rts: RTScene, sites: Sites) -> list[str]:
    """Validate antennas and materials per site; return ids of sites inside a building."""
    inside = []
    for site in sites:
        if _pattern_kind(site.antenna) == "file":
            get_pattern(site.antenna)
        for name in (rts.materials.buildings, rts.materials.ground):
            check_material(name, site.frequency_mhz * 1e6)
        building = rts.building_at(site.x, site.y)
        if building is not None and site.height_m <= building.height_m:
            inside.append(site.site_id)
    if inside:
        warnings.warn(
            f"site(s) {inside} have their antenna inside a building (height_m at or below the "
            "roof): their rays cannot leave it. height_m is the height above ground",
            stacklevel=3,
        )
    return inside


def simulate_coverage(
    grid: Grid,
    sites: Sites,
    buildings: Any = None,
    *,
    samples_per_tx: int = 3_000_000,
    max_depth: int = 3,
    diffraction: bool = True,
    refraction: bool = False,
    seed: int = 0,
    materials: Materials | Mapping[str, Any] | None = None,
    margin_m: float = 100.0,
    reproducible: bool = False,
    options: RunOptions | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    **settings: Any,
) -> CoverageResult:
    """Ray-trace the coverage of ``sites`` over ``grid`` with Sionna RT.

    Args:
        grid: The working grid (metric CRS); the radio map matches it cell by cell.
        sites: Transmitters; reprojected into the grid CRS and required to lie inside it.
        buildings: GeoDataFrame of footprints with ``height_m`` (any CRS), or ``None``.
        samples_per_tx: Rays shot per transmitter.
        max_depth: Maximum number of interactions (reflections, diffractions) per path.
        diffraction: Include wedge diffraction.
        refraction: Include transmission through walls (indoor cells stay masked either way).
        seed: Ray-sampling seed (the same for every site).
        materials: ITU radio materials (see :class:`~radiomap_geo.rt.scene.Materials`).
        margin_m: Buildings and ground are modelled this far outside the grid.
        reproducible: Trace on one CPU thread so that a fixed ``seed`` gives bit-identical maps
            (slower; without it, two runs with one seed differ in a few per cent of the cells).
        options: The run's settings (:class:`~radiomap_geo.options.RunOptions`): the receiver
            height (the height of the measurement plane), ``per_site``, the bandwidth, noise
            figure and RSRP numerology.
        **settings: Fields of :class:`~radiomap_geo.options.RunOptions` overriding ``options``.
        progress: ``progress(done, total, message)`` callback.
        is_cancelled: ``is_cancelled()`` callback, polled before each site.

    Returns:
        The coverage bands of :mod:`radiomap_geo.coverage` plus ``validity`` (1 = ray-traced
        value, 0 = no ray reached the cell, NaN inside buildings).

    Raises:
        DependencyError: Sionna RT or its backend (libLLVM 19 / CUDA) is missing.
        SitesError: A site lies outside the grid.
        InputError: Bad arguments, materials undefined at a site's frequency, bad antenna file.
        Cancelled: ``is_cancelled()`` returned True.
    """
    options = run_options(options, **settings)
    _check_arguments(samples_per_tx, max_depth, seed)
    trace = {
        "rx_height_m": float(options.rx_height_m),
        "samples_per_tx": int(samples_per_tx),
        "max_depth": int(max_depth),
        "diffraction": bool(diffraction),
        "refraction": bool(refraction),
        "seed": int(seed),
    }
    monitor = as_monitor(progress, is_cancelled)
    sites = sites.to_crs(grid.crs)
    sites.require_inside(grid)
    _check_heights(sites, options.rx_height_m)
    total = len(sites)
    monitor.step(0, total, "building the ray-tracing scene")
    rt = import_sionna_rt()
    rts = build_scene(
        grid,
        buildings,
        margin_m=margin_m,
        materials=materials,
        frequency_hz=sites[0].frequency_mhz * 1e6,
    )
    inside = _check_sites(rts, sites)
    indoor = rts.building_mask()
    noise = noise_power_dbm(options.bandwidth_mhz, options.noise_figure_db)
    acc = CoverageAccumulator(
        grid.shape, noise, options.rsrp_offset_db, keep_per_site=options.per_site, keep_field=True
    )
    solver = rt.RadioMapSolver()
    seconds = []
    for i, site in enumerate(sites):
        monitor.step(i, total, f"ray tracing site {site.site_id} ({i + 1}/{total})")
        start = time.perf_counter()
        with _threads(reproducible):
            gain_db = gain_to_db(solve_site(rts, solver, site, **trace))
        seconds.append(round(time.perf_counter() - start, 3))
        gain_db[indoor] = np.nan
        acc.add(i, site.site_id, site.power_dbm, gain_db, frequency_mhz=site.frequency_mhz)
    monitor.step(total, total, "ray tracing done")
    bands = acc.bands(invalid=indoor)
    reached = (acc.best_index > 0).astype(np.float32)
    bands[VALIDITY_BAND] = np.where(indoor, np.float32(np.nan), reached).astype(np.float32)
    metadata = {
        **backend_info(),
        **trace,
        "bandwidth_mhz": float(options.bandwidth_mhz),
        "noise_figure_db": float(options.noise_figure_db),
        "noise_dbm": float(noise),
        "technology": options.technology,
        "subcarrier_spacing_khz": options.subcarrier_spacing,
        "rsrp_offset_db": round(options.rsrp_offset_db, 4),
        **_scene_metadata(rts),
        "sites_inside_buildings": inside,
        "reproducible": bool(reproducible),
        "rt_seconds_per_site": seconds,
        "validity_band": "1 = ray-traced value, 0 = no ray reached, NaN = inside a building",
    }
    return CoverageResult(grid=grid, bands=bands, sites=sites, model=MODEL_NAME, metadata=metadata)


def _scene_metadata(rts: RTScene) -> dict[str, Any]:
    minx, miny, maxx, maxy = rts.extent
    return {
        "materials": rts.materials.to_dict(),
        "scene_origin": [float(v) for v in rts.origin],
        "scene_margin_m": float(rts.grid.bounds[0] - minx),
        "scene_buildings": len(rts.footprints),
        "scene_triangles": int(len(rts.buildings_mesh.faces)),
        "scene_buildings_without_height": int(rts.dropped_buildings),
    }


__all__ = [
    "MODEL_NAME",
    "VALIDITY_BAND",
    "antenna_array",
    "gain_to_db",
    "pattern_function",
    "simulate_coverage",
    "sionna_orientation",
    "solve_site",
]
