"""Rasterising GIS layers and site geometry into model tensors on a :class:`Grid`.

Per-site feature channels follow the papers in ``../shared/papers`` (Jaensch et al. and Ozyegen
et al.): transmitter position, grid-anchor coordinates, distance, azimuth relative to boresight,
elevation and the antenna gain projected on the ground. Channel names are stable strings; models
record the order they were trained with.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from radiomap_geo.antenna import get_pattern, relative_angles
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.sites import Site

if TYPE_CHECKING:  # models.base imports this module's users: keep the import cycle-free
    from radiomap_geo.models.base import SceneInputs

#: Scale used to bring metre-valued channels near unit range.
METRES_SCALE = 100.0


def rasterize_buildings(buildings, grid: Grid) -> np.ndarray:
    """Building height above ground (metres, float32) per cell; 0 outside buildings.

    Cells are inside a footprint when their centre is; where footprints overlap the tallest wins.
    """
    from rasterio.features import rasterize

    heights = np.zeros(grid.shape, np.float32)
    if buildings is None or len(buildings) == 0:
        return heights
    frame = buildings.to_crs(grid.crs) if buildings.crs != grid.crs else buildings
    frame = frame.sort_values("height_m")  # later shapes overwrite: tallest last
    shapes = [
        (geom, float(h))
        for geom, h in zip(frame.geometry, frame["height_m"])
        if geom is not None and not geom.is_empty
    ]
    if shapes:
        rasterize(shapes, out=heights, transform=grid.transform, merge_alg=_replace())
    return heights


def _replace():
    from rasterio.enums import MergeAlg

    return MergeAlg.replace


def site_offsets(grid: Grid, site: Site, rx_height_m: float) -> tuple[np.ndarray, ...]:
    """East, north and up offsets (metres) from the site's antenna to every cell's receiver."""
    return _offsets(
        tuple(grid.transform)[:6], grid.shape, site.x, site.y, rx_height_m - site.height_m
    )


@functools.lru_cache(maxsize=4)
def _offsets(transform, shape, x0: float, y0: float, dz: float) -> tuple[np.ndarray, ...]:
    # Several channels of one feature stack need the same offsets and angles: computed once.
    # The cached arrays are read-only so no caller can change another's.
    a, _, c, _, e, f = transform
    cols = c + a * (np.arange(shape[1], dtype=np.float64) + 0.5)
    rows = f + e * (np.arange(shape[0], dtype=np.float64) + 0.5)
    dx = np.broadcast_to(cols[None, :] - x0, shape)
    dy = np.broadcast_to(rows[:, None] - y0, shape)
    out = (dx, dy, np.full(shape, dz))
    for array in out:
        array.flags.writeable = False
    return out


@functools.lru_cache(maxsize=4)
def _angles(transform, shape, site: Site, rx_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    dx, dy, dz = _offsets(transform, shape, site.x, site.y, rx_height_m - site.height_m)
    out = relative_angles(dx, dy, dz, site.azimuth_deg, site.tilt_deg)
    for array in out:
        array.flags.writeable = False
    return out


def site_angles(grid: Grid, site: Site, rx_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical angles (degrees) of every cell from the site's boresight."""
    return _angles(tuple(grid.transform)[:6], grid.shape, site, rx_height_m)


def antenna_gain_map(grid: Grid, site: Site, rx_height_m: float) -> np.ndarray:
    """The site's antenna gain (dBi) towards every cell along the direct ray."""
    pattern = get_pattern(site.antenna)
    if pattern.is_isotropic:
        return np.full(grid.shape, pattern.max_gain_dbi, np.float32)
    horizontal, vertical = site_angles(grid, site, rx_height_m)
    return pattern.gain_dbi(horizontal, vertical).astype(np.float32)


def _tx_channel(scene: SceneInputs, site: Site) -> np.ndarray:
    out = np.zeros(scene.grid.shape, np.float32)
    row, col = scene.grid.rowcol(site.x, site.y)
    if 0 <= row < scene.grid.height and 0 <= col < scene.grid.width:
        out[row, col] = 1.0
    return out


def _tx_height_channel(scene: SceneInputs, site: Site) -> np.ndarray:
    return _tx_channel(scene, site) * (site.height_m / METRES_SCALE)


def _anchor(axis: int) -> Callable[[SceneInputs, Site], np.ndarray]:
    def channel(scene: SceneInputs, site: Site) -> np.ndarray:
        dx, dy, _ = site_offsets(scene.grid, site, scene.rx_height_m)
        return ((dx, dy)[axis] / METRES_SCALE).astype(np.float32)

    return channel


