"""Scene building: watertight extruded buildings, courtyards, clipping, georeferencing."""

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from shapely.geometry import MultiPolygon, Point, Polygon, box

from radiomap_geo.errors import BuildingsError, InputError
from radiomap_geo.grid import Grid
from radiomap_geo.rt.scene import (
    BASE_DEPTH_M,
    Materials,
    TriMesh,
    build_scene,
    extrude_footprint,
    prepare_footprints,
    scene_origin,
)

pytestmark = pytest.mark.rt

X0, Y0 = 500_000.0, 5_000_000.0
COURTYARD = Polygon(
    [(0, 0), (40, 0), (40, 30), (0, 30)], holes=[[(10, 10), (10, 20), (30, 20), (30, 10)]]
)


def _grid(crs, width=100, height=100, res=2.0):
    return Grid(crs, Affine(res, 0, X0, 0, -res, Y0 + height * res), (height, width))


def _roof_and_walls(mesh: TriMesh, height: float):
    normals = mesh.face_normals()
    z = mesh.vertices[mesh.faces][:, :, 2]
    roof = np.all(np.isclose(z, height), axis=1)
    floor = np.all(np.isclose(z, -BASE_DEPTH_M), axis=1)
    return normals, roof, floor, ~(roof | floor)


def _roof_area(mesh: TriMesh, roof: np.ndarray) -> float:
    v = mesh.vertices[mesh.faces[roof]]
    return float(np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1).sum() / 2)


def test_box_is_closed_with_outward_normals():
    mesh = extrude_footprint(box(0, 0, 20, 10), 12.0)
    assert mesh.is_watertight()
    assert len(mesh.vertices) == 8  # walls, roof and floor share the 8 corners
    assert mesh.signed_volume() == pytest.approx(200 * (12 + BASE_DEPTH_M))
    normals, roof, floor, walls = _roof_and_walls(mesh, 12.0)
    assert np.allclose(normals[roof], [0, 0, 1]) and np.allclose(normals[floor], [0, 0, -1])
    centres = mesh.vertices[mesh.faces[walls]].mean(axis=1)[:, :2] - (10, 5)
    assert np.all(np.abs(normals[walls][:, 2]) < 1e-12)
    assert np.all(np.einsum("ij,ij->i", normals[walls][:, :2], centres) > 0)


@pytest.mark.parametrize("orient", ["ccw", "cw"])
def test_courtyard_is_watertight_and_faces_the_yard(orient):
    poly = COURTYARD if orient == "ccw" else shapely.orient_polygons(COURTYARD, exterior_cw=True)
    mesh = extrude_footprint(poly, 9.0)
    assert mesh.is_watertight()
    assert np.all(mesh.edge_counts() == 2)
    assert mesh.signed_volume() == pytest.approx(COURTYARD.area * (9 + BASE_DEPTH_M))
    normals, roof, floor, walls = _roof_and_walls(mesh, 9.0)
    assert _roof_area(mesh, roof) == pytest.approx(COURTYARD.area)
    roof_centres = mesh.vertices[mesh.faces[roof]].mean(axis=1)
    assert not any(Polygon(COURTYARD.interiors[0]).contains(Point(*c[:2])) for c in roof_centres)
    # courtyard walls (inside the outer ring) face the yard centre (20, 15)
    centres = mesh.vertices[mesh.faces[walls]].mean(axis=1)[:, :2]
    inner = (centres[:, 0] > 5) & (centres[:, 0] < 35) & (centres[:, 1] > 5) & (centres[:, 1] < 25)
    assert inner.sum() == 8
    to_yard = (20, 15) - centres[inner]
    assert np.all(np.einsum("ij,ij->i", normals[walls][inner][:, :2], to_yard) > 0)


def test_watertight_check_catches_duplicated_vertices():
    mesh = extrude_footprint(box(0, 0, 10, 10), 5.0)
    # roof split off onto its own vertices: what "one mesh per face" exporters produce
    roof = np.all(mesh.vertices[mesh.faces][:, :, 2] == 5.0, axis=1)
    faces = mesh.faces.copy()
    offset = len(mesh.vertices)
    faces[roof] = faces[roof] + offset
    broken = TriMesh(np.concatenate([mesh.vertices, mesh.vertices]), faces)
    assert not broken.is_watertight()


