"""Sionna RT scenes from building footprints: extruded, watertight buildings on flat ground.

The scene lives in the grid's metric CRS shifted to a local origin (the grid centre), so that
float32 coordinates keep millimetre precision over tens of kilometres. Every building is one
closed triangle mesh whose walls, roof and (buried) floor share vertices: Sionna finds
diffraction edges through that shared topology, so duplicated vertices would silently disable
diffraction. Courtyards (polygon holes) become inward-facing walls.

Building bases sit :data:`BASE_DEPTH_M` below the ground plane, so their floors are never seen and
no face is coplanar with the ground.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from radiomap_geo.errors import BuildingsError, DependencyError, InputError
from radiomap_geo.grid import Grid

#: Depth (m) below the ground plane at which building meshes are closed.
BASE_DEPTH_M = 1.0
#: Coordinates are snapped to this grid (m) in the local frame before meshing.
PRECISION_M = 0.01
#: Footprint parts smaller than this (m^2) after clipping are dropped.
MIN_AREA_M2 = 1.0
#: Heights are rounded to this step (m) before touching footprints of equal height are merged.
HEIGHT_STEP_M = 0.1
HEIGHT_COLUMN = "height_m"


@dataclass(frozen=True)
class Materials:
    """ITU radio materials (ITU-R P.2040) for buildings and ground.

    Names may be given as ``"itu_concrete"``, ``"mat-itu_concrete"`` or ``"concrete"``. The slab
    thickness enters Sionna's reflection coefficient; the default ground is thick enough to act as
    a half-space.
    """

    buildings: str = "itu_concrete"
    ground: str = "itu_medium_dry_ground"
    building_thickness_m: float = 0.3
    ground_thickness_m: float = 10.0

    def __post_init__(self) -> None:
        for name in ("building_thickness_m", "ground_thickness_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"materials {name} must be a positive number of metres: {value!r}")

    @classmethod
    def coerce(cls, value: Materials | Mapping[str, Any] | None) -> Materials:
        """Accept ``None`` (defaults), a :class:`Materials` or a dict of its fields."""
        if value is None:
            return cls()
        if isinstance(value, Materials):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                raise InputError(
                    f"unknown materials key(s) {unknown}: use buildings, ground, "
                    "building_thickness_m, ground_thickness_m"
                )
            return cls(**value)
        raise InputError(f"materials must be a dict or Materials, got {type(value).__name__}")

    @property
    def building_type(self) -> str:
        """The ITU material type of buildings (``"concrete"``)."""
        return itu_type(self.buildings)

    @property
    def ground_type(self) -> str:
        """The ITU material type of the ground (``"medium_dry_ground"``)."""
        return itu_type(self.ground)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for metadata)."""
        return {
            "buildings": f"itu_{self.building_type}",
            "ground": f"itu_{self.ground_type}",
            "building_thickness_m": self.building_thickness_m,
            "ground_thickness_m": self.ground_thickness_m,
        }