def _distance(scene: SceneInputs, site: Site) -> np.ndarray:
    dx, dy, dz = site_offsets(scene.grid, site, scene.rx_height_m)
    return (np.sqrt(dx**2 + dy**2 + dz**2) / METRES_SCALE).astype(np.float32)


def _log_distance(scene: SceneInputs, site: Site) -> np.ndarray:
    dx, dy, dz = site_offsets(scene.grid, site, scene.rx_height_m)
    return np.log10(np.maximum(np.sqrt(dx**2 + dy**2 + dz**2), 1.0)).astype(np.float32)


def _azimuth(trig: Callable[[np.ndarray], np.ndarray]) -> Callable[[SceneInputs, Site], np.ndarray]:
    def channel(scene: SceneInputs, site: Site) -> np.ndarray:
        horizontal, _ = site_angles(scene.grid, site, scene.rx_height_m)
        return trig(np.radians(horizontal)).astype(np.float32)

    return channel


def _elevation(scene: SceneInputs, site: Site) -> np.ndarray:
    dx, dy, dz = site_offsets(scene.grid, site, scene.rx_height_m)
    return (np.arctan2(dz, np.hypot(dx, dy)) / (np.pi / 2)).astype(np.float32)


def _antenna_gain(scene: SceneInputs, site: Site) -> np.ndarray:
    return antenna_gain_map(scene.grid, site, scene.rx_height_m) / 10.0


def _line_of_sight(scene: SceneInputs, site: Site) -> np.ndarray:
    from radiomap_geo.los import DirectRays, direct_rays

    visible, _, _ = direct_rays(DirectRays.of(scene, site), full=False)
    return visible.astype(np.float32)


def _obstruction_pair(scene: SceneInputs, site: Site) -> tuple[np.ndarray, np.ndarray]:
    from radiomap_geo.los import DirectRays, obstruction

    depth, knife = obstruction(DirectRays.of(scene, site), site.frequency_mhz)
    return (depth / np.float32(METRES_SCALE)).astype(np.float32), (knife / 10.0).astype(np.float32)


def _obstruction(which: int) -> Callable[[SceneInputs, Site], np.ndarray]:
    def channel(scene: SceneInputs, site: Site) -> np.ndarray:
        return _obstruction_pair(scene, site)[which]

    return channel


#: Channels computed together (one ray walk): name -> index in :func:`_obstruction_pair`.
_OBSTRUCTION = {"building_depth": 0, "knife_edge_db": 1}


def _shared_ray_walk(
    scene: SceneInputs, site: Site, channels: Sequence[str]
) -> dict[str, np.ndarray]:
    """Ray-walk channels computed in one walk when a stack needs several of them.

    ``los`` is the walk's "no building crossed" outside buildings: the same samples and test as
    :func:`radiomap_geo.los.line_of_sight`, so the values are identical. ``detour`` starts from
    the cells in line of sight, taken from the walk when there is one.
    """
    wanted = [name for name in channels if name in _OBSTRUCTION or name == "los"]
    shared: dict[str, np.ndarray] = {}
    if len(wanted) >= 2 and any(name in _OBSTRUCTION for name in wanted):
        depth, knife = _obstruction_pair(scene, site)
        los = ((depth == 0) & (scene.building_height <= 0)).astype(np.float32)
        shared = {"building_depth": depth, "knife_edge_db": knife, "los": los}
    if "detour" in channels:  # starts from the cells in line of sight: reuse the walk's
        los = shared["los"] if "los" in shared else _line_of_sight(scene, site)
        shared["detour"] = _detour_from(scene, site, los > 0.5)
    return shared


#: Detours beyond this (and outdoor cells no path reaches) read as this, metres.
DETOUR_CAP_M = 200.0


def _detour_from(scene: SceneInputs, site: Site, los: np.ndarray) -> np.ndarray:
    from radiomap_geo.detour import detour_m

    dx, dy, _ = site_offsets(scene.grid, site, scene.rx_height_m)
    outdoor = ~np.asarray(scene.building_mask, bool)
    metres = detour_m(outdoor, los, np.hypot(dx, dy), scene.grid.resolution, DETOUR_CAP_M)
    return (metres / np.float32(METRES_SCALE)).astype(np.float32)


def _detour(scene: SceneInputs, site: Site) -> np.ndarray:
    return _detour_from(scene, site, _line_of_sight(scene, site) > 0.5)


