import collections

import numpy as np
import pytest
import shapely

from radiomap_geo.dataset.procedural import procedural_city
from radiomap_geo.dataset.sampling import (
    SiteSampling,
    TileSpec,
    assign_splits,
    overlapping_pairs,
    phased_schedule,
    place_tile,
    plan_tiles,
    sample_sites,
    source_schedule,
)
from radiomap_geo.dataset.sources import HelsinkiSource, open_sources
from radiomap_geo.errors import InputError
from radiomap_geo.rasterize import rasterize_buildings


def _tile(seed, size=64, res=2.0):
    spec = TileSpec(
        0,
        "procedural",
        "procedural:0",
        "train",
        seed,
        "EPSG:32632",
        (300_000.0, 5_000_000.0, 300_000.0 + size * res, 5_000_000.0 + size * res),
    )
    grid = spec.grid(res)
    city = procedural_city(seed, spec.bounds, crs=spec.crs)
    return grid, city, rasterize_buildings(city, grid)


@pytest.mark.parametrize("seed", range(8))
def test_street_sites_are_outside_buildings(seed):
    grid, city, heights = _tile(seed)
    rng = np.random.default_rng(seed)
    sites = sample_sites(heights, grid, 12, rng, SiteSampling(rooftop_fraction=0.0))
    union = shapely.union_all(city.geometry.to_numpy())
    for s in sites:
        assert s.kind == "street"
        assert 3.0 <= s.height_m <= 10.0
        assert heights[s.row, s.col] == 0
        point = shapely.Point(s.x, s.y)
        assert not union.covers(point)
        assert union.distance(point) >= 0.5  # at least half a cell from any wall
        assert grid.rowcol(s.x, s.y) == (s.row, s.col)


@pytest.mark.parametrize("seed", range(4))
def test_rooftop_sites_stand_on_roofs(seed):
    grid, city, heights = _tile(seed)
    rng = np.random.default_rng(seed)
    sites = sample_sites(heights, grid, 12, rng, SiteSampling(rooftop_fraction=1.0))
    for s in sites:
        if s.kind != "rooftop":  # a tile without any roof falls back to street sites
            continue
        roof = heights[s.row, s.col]
        assert roof > 0 and s.roof_m == pytest.approx(roof)
        assert roof + 1.0 <= s.height_m + 1e-6 <= roof + 5.0 + 1e-3
        hit = city[city.covers(shapely.Point(s.x, s.y))]
        assert len(hit) and s.height_m > hit["height_m"].max()


def test_antennas_and_frequency():
    grid, _, heights = _tile(1)
    sites = sample_sites(
        heights, grid, 200, np.random.default_rng(0), SiteSampling(frequency_mhz=2600)
    )
    kinds = collections.Counter(s.antenna for s in sites)
    assert set(kinds) == {"iso", "tr38901"} and min(kinds.values()) > 50
    sector = [s for s in sites if s.antenna == "tr38901"]
    assert all(0 <= s.azimuth_deg < 360 and 0 <= s.tilt_deg <= 12 for s in sector)
    assert np.ptp([s.azimuth_deg for s in sector]) > 180
    assert all(s.frequency_mhz == 2600 for s in sites)
    sites[0].to_site("x").validate()


def test_assign_splits_is_stable_and_complete():
    ids = [f"r{i}" for i in range(100)]
    a = assign_splits(ids, 0.15, 0.10)
    assert a == assign_splits(list(reversed(ids)), 0.15, 0.10)
    counts = collections.Counter(a.values())
    assert counts == {"train": 75, "test": 15, "val": 10}
    few = assign_splits(["a", "b", "c"], 0.15, 0.10)
    assert sorted(few.values()) == ["test", "train", "val"]
    assert set(assign_splits(["x"], 1.0, 0.0).values()) == {"test"}


def test_schedule_follows_weights_and_is_prefix_stable():
    weights = {"procedural": 0.5, "radiomapseer": 0.3, "helsinki": 0.2}
    long = source_schedule(weights, 1000)
    assert source_schedule(weights, 37) == long[:37]
    counts = collections.Counter(long)
    assert counts == {"procedural": 500, "radiomapseer": 300, "helsinki": 200}


MINORITY = {"procedural": 0.2, "radiomapseer": 0.4, "helsinki": 0.3, "delft": 0.1}


def test_a_later_mix_keeps_the_schedule_before_it_and_follows_its_shares():
    weights = {"procedural": 0.5, "radiomapseer": 0.3, "helsinki": 0.17, "delft": 0.03}
    phased = phased_schedule([(0, weights), (1685, MINORITY)], 1885)
    assert phased[:1685] == source_schedule(weights, 1685)
    assert phased_schedule([(0, weights), (1685, MINORITY)], 900) == source_schedule(weights, 900)
    counts = collections.Counter(phased[1685:])
    for name, share in MINORITY.items():
        assert abs(counts[name] - share * 200) <= 1, (name, counts)
    # the later mix runs its own round robin, counted from its first tile
    assert phased[1685:] == source_schedule(MINORITY, 200)
    with pytest.raises(InputError, match="start at tile 0 and then increase"):
        phased_schedule([(0, weights), (50, MINORITY), (50, weights)], 100)
    with pytest.raises(InputError, match="mix from tile 50 on"):
        phased_schedule([(0, weights), (50, {"delft": 0.0})], 100)