def itu_type(name: str) -> str:
    """Strip ``mat-`` and ``itu_`` prefixes: ``"mat-itu_concrete"`` -> ``"concrete"``."""
    key = name.strip().lower()
    for prefix in ("mat-", "itu_", "itu-"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def check_material(name: str, frequency_hz: float) -> None:
    """Raise :class:`InputError` if ``name`` is no ITU material or undefined at the frequency."""
    from radiomap_geo.rt.llvm import import_sionna_rt

    import_sionna_rt()
    from sionna.rt.radio_materials.itu import ITU_MATERIALS_PROPERTIES

    kind = itu_type(name)
    if kind not in ITU_MATERIALS_PROPERTIES:
        known = ", ".join(f"itu_{k}" for k in ITU_MATERIALS_PROPERTIES if k != "vacuum")
        raise InputError(f"unknown ITU radio material {name!r}; known: {known}")
    ranges = list(ITU_MATERIALS_PROPERTIES[kind])
    f_ghz = frequency_hz / 1e9
    if not any(lo <= f_ghz <= hi for lo, hi in ranges):
        spans = ", ".join(f"{lo:g}-{hi:g} GHz" for lo, hi in ranges)
        raise InputError(
            f"ITU material itu_{kind} is defined for {spans} only, not {f_ghz:g} GHz: "
            "choose another material (materials={'ground': ...}) or frequency"
        )


@dataclass(frozen=True)
class TriMesh:
    """A triangle mesh: ``vertices`` ``(n, 3)`` float64 and ``faces`` ``(m, 3)`` int64 indices."""

    vertices: np.ndarray
    faces: np.ndarray

    @classmethod
    def empty(cls) -> TriMesh:
        """A mesh with no vertices and no faces."""
        return cls(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))

    @classmethod
    def concat(cls, meshes: list[TriMesh]) -> TriMesh:
        """One mesh holding all ``meshes`` (their vertices are not merged)."""
        if not meshes:
            return cls.empty()
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        vertices = np.concatenate([m.vertices for m in meshes])
        faces = np.concatenate([m.faces + off for m, off in zip(meshes, offsets)])
        return cls(vertices, faces)

    def edge_counts(self) -> np.ndarray:
        """How many faces use each distinct undirected edge."""
        if len(self.faces) == 0:
            return np.zeros(0, dtype=np.int64)
        f = self.faces
        edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        _, counts = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
        return counts

    def is_watertight(self) -> bool:
        """True when every edge is shared by exactly two faces, traversed in opposite directions."""
        if len(self.faces) == 0:
            return False
        f = self.faces
        directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        _, dcounts = np.unique(directed, axis=0, return_counts=True)
        return bool(np.all(self.edge_counts() == 2) and np.all(dcounts == 1))

    def signed_volume(self) -> float:
        """Enclosed volume (m^3); positive when the face normals point outwards."""
        v = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)

    def face_normals(self) -> np.ndarray:
        """Unit normals ``(m, 3)`` following the right-hand rule on the vertex order."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.linalg.norm(n, axis=1, keepdims=True)


@dataclass(frozen=True)
class Footprint:
    """A building footprint in the local scene frame with its height above ground."""

    polygon: Polygon
    height_m: float


@dataclass
class RTScene:
    """A loaded Sionna scene plus what is needed to map it back onto the grid."""

    scene: Any
    grid: Grid
    origin: tuple[float, float]
    footprints: list[Footprint]
    buildings_mesh: TriMesh
    ground_mesh: TriMesh
    materials: Materials
    extent: tuple[float, float, float, float]
    dropped_buildings: int = 0

    def to_local(self, x: float, y: float) -> tuple[float, float]:
        """Grid-CRS coordinates to the local scene frame."""
        return float(x - self.origin[0]), float(y - self.origin[1])

    def building_at(self, x: float, y: float) -> Footprint | None:
        """The footprint containing grid-CRS point ``(x, y)``, if any."""
        point = shapely.Point(*self.to_local(x, y))
        return next((f for f in self.footprints if f.polygon.covers(point)), None)

    def building_mask(self) -> np.ndarray:
        """``grid.shape`` bool array, True where a cell centre lies inside a building."""
        return building_mask(self.grid, self.footprints, self.origin)


# -- footprints -------------------------------------------------------------------------------


def scene_origin(grid: Grid) -> tuple[float, float]:
    """The local origin of a grid's scene: its centre, in the grid CRS."""
    minx, miny, maxx, maxy = grid.bounds
    return ((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def _polygons(geom: BaseGeometry | None) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon) or hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _clean(geom: BaseGeometry) -> list[Polygon]:
    """Snap to :data:`PRECISION_M`, drop collinear vertices and slivers, orient rings."""
    snapped = shapely.set_precision(shapely.make_valid(geom), PRECISION_M)
    parts = []
    for poly in _polygons(snapped):
        poly = poly.simplify(0.0)
        for part in _polygons(shapely.set_precision(poly, PRECISION_M)):
            if part.area >= MIN_AREA_M2:
                parts.append(shapely.orient_polygons(part))
    return parts


def _read_heights(buildings: Any) -> tuple[list[BaseGeometry], np.ndarray]:
    columns = {str(c).lower(): c for c in buildings.columns}
    if HEIGHT_COLUMN not in columns:
        raise BuildingsError(
            f"buildings need a {HEIGHT_COLUMN!r} column (height above ground in metres); "
            f"found {list(buildings.columns)}"
        )
    try:
        heights = np.asarray(buildings[columns[HEIGHT_COLUMN]], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BuildingsError(f"building {HEIGHT_COLUMN} values must be numbers: {exc}") from exc
    return list(buildings.geometry), heights


def _remove_overlaps(polys: list[Polygon], heights: np.ndarray) -> list[Footprint]:
    """Give every overlapping area to the tallest building covering it."""
    order = np.argsort(-heights, kind="stable")
    polys = [polys[i] for i in order]
    heights = heights[order]
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    taller: dict[int, list[int]] = {}
    for i, j in zip(left.tolist(), right.tolist()):
        if j < i:  # sorted by height: j is at least as tall as i
            taller.setdefault(i, []).append(j)
    out = []
    for i, poly in enumerate(polys):
        if i in taller:
            poly = poly.difference(shapely.union_all([polys[j] for j in taller[i]]))
        out.extend(Footprint(p, float(heights[i])) for p in _clean(poly))
    return out


def _merge_equal_heights(footprints: list[Footprint]) -> list[Footprint]:
    """Union touching footprints of the same (rounded) height into one building."""
    groups: dict[float, list[Polygon]] = {}
    for fp in footprints:
        key = round(round(fp.height_m / HEIGHT_STEP_M) * HEIGHT_STEP_M, 6)
        groups.setdefault(key, []).append(fp.polygon)
    merged = []
    for height, polys in sorted(groups.items(), reverse=True):
        union = polys[0] if len(polys) == 1 else shapely.union_all(polys)
        merged.extend(Footprint(p, height) for p in _clean(union))
    return merged


def prepare_footprints(
    buildings: Any,
    grid: Grid,
    origin: tuple[float, float],
    margin_m: float = 100.0,
) -> tuple[list[Footprint], int]:
    """Clip, clean and de-overlap building footprints into the local scene frame.

    Args:
        buildings: GeoDataFrame of (Multi)Polygons with a ``height_m`` column, or ``None``.
        grid: The working grid; footprints are reprojected into its CRS.
        origin: Local origin in the grid CRS (see :func:`scene_origin`).
        margin_m: Buildings are kept up to this distance outside the grid bounds.

    Returns:
        The footprints (non-overlapping, in local coordinates) and the number of input rows
        dropped for a missing or non-positive height.
    """
    if buildings is None or len(buildings) == 0:
        return [], 0
    if getattr(buildings, "crs", None) is None:
        raise BuildingsError("buildings have no CRS: save them with one (e.g. EPSG:4326)")
    if buildings.crs != grid.crs:
        buildings = buildings.to_crs(grid.crs)
    geoms, heights = _read_heights(buildings)
    minx, miny, maxx, maxy = grid.bounds
    ox, oy = origin
    clip = box(
        minx - margin_m - ox, miny - margin_m - oy, maxx + margin_m - ox, maxy + margin_m - oy
    )
    good = np.isfinite(heights) & (heights > 0)
    polys, kept = [], []
    for geom, height, ok in zip(geoms, heights, good):
        if not ok or geom is None or geom.is_empty:
            continue
        local = shapely.transform(shapely.make_valid(geom), lambda xy: xy - (ox, oy))
        for part in _clean(local.intersection(clip)):
            polys.append(part)
            kept.append(height)
    if not polys:
        return [], int((~good).sum())
    footprints = _remove_overlaps(polys, np.asarray(kept))
    return _merge_equal_heights(footprints), int((~good).sum())


def building_mask(
    grid: Grid, footprints: list[Footprint], origin: tuple[float, float]
) -> np.ndarray:
    """Cells of ``grid`` whose centre lies inside a (local-frame) footprint."""
    if not footprints:
        return np.zeros(grid.shape, dtype=bool)
    from rasterio.features import rasterize

    local = Affine.translation(-origin[0], -origin[1]) @ grid.transform
    burned = rasterize(
        ((fp.polygon, 1) for fp in footprints),
        out_shape=grid.shape,
        transform=local,
        fill=0,
        dtype="uint8",
    )
    return burned.astype(bool)


# -- meshes -----------------------------------------------------------------------------------


def _triangulate(polygon: Polygon, index: dict[tuple[float, float], int]) -> np.ndarray:
    """Counter-clockwise triangles (vertex indices) covering ``polygon``, Steiner-point free."""
    if not hasattr(shapely, "constrained_delaunay_triangles"):
        raise DependencyError(
            "building roofs need shapely>=2.1 (constrained_delaunay_triangles): "
            "pip install 'shapely>=2.1'"
        )
    tris = []
    for tri in shapely.constrained_delaunay_triangles(polygon).geoms:
        coords = tri.exterior.coords[:3]
        try:
            ids = [index[(float(x), float(y))] for x, y in coords]
        except KeyError as exc:
            raise BuildingsError(
                f"roof triangulation added a vertex {exc} not on the footprint"
            ) from exc
        a, b, c = (np.asarray(p) for p in coords)
        cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if cross == 0:
            continue
        tris.append(ids if cross > 0 else ids[::-1])
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def extrude_footprint(polygon: Polygon, height_m: float, base_m: float = -BASE_DEPTH_M) -> TriMesh:
    """A closed prism over ``polygon`` from ``base_m`` to ``height_m`` with outward normals.

    Top ring vertices are shared by roof and walls, bottom ring vertices by floor and walls.

    Args:
        polygon: Footprint with the exterior counter-clockwise and holes clockwise.
        height_m: Roof height above the ground plane (z = 0).
        base_m: z of the floor (below ground).
    """
    polygon = shapely.orient_polygons(polygon)
    rings = [polygon.exterior, *polygon.interiors]
    xy = np.concatenate([np.asarray(r.coords)[:-1, :2] for r in rings])
    index: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(xy):
        index.setdefault((float(x), float(y)), i)
    remap = np.array([index[(float(x), float(y))] for x, y in xy])
    n = len(xy)
    roof = _triangulate(polygon, index)
    walls = []
    start = 0
    for ring in rings:
        m = len(ring.coords) - 1
        a = remap[start + np.arange(m)]
        b = remap[start + (np.arange(m) + 1) % m]
        # bottom vertices are i + n, top vertices are i (walls face right of a -> b: outwards)
        walls.append(np.stack([a + n, b + n, b], axis=1))
        walls.append(np.stack([a + n, b, a], axis=1))
        start += m
    floor = roof[:, ::-1] + n
    faces = np.concatenate([roof, floor, *walls])
    top = np.column_stack([xy, np.full(n, float(height_m))])
    bottom = np.column_stack([xy, np.full(n, float(base_m))])
    return TriMesh(np.concatenate([top, bottom]), faces)


def ground_mesh(extent: tuple[float, float, float, float]) -> TriMesh:
    """A flat rectangle at z = 0 with its normal pointing up, in local coordinates."""
    minx, miny, maxx, maxy = extent
    vertices = np.array(
        [[minx, miny, 0.0], [maxx, miny, 0.0], [maxx, maxy, 0.0], [minx, maxy, 0.0]]
    )
    return TriMesh(vertices, np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64))


def write_ply(path: Path, mesh: TriMesh) -> None:
    """Write ``mesh`` as a binary little-endian PLY (float32 vertices, int32 faces)."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(mesh.vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(mesh.faces)}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    faces = np.zeros(len(mesh.faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    faces["n"] = 3
    faces["idx"] = mesh.faces
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.ascontiguousarray(mesh.vertices, dtype="<f4").tobytes())
        fh.write(faces.tobytes())


def scene_xml(materials: Materials, shapes: dict[str, tuple[str, str]]) -> str:
    """Mitsuba scene XML with the two ITU materials and PLY shapes.

    Args:
        materials: The building and ground materials (ids ``rm-buildings``, ``rm-ground``).
        shapes: Shape id -> (PLY file name, ``"buildings"`` or ``"ground"``).
    """
    mats = {
        "buildings": (materials.building_type, materials.building_thickness_m),
        "ground": (materials.ground_type, materials.ground_thickness_m),
    }
    lines = ['<scene version="2.1.0">']
    for key, (kind, thickness) in mats.items():
        lines += [
            f'  <bsdf type="itu-radio-material" id="rm-{key}">',
            f'    <string name="type" value="{kind}"/>',
            f'    <float name="thickness" value="{float(thickness)!r}"/>',
            "  </bsdf>",
        ]
    for shape_id, (filename, material) in shapes.items():
        lines += [
            f'  <shape type="ply" id="{shape_id}">',
            f'    <string name="filename" value="{filename}"/>',
            '    <boolean name="face_normals" value="true"/>',
            f'    <ref id="rm-{material}" name="bsdf"/>',
            "  </shape>",
        ]
    lines.append("</scene>")
    return "\n".join(lines) + "\n"


def _load(rt: Any, buildings: TriMesh, ground: TriMesh, materials: Materials) -> Any:
    with tempfile.TemporaryDirectory(prefix="radiomap-rt-") as tmp:
        folder = Path(tmp)
        shapes = {"ground": ("ground.ply", "ground")}
        write_ply(folder / "ground.ply", ground)
        if len(buildings.faces):
            write_ply(folder / "buildings.ply", buildings)
            shapes["buildings"] = ("buildings.ply", "buildings")
        (folder / "scene.xml").write_text(scene_xml(materials, shapes))
        try:
            return rt.load_scene(str(folder / "scene.xml"), merge_shapes=False)
        except ValueError as exc:  # unknown material type, frequency out of range...
            raise InputError(f"Sionna RT refused the scene: {exc}") from exc


def _extrude_all(footprints: list[Footprint]) -> tuple[list[Footprint], TriMesh]:
    """Extrude every footprint; one that cannot be meshed is dropped with a warning."""
    kept, meshes, failed = [], [], []
    for fp in footprints:
        try:
            mesh = extrude_footprint(fp.polygon, fp.height_m)
        except (BuildingsError, ValueError, GEOSException) as exc:
            failed.append(f"{fp.polygon.centroid.coords[0]}: {exc}")
            continue
        kept.append(fp)
        meshes.append(mesh)
    if failed:
        warnings.warn(
            f"{len(failed)} building(s) could not be meshed and were left out: {failed[:3]}",
            stacklevel=3,
        )
    return kept, TriMesh.concat(meshes)


def build_scene(
    grid: Grid,
    buildings: Any = None,
    *,
    margin_m: float = 100.0,
    materials: Materials | Mapping[str, Any] | None = None,
    frequency_hz: float = 3.5e9,
) -> RTScene:
    """Build and load the Sionna scene of ``grid``'s area.

    Args:
        grid: The working grid; the scene covers its bounds plus ``margin_m``.
        buildings: GeoDataFrame of footprints with ``height_m``; ``None`` for bare ground.
        margin_m: Extra area (m) around the grid with buildings and ground.
        materials: ITU materials (see :class:`Materials`).
        frequency_hz: Carrier frequency the materials are checked and evaluated for.

    Returns:
        The loaded scene and its georeferencing.
    """
    from radiomap_geo.rt.llvm import import_sionna_rt

    rt = import_sionna_rt()
    mats = Materials.coerce(materials)
    for name in (mats.buildings, mats.ground):
        check_material(name, frequency_hz)
    if not (math.isfinite(margin_m) and margin_m >= 0):
        raise InputError(f"margin_m must be a non-negative number of metres, got {margin_m}")
    origin = scene_origin(grid)
    footprints, dropped = prepare_footprints(buildings, grid, origin, margin_m)
    if dropped:
        warnings.warn(
            f"{dropped} building(s) without a positive {HEIGHT_COLUMN} were left out of the scene",
            stacklevel=2,
        )
    minx, miny, maxx, maxy = grid.bounds
    ox, oy = origin
    extent = (minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)
    local_extent = (
        extent[0] - ox - 1.0,
        extent[1] - oy - 1.0,
        extent[2] - ox + 1.0,
        extent[3] - oy + 1.0,
    )
    footprints, bmesh = _extrude_all(footprints)
    gmesh = ground_mesh(local_extent)
    scene = _load(rt, bmesh, gmesh, mats)
    scene.frequency = float(frequency_hz)
    return RTScene(scene, grid, origin, footprints, bmesh, gmesh, mats, extent, dropped)


__all__ = [
    "BASE_DEPTH_M",
    "Footprint",
    "Materials",
    "RTScene",
    "TriMesh",
    "build_scene",
    "building_mask",
    "check_material",
    "extrude_footprint",
    "ground_mesh",
    "prepare_footprints",
    "scene_origin",
    "scene_xml",
    "write_ply",
]