def _free_space(scene: SceneInputs, site: Site) -> np.ndarray:
    """Free-space path gain (dB) / 100: the physics prior a network refines."""
    dx, dy, dz = site_offsets(scene.grid, site, scene.rx_height_m)
    d = np.maximum(np.sqrt(dx**2 + dy**2 + dz**2), 1.0)
    gain = -20.0 * np.log10(4.0 * np.pi * d * site.frequency_mhz * 1e6 / 299_792_458.0)
    return (gain / METRES_SCALE).astype(np.float32)


def _ortho_band(index: int) -> Callable[[SceneInputs, Site], np.ndarray]:
    def channel(scene: SceneInputs, site: Site) -> np.ndarray:
        if scene.ortho is None or scene.ortho.shape[0] <= index:
            raise InputError(f"this model needs orthophoto band {index + 1}: pass --ortho")
        return scene.ortho[index].astype(np.float32)

    return channel


def _ndsm(scene: SceneInputs, site: Site) -> np.ndarray:
    if scene.ndsm is None:
        raise InputError("this model needs a normalised surface model: pass --ndsm")
    return (scene.ndsm / METRES_SCALE).astype(np.float32)


CHANNELS: dict[str, Callable[[SceneInputs, Site], np.ndarray]] = {
    "building_mask": lambda scene, site: scene.building_mask.astype(np.float32),
    "building_height": lambda scene, site: scene.building_height / np.float32(METRES_SCALE),
    "ndsm": _ndsm,
    "ortho_r": _ortho_band(0),
    "ortho_g": _ortho_band(1),
    "ortho_b": _ortho_band(2),
    "ortho_ir": _ortho_band(3),
    "tx": _tx_channel,
    "tx_height": _tx_height_channel,
    "anchor_x": _anchor(0),
    "anchor_y": _anchor(1),
    "distance": _distance,
    "log_distance": _log_distance,
    "azimuth_cos": _azimuth(np.cos),
    "azimuth_sin": _azimuth(np.sin),
    "elevation": _elevation,
    "antenna_gain": _antenna_gain,
    "los": _line_of_sight,
    "building_depth": _obstruction(0),
    "knife_edge_db": _obstruction(1),
    "free_space_db": _free_space,
    "detour": _detour,
}
"""Every per-cell input channel a model can ask for, by stable name."""

CHANNEL_DESCRIPTIONS: dict[str, str] = {
    "building_mask": "1 inside buildings, 0 outside",
    "building_height": "building height above ground / 100 m (0 outside buildings)",
    "ndsm": "normalised surface model (buildings and vegetation) / 100 m",
    "ortho_r": "orthophoto red, 0..1",
    "ortho_g": "orthophoto green, 0..1",
    "ortho_b": "orthophoto blue, 0..1",
    "ortho_ir": "orthophoto near infrared, 0..1",
    "tx": "1 at the transmitter's cell",
    "tx_height": "antenna height above ground / 100 m at the transmitter's cell",
    "anchor_x": "east offset from the site / 100 m",
    "anchor_y": "north offset from the site / 100 m",
    "distance": "3-D distance antenna to receiver / 100 m",
    "log_distance": "log10 of the 3-D distance (m)",
    "azimuth_cos": "cos of the horizontal angle from boresight",
    "azimuth_sin": "sin of the horizontal angle from boresight",
    "elevation": "elevation angle of the receiver seen from the antenna / 90 degrees",
    "antenna_gain": "antenna gain along the direct ray / 10 dB",
    "los": "1 where the 2.5-D direct ray from the antenna clears every building, else 0",
    "building_depth": "metres of building crossed by the 2.5-D direct ray / 100 m",
    "knife_edge_db": "ITU-R P.526 knife-edge loss of the worst obstacle on the direct ray / 10 dB",
    "free_space_db": "free-space path gain (dB, Friis, 3-D distance) / 100",
    "detour": "metres the shortest outdoor path from a cell the antenna sees exceeds the direct "
    "horizontal distance / 100 m (0 in line of sight; at most 2, also where no path leads)",
}
"""What each channel holds, in the units the network sees (written into model cards)."""


def feature_stack(scene: SceneInputs, site: Site, channels: Sequence[str]) -> np.ndarray:
    """Stack the named channels into a ``(len(channels), rows, cols)`` float32 tensor."""
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InputError(f"unknown input channels {unknown}; known: {sorted(CHANNELS)}")
    shared = _shared_ray_walk(scene, site, channels)
    return np.stack(
        [shared[name] if name in shared else CHANNELS[name](scene, site) for name in channels]
    ).astype(np.float32)
