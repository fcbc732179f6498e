"""Building footprints: OSM files, vector files, GeoDataFrames, heights, repairs and errors."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon

from radiomap_geo.errors import BuildingsError, CRSError, InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.io.buildings import (
    load_buildings,
    parse_height,
    parse_levels,
    read_buildings,
)

#: The demo area of sample_data/README.md.
DEMO_BBOX = "24.937,60.165,24.951,60.172"


@pytest.fixture(scope="module")
def helsinki(sample_pbf):
    return read_buildings(sample_pbf)


@pytest.fixture(scope="module")
def demo_grid():
    return Grid.from_bbox(BBox.parse(DEMO_BBOX), 2.0)


def _by_id(frame, osm_id):
    rows = frame[frame["osm_id"] == osm_id]
    assert len(rows) == 1, osm_id
    return rows.iloc[0]


# -- height parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metres"),
    [
        ("12", 12.0),
        ("12 m", 12.0),
        ("12.5m", 12.5),
        (" 12,5 M ", 12.5),
        ("12.13 m", 12.13),
        ("7 metres", 7.0),
        (".5", 0.5),
        ("40 ft", 40 * 0.3048),
        ("40'", 40 * 0.3048),
        ("12'6\"", 12 * 0.3048 + 6 * 0.0254),
        (30, 30.0),
        (30.5, 30.5),
        (np.float32(8.0), 8.0),
        ("0", None),
        ("-3", None),
        ("5000", None),
        ("approx 12", None),
        ("12;15", None),
        ("10-12", None),
        ("tall", None),
        ("", None),
        (None, None),
        (float("nan"), None),
        (True, None),
    ],
)
def test_parse_height(text, metres):
    result = parse_height(text)
    if metres is None:
        assert result is None
    else:
        assert result == pytest.approx(metres)


@pytest.mark.parametrize(
    ("text", "levels"),
    [("4", 4.0), (4, 4.0), ("2.5", 2.5), ("0", 0.0), ("3;4", None), ("-1", None), ("x", None)],
)
def test_parse_levels(text, levels):
    assert parse_levels(text) == levels


# -- the sample OSM extract -------------------------------------------------------------------


def test_pbf_footprints_and_height_sources(helsinki):
    assert helsinki.crs.to_epsg() == 4326
    assert len(helsinki) == 446  # 500 tagged, 54 lack nodes or member ways in the extract
    assert set(helsinki.geom_type) <= {"Polygon", "MultiPolygon"}
    assert helsinki.is_valid.all()
    assert helsinki["height_m"].dtype == np.float64
    assert (helsinki["height_m"] > 0).all()
    assert helsinki["height_source"].value_counts().to_dict() == {
        "default": 292,
        "levels": 138,
        "height": 16,
    }
    assert helsinki["osm_type"].value_counts().to_dict() == {"way": 385, "relation": 61}
    for column in ("osm_id", "building", "name", "height", "building:levels", "roof:levels"):
        assert column in helsinki.columns


def test_pbf_specific_heights(helsinki):
    torni = _by_id(helsinki, 123525580)  # height=70 and building:levels=13: height wins
    assert torni["name"] == "Hotelli Torni"
    assert (torni["height_m"], torni["height_source"]) == (70.0, "height")
    chapel = _by_id(helsinki, 185401488)  # height="12.13 m"
    assert (chapel["height_m"], chapel["height_source"]) == (pytest.approx(12.13), "height")
    assert _by_id(helsinki, 8033120)["height_m"] == 10.5  # building:levels=3.5
    roof = _by_id(helsinki, 22907250)  # 4 levels + 1 roof level
    assert (roof["height_m"], roof["height_source"]) == (15.0, "levels")
    plain = _by_id(helsinki, 4253124)
    assert (plain["height_m"], plain["height_source"]) == (10.0, "default")


def test_pbf_height_options(sample_pbf):
    frame = read_buildings(sample_pbf, storey_height_m=3.5, default_height_m=7.0, roof_levels=False)
    assert _by_id(frame, 22907250)["height_m"] == 14.0
    assert _by_id(frame, 4253124)["height_m"] == 7.0
    assert _by_id(frame, 123525580)["height_m"] == 70.0


def test_courtyards_are_kept(helsinki, sample_pbf, demo_grid):
    relations = helsinki[helsinki["osm_type"] == "relation"]
    holes = relations.geometry.map(lambda g: len(g.interiors) if g.geom_type == "Polygon" else 0)
    assert (holes > 0).sum() == 61  # every multipolygon relation here has a courtyard
    marski = _by_id(helsinki, 5608)  # relation with one inner ring
    assert marski.geometry.geom_type == "Polygon"
    assert len(marski.geometry.interiors) == 1
    clipped = read_buildings(sample_pbf, demo_grid)
    in_grid = _by_id(clipped, 5608).geometry
    assert len(in_grid.interiors) == 1
    assert in_grid.area < Polygon(in_grid.exterior).area - 50  # the courtyard is a real hole


def test_osm_xml_reads_like_pbf(tmp_path, sample_pbf, helsinki):
    import osmium

    xml = tmp_path / "helsinki.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(sample_pbf)):
            writer.add(obj)
    frame = read_buildings(xml)
    assert len(frame) == len(helsinki)
    merged = frame.merge(helsinki, on=["osm_type", "osm_id"], suffixes=("", "_pbf"))
    assert len(merged) == len(helsinki)
    assert np.array_equal(merged["height_m"], merged["height_m_pbf"])


def test_clip_to_grid(sample_pbf, demo_grid):
    frame = read_buildings(sample_pbf, demo_grid)
    assert frame.crs == demo_grid.crs
    assert len(frame) == 257
    minx, miny, maxx, maxy = frame.total_bounds
    gminx, gminy, gmaxx, gmaxy = demo_grid.bounds
    assert gminx <= minx and gminy <= miny and maxx <= gmaxx and maxy <= gmaxy
    assert frame.is_valid.all() and set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    wider = read_buildings(sample_pbf, demo_grid, margin_m=50)
    assert len(wider) > len(frame)
    assert wider.total_bounds[0] < gminx


def test_load_buildings_with_a_file(sample_pbf, demo_grid):
    frame = load_buildings(demo_grid, sample_pbf, default_height_m=9.0)
    assert len(frame) == 257
    assert (frame.loc[frame["height_source"] == "default", "height_m"] == 9.0).all()


# -- other formats ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projected(helsinki):
    """Footprints in EPSG:3067 (ETRS-TM35FIN) with a mixed-case ``Height`` column."""
    frame = helsinki[["osm_id", "height_m", "geometry"]].to_crs("EPSG:3067")
    frame = frame.rename(columns={"height_m": "Height"})
    frame.loc[frame.index[::2], "Height"] = np.nan  # half without heights: default
    frame["lidar_h"] = 33.0
    return frame


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_vector_file_with_height_column(tmp_path, projected, suffix, demo_grid):
    path = tmp_path / f"footprints{suffix}"
    projected.to_file(path)
    frame = read_buildings(path)
    assert frame.crs is not None and len(frame) == len(projected)
    assert frame["height_source"].value_counts().to_dict() == {"height": 223, "default": 223}
    assert (frame.loc[frame["height_source"] == "default", "height_m"] == 10.0).all()
    clipped = read_buildings(path, demo_grid)
    assert clipped.crs == demo_grid.crs and len(clipped) == 257


def test_user_height_column_wins(tmp_path, projected):
    path = tmp_path / "footprints.gpkg"
    projected.to_file(path)
    frame = read_buildings(path, height_column="lidar_h")
    assert (frame["height_m"] == 33.0).all()
    assert set(frame["height_source"]) == {"user"}


def test_user_height_column_missing(tmp_path, projected):
    path = tmp_path / "footprints.gpkg"
    projected.to_file(path)
    with pytest.raises(BuildingsError, match="no height column 'hoehe'") as info:
        read_buildings(path, height_column="hoehe")
    assert "lidar_h" in str(info.value) and "Height" in str(info.value)


def test_dataframe_source_keeps_attributes(projected):
    frame = read_buildings(projected)
    assert "lidar_h" in frame.columns and "osm_id" in frame.columns
    assert frame.crs.to_epsg() == 3067


def test_missing_crs_file(tmp_path, projected):
    path = tmp_path / "nocrs.shp"
    projected.to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match="has no CRS"):
        read_buildings(path)


def test_missing_crs_frame(projected):
    with pytest.raises(CRSError, match="assign"):
        read_buildings(
            gpd.GeoDataFrame(projected.drop(columns="geometry"), geometry=list(projected.geometry))
        )


def test_empty_after_clipping(sample_pbf):
    delft = Grid.from_bbox(BBox.parse("4.37,51.99,4.38,52.0"), 5.0)
    with pytest.raises(BuildingsError, match="no building footprints inside the area") as info:
        read_buildings(sample_pbf, delft)
    assert "check the area and its CRS" in str(info.value)
    assert info.value.parameter == "buildings"  # each front end names its own option


def test_no_polygons_at_all():
    frame = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])], crs="EPSG:3067")
    with pytest.raises(BuildingsError, match="no usable building polygons"):
        read_buildings(frame)
    with pytest.raises(BuildingsError, match="no features"):
        read_buildings(frame.iloc[:0])


def test_bad_sources(tmp_path):
    with pytest.raises(BuildingsError, match="does not exist"):
        read_buildings(tmp_path / "nothing.gpkg")
    with pytest.raises(BuildingsError, match="does not exist"):
        read_buildings(tmp_path / "nothing.osm.pbf")
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_text("not a geopackage")
    with pytest.raises(BuildingsError, match="cannot read"):
        read_buildings(garbage)
    with pytest.raises(BuildingsError, match="file path or a GeoDataFrame"):
        read_buildings(42)
    with pytest.raises(InputError, match="storey_height_m"):
        read_buildings(tmp_path / "x.gpkg", storey_height_m=0)


def test_bow_tie_is_repaired(caplog):
    bow_tie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])
    square = Polygon([(20, 0), (30, 0), (30, 10), (20, 10)])
    spike = Polygon([(40, 0), (50, 0), (40, 0)])  # collapses to a line: beyond repair
    frame = gpd.GeoDataFrame(
        {"height": ["9", "12 m", "3"]}, geometry=[bow_tie, square, spike], crs="EPSG:3067"
    )
    assert not frame.is_valid.iloc[0]
    with caplog.at_level(logging.INFO, logger="radiomap_geo.io.buildings"):
        out = read_buildings(frame)
    assert len(out) == 2
    assert out.is_valid.all()
    fixed = out.geometry.iloc[0]
    assert fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(50.0)
    assert list(out["height_m"]) == [9.0, 12.0]
    assert "repaired 1 invalid footprints" in caplog.text
    assert "dropped 1 beyond repair" in caplog.text


def test_mixed_geometries_keep_polygons():
    frame = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(0, 0),
            shapely.box(0, 0, 5, 5),
            shapely.MultiPolygon([shapely.box(10, 0, 12, 2), shapely.box(20, 0, 22, 2)]),
            None,
        ],
        crs="EPSG:3067",
    )
    out = read_buildings(frame)
    assert list(out.geom_type) == ["Polygon", "MultiPolygon"]
    assert list(out["height_source"]) == ["default", "default"]


# -- real official footprints (Delft BGT) -----------------------------------------------------


def test_delft_bgt(shared_file):
    path = shared_file("delft/bgt_pand.sqlite")
    frame = read_buildings(path)  # the only layer, 'buildingpart', is chosen
    assert frame.crs.to_epsg() == 28992
    assert len(frame) == 160
    assert set(frame["height_source"]) == {"default"}
    assert "identificatiebagpnd" in frame.columns
    same = read_buildings(path, layer="buildingpart")
    assert len(same) == 160
    # Half of the campus extent (x 84808-85072), on a UTM 31N grid.
    west = BBox(84808, 447413, 84940, 447641, crs="EPSG:28992")
    grid = Grid.from_bbox(west, 1.0)
    clipped = read_buildings(path, grid)
    assert clipped.crs.to_epsg() == 32631
    assert 0 < len(clipped) < 160
    assert clipped.is_valid.all()
    with pytest.raises(BuildingsError, match="columns are"):
        read_buildings(path, height_column="hoogte")


def test_multi_layer_file(tmp_path, projected):
    path = tmp_path / "layers.gpkg"
    projected.to_file(path, layer="footprints")
    points = projected.copy()
    points["geometry"] = points.geometry.centroid
    points.to_file(path, layer="entrances")
    assert len(read_buildings(path)) == len(projected)  # the only polygon layer
    projected.to_file(path, layer="footprints_2020")
    with pytest.raises(BuildingsError, match="name the one with the footprints") as info:
        read_buildings(path)
    assert "footprints_2020" in str(info.value)
    assert len(read_buildings(path, layer="footprints_2020")) == len(projected)


def _with_heights(values):
    import geopandas as gpd
    from shapely.geometry import box

    geoms = [box(i * 20.0, 0.0, i * 20.0 + 10.0, 10.0) for i in range(len(values))]
    return gpd.GeoDataFrame({"height": values}, geometry=geoms, crs="EPSG:32635")


def test_invalid_heights_are_counted_warned_and_defaulted(caplog):
    import logging

    from radiomap_geo.io.buildings import buildings_from_frame

    values = ["12 m", "tall", "-4", "NaN", "1500", None, "", "40 ft"]
    with caplog.at_level(logging.WARNING):
        frame = buildings_from_frame(_with_heights(values), default_height_m=7.0)
    assert list(frame["height_m"]) == pytest.approx([12, 7, 7, 7, 7, 7, 7, 12.192])
    # four values were given but unusable; None and "" are simply missing (no warning)
    assert "4 of 8 buildings have an invalid height in column 'height'" in caplog.text
    assert "'tall'" in caplog.text and "default (7 m)" in caplog.text


def test_strict_refuses_invalid_heights():
    from radiomap_geo.errors import BuildingsError
    from radiomap_geo.io.buildings import buildings_from_frame

    with pytest.raises(BuildingsError, match="1 of 2 buildings") as info:
        buildings_from_frame(_with_heights(["10", "-1"]), strict=True)
    assert info.value.parameter == "strict"
    clean = buildings_from_frame(_with_heights(["10", None]), strict=True)  # missing is fine
    assert list(clean["height_m"]) == [10.0, 10.0]
