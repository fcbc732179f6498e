"""OSM downloads through osmnx, against a local server replaying a recorded Overpass response."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest

from radiomap_geo.errors import BuildingsError, DependencyError, InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.io import osm
from radiomap_geo.io.buildings import load_buildings, read_buildings

#: The area tests/data/overpass_helsinki.json was recorded for (scripts/make_sample_data.py).
REPLAY_BBOX = "24.938,60.167,24.943,60.169"


@pytest.fixture
def replay(overpass_replay):
    return overpass_replay


@pytest.fixture
def replay_grid():
    return Grid.from_bbox(BBox.parse(REPLAY_BBOX), 2.0)


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def test_recorded_response_is_small_and_overpass_shaped(test_data_dir):
    path = test_data_dir / "overpass_helsinki.json"
    assert path.stat().st_size < 200_000
    data = json.loads(path.read_text())
    kinds = {e["type"] for e in data["elements"]}
    assert kinds == {"node", "way", "relation"}


def test_download_then_cache_only(replay, replay_grid, tmp_path, sample_pbf):
    frame = load_buildings(replay_grid, cache_dir=tmp_path, overpass_url=replay.url)

    posts = [r for r in replay.requests if r[0] == "POST"]
    assert len(posts) == 1 and posts[0][1] == "/api/interpreter"
    query = parse_qs(posts[0][2])["data"][0]
    assert "building" in query and "poly:" in query and "[out:json]" in query

    assert frame.crs == replay_grid.crs
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    assert frame.is_valid.all()
    by_id = frame.set_index("osm_id")
    assert by_id.loc[123525580, "height_m"] == 70.0  # Hotelli Torni, height=70
    assert by_id.loc[122595241, "height_source"] == "height"  # Stockmann, height=39
    assert by_id.loc[122595241, "height_m"] == 39.0
    assert by_id.loc[5608, "height_m"] == 24.0  # relation, 8 levels, with a courtyard
    assert len(by_id.loc[5608, "geometry"].interiors) == 1
    sources = frame["height_source"].value_counts().to_dict()
    assert sources["levels"] >= 5 and sources["default"] >= 10

    # The same funnel as the file reader: identical heights for the same OSM objects.
    from_file = read_buildings(sample_pbf, replay_grid).set_index("osm_id")
    assert set(from_file.index) == set(by_id.index)
    assert np.array_equal(from_file.loc[by_id.index, "height_m"], by_id["height_m"])
    assert (tmp_path / "overpass").is_dir()  # osmnx's raw response cache
    # The parsed download is published whole: one GeoPackage, no staging file beside it.
    assert [p.suffix for p in (tmp_path / "buildings").iterdir()] == [".gpkg"]

    replay.close()  # no server any more: the cache must do
    again = load_buildings(replay_grid, cache_dir=tmp_path, cache_only=True)
    assert len(again) == len(frame)
    assert np.array_equal(again["height_m"], frame["height_m"])
    assert again.geometry.geom_equals_exact(frame.geometry, tolerance=1e-6).all()
    # A normal call for the same area is served from the cache too.
    online = load_buildings(replay_grid, cache_dir=tmp_path, overpass_url=replay.url)
    assert len(online) == len(frame)


def test_cache_only_without_cache(replay_grid, tmp_path):
    with pytest.raises(InputError, match="no cached OSM download") as info:
        load_buildings(replay_grid, cache_dir=tmp_path, cache_only=True)
    assert "buildings file" in str(info.value)


def test_no_network(replay_grid, tmp_path):
    with pytest.raises(DependencyError, match="no network\\?") as info:
        load_buildings(replay_grid, cache_dir=tmp_path, overpass_url=_free_port_url())
    assert "buildings file" in str(info.value) and "download cache only" in str(info.value)


def test_no_buildings_in_area(replay, tmp_path):
    far = Grid.from_bbox(BBox.parse("24.90,60.15,24.901,60.1505"), 2.0)
    with pytest.raises(BuildingsError, match="check the bbox/CRS"):
        load_buildings(far, cache_dir=tmp_path, overpass_url=replay.url)


def test_osmnx_settings_are_restored(replay, replay_grid, tmp_path):
    import osmnx as ox

    before = (ox.settings.cache_folder, ox.settings.overpass_url, ox.settings.use_cache)
    load_buildings(replay_grid, cache_dir=tmp_path, overpass_url=replay.url)
    assert (ox.settings.cache_folder, ox.settings.overpass_url, ox.settings.use_cache) == before


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(osm.CACHE_ENV, str(tmp_path))
    assert osm.default_cache_dir() == tmp_path / "osm"
    monkeypatch.delenv(osm.CACHE_ENV)
    assert osm.default_cache_dir() == Path.home() / ".cache" / "radiomap-geo" / "osm"


def test_raw_file_frame(sample_pbf):
    raw = osm.read_osm_file(sample_pbf)
    assert list(raw.columns) == [*osm.RAW_COLUMNS, "geometry"]
    assert raw.crs.to_epsg() == 4326
    assert raw["osm_id"].dtype == np.int64
    assert (
        osm.is_osm_file("x.OSM.PBF") and osm.is_osm_file("a.osm") and not osm.is_osm_file("a.gpkg")
    )