def test_footprints_are_clipped_deoverlapped_and_merged(utm32):
    grid = _grid(utm32)  # 200 m x 200 m
    origin = scene_origin(grid)
    shapes = [
        box(X0 + 20, Y0 + 20, X0 + 60, Y0 + 60),  # 10 m
        box(X0 + 40, Y0 + 40, X0 + 80, Y0 + 80),  # 20 m, overlaps the first
        box(X0 + 60, Y0 + 20, X0 + 80, Y0 + 40),  # 10 m, touches the first: merged with it
        MultiPolygon(
            [
                box(X0 + 120, Y0 + 120, X0 + 130, Y0 + 130),
                box(X0 + 140, Y0 + 120, X0 + 150, Y0 + 130),
            ]
        ),
        box(X0 - 30, Y0 + 100, X0 + 10, Y0 + 110),  # crosses the grid edge: kept (margin)
        box(X0 - 500, Y0, X0 - 450, Y0 + 50),  # beyond the margin: dropped
        box(X0 + 150, Y0 + 20, X0 + 160, Y0 + 30),  # no height: dropped
        COURTYARD,  # far away (local coordinates near 0,0 of the CRS): dropped
    ]
    heights = [10.0, 20.0, 10.0, 15.0, 5.0, 30.0, math.nan, 8.0]
    frame = gpd.GeoDataFrame({"height_m": heights}, geometry=shapes, crs=utm32)
    footprints, dropped = prepare_footprints(frame.to_crs(4326), grid, origin, margin_m=50.0)
    assert dropped == 1
    by_height = sorted((round(f.height_m, 1), round(f.polygon.area)) for f in footprints)
    assert by_height == [(5.0, 400), (10.0, 1600), (15.0, 100), (15.0, 100), (20.0, 1600)]
    polys = [f.polygon for f in footprints]
    for i, a in enumerate(polys):
        for b in polys[i + 1 :]:
            assert a.intersection(b).area < 1e-6
    mesh = TriMesh.concat([extrude_footprint(f.polygon, f.height_m) for f in footprints])
    assert mesh.is_watertight()
    # the overlap went to the taller building: its footprint is the whole 40 m square
    tall = next(f for f in footprints if f.height_m == 20.0)
    expected = shapely.transform(box(X0 + 40, Y0 + 40, X0 + 80, Y0 + 80), lambda xy: xy - origin)
    assert tall.polygon.symmetric_difference(expected).area < 0.1


def test_buildings_need_heights_and_crs(utm32):
    grid = _grid(utm32)
    no_height = gpd.GeoDataFrame({"h": [3.0]}, geometry=[box(X0, Y0, X0 + 5, Y0 + 5)], crs=utm32)
    with pytest.raises(BuildingsError, match="height_m"):
        prepare_footprints(no_height, grid, scene_origin(grid))
    no_crs = gpd.GeoDataFrame({"height_m": [3.0]}, geometry=[box(X0, Y0, X0 + 5, Y0 + 5)])
    with pytest.raises(BuildingsError, match="CRS"):
        prepare_footprints(no_crs, grid, scene_origin(grid))


def test_loaded_scene_keeps_shared_vertices_and_georeferencing(sionna_rt, utm32):
    grid = _grid(utm32)
    yard = shapely.transform(COURTYARD, lambda xy: xy + (X0 + 100, Y0 + 100))
    frame = gpd.GeoDataFrame({"height_m": [12.0]}, geometry=[yard], crs=utm32)
    rts = build_scene(grid, frame)
    assert rts.origin == (X0 + 100, Y0 + 100)
    assert rts.buildings_mesh.is_watertight()
    objects = rts.scene.objects
    assert set(objects) == {"ground", "buildings"}
    loaded = objects["buildings"].mi_mesh
    assert loaded.vertex_count() == len(rts.buildings_mesh.vertices)
    assert loaded.face_count() == len(rts.buildings_mesh.faces)
    positions = np.asarray(loaded.vertex_positions_buffer()).reshape(-1, 3)
    assert np.allclose(positions, rts.buildings_mesh.vertices, atol=1e-4)
    mask = rts.building_mask()
    assert mask.sum() == pytest.approx(COURTYARD.area / 4, rel=0.05)
    row, col = grid.rowcol(X0 + 120, Y0 + 115)  # courtyard centre: open sky
    assert not mask[row, col]
    row, col = grid.rowcol(X0 + 105, Y0 + 105)
    assert mask[row, col]
    assert rts.building_at(X0 + 105, Y0 + 105).height_m == 12.0
    assert rts.building_at(X0 + 120, Y0 + 115) is None


def test_materials_are_validated(sionna_rt, utm32):
    grid = _grid(utm32, 10, 10)
    assert Materials.coerce({"buildings": "mat-itu_brick"}).building_type == "brick"
    with pytest.raises(InputError, match="unknown ITU radio material"):
        build_scene(grid, None, materials={"ground": "itu_cheese"})
    with pytest.raises(InputError, match="1-10 GHz"):
        build_scene(grid, None, frequency_hz=28e9)
    with pytest.raises(InputError, match="unknown materials key"):
        Materials.coerce({"roof": "itu_metal"})


# -- backend set-up (no ray tracing) -------------------------------------------------------------


def test_find_libllvm_honours_the_environment(monkeypatch, tmp_path):
    from radiomap_geo.rt import llvm

    fake = tmp_path / "libLLVM.so.19.1"
    fake.write_bytes(b"")
    monkeypatch.setenv(llvm.LLVM_ENV, str(fake))
    assert llvm.find_libllvm() == str(fake)
    monkeypatch.setenv(llvm.LLVM_ENV, str(tmp_path / "missing.so"))
    found = llvm.find_libllvm()
    assert found is None or "19" in found


def test_no_gpu_and_no_llvm_is_a_dependency_error(monkeypatch):
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt import llvm

    class FakeMitsuba:
        @staticmethod
        def variant():
            return None

        @staticmethod
        def variants():
            return ["scalar_rgb", "llvm_ad_mono_polarized"]

    monkeypatch.setattr(llvm, "_has_cuda", lambda: False)
    with pytest.raises(DependencyError, match="apt-get install libllvm19"):
        llvm.choose_variant(FakeMitsuba, None)