@pytest.fixture(scope="module")
def helsinki_sources(sample_pbf):
    return {"procedural": None, "helsinki": HelsinkiSource(sample_pbf)}


def test_plan_with_a_later_mix_keeps_earlier_tiles(helsinki_sources):
    weights = {"procedural": 0.5, "helsinki": 0.5}
    tiling = dict(size=64, resolution=2.0, seed=3)
    before = plan_tiles(40, helsinki_sources, weights, **tiling)
    later = [(40, {"procedural": 0.2, "helsinki": 0.8})]
    specs = plan_tiles(240, helsinki_sources, weights, weights_from=later, **tiling)
    assert len(before) == 40
    for old, new in zip(before, specs[:40]):
        assert old == new  # id, source, region, split, seed, crs, bounds
        assert old.params == new.params  # (not part of ==)
    assert abs(sum(s.source == "procedural" for s in specs[40:]) - 0.2 * 200) <= 1
    _check_plan(specs)
    # a source's k-th tile counts across mixes: its region cycle goes on where it stopped
    only = plan_tiles(200, {"helsinki": helsinki_sources["helsinki"]}, {"helsinki": 1.0}, **tiling)
    regions = [s.region for s in specs if s.source == "helsinki"]
    assert regions == [s.region for s in only[: len(regions)]]


def test_place_tile_inside_region_or_around_small_region():
    rng = np.random.default_rng(0)
    for _ in range(50):
        b = place_tile((0.0, 0.0, 384.0, 384.0), 256.0, 2.0, rng)
        assert 0 <= b[0] and b[2] <= 384 and 0 <= b[1] and b[3] <= 384
        assert b[0] % 2 == 0 and b[1] % 2 == 0
        small = place_tile((10.0, 20.0, 110.0, 90.0), 256.0, 2.0, rng)
        assert small[0] <= 10 and small[2] >= 110 and small[1] <= 20 and small[3] >= 90


def _check_plan(specs):
    assert not overlapping_pairs(specs, "test", "train")
    assert not overlapping_pairs(specs, "val", "train")
    assert not overlapping_pairs(specs, "test", "val")
    # every region sits in one split only
    region_split = {}
    for s in specs:
        assert region_split.setdefault(s.region, s.split) == s.split
    assert all(s.split in ("train", "val") for s in specs if s.source == "procedural")


def test_plan_with_helsinki_has_no_split_overlap(sample_pbf):
    sources = {"procedural": None, "helsinki": HelsinkiSource(sample_pbf)}
    weights = {"procedural": 0.5, "helsinki": 0.5}
    specs = plan_tiles(120, sources, weights, size=64, resolution=2.0, seed=3)
    _check_plan(specs)
    splits = collections.Counter(s.split for s in specs if s.source == "helsinki")
    assert set(splits) == {"train", "val", "test"}
    # deterministic, and asking for more tiles only appends
    again = plan_tiles(60, sources, weights, size=64, resolution=2.0, seed=3)
    assert [s.to_dict() for s in again] == [s.to_dict() for s in specs[:60]]
    other = plan_tiles(60, sources, weights, size=64, resolution=2.0, seed=4)
    assert [s.seed for s in other] != [s.seed for s in again]


def test_plan_with_all_real_sources_has_no_split_overlap(shared_data, sample_pbf):
    sources, skipped = open_sources(
        ["procedural", "radiomapseer", "helsinki", "delft"], shared_data, sample_pbf
    )
    if skipped:
        pytest.skip(f"sources missing: {skipped}")
    weights = {"procedural": 0.4, "radiomapseer": 0.3, "helsinki": 0.2, "delft": 0.1}
    specs = plan_tiles(400, sources, weights, size=128, resolution=2.0, seed=0)
    _check_plan(specs)
    by_source = collections.Counter((s.source, s.split) for s in specs)
    assert by_source[("radiomapseer", "test")] > 0 and by_source[("helsinki", "test")] > 0
    assert {s.split for s in specs if s.source == "delft"} == {"test"}
    # RadioMapSeer test maps never appear in train
    test_maps = {
        s.params["map_id"] for s in specs if s.source == "radiomapseer" and s.split == "test"
    }
    train_maps = {
        s.params["map_id"] for s in specs if s.source == "radiomapseer" and s.split == "train"
    }
    assert test_maps and not test_maps & train_maps


def test_real_sources_have_heights(shared_data, sample_pbf):
    sources, skipped = open_sources(["radiomapseer", "helsinki", "delft"], shared_data, sample_pbf)
    if skipped:
        pytest.skip(f"sources missing: {skipped}")
    for name, source in sources.items():
        region = source.regions(256.0, 1.5)[0]
        frame = source.buildings(region, region.bounds)
        assert len(frame) > 5, name
        assert (frame["height_m"] > 0).all() and (frame["height_m"] < 400).all()
        assert str(frame.crs) == source.crs
    # heights are drawn reproducibly per building
    rms = sources["radiomapseer"]
    region = rms.regions(256.0, 1.5)[0]
    a = rms.buildings(region, region.bounds)["height_m"].to_numpy()
    from radiomap_geo.dataset.sources import _radiomapseer_frame

    _radiomapseer_frame.cache_clear()
    b = rms.buildings(region, region.bounds)["height_m"].to_numpy()
    assert np.array_equal(a, b)
