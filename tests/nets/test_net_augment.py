"""Augmentation transforms scene + site, and the recomputed channels agree with the raster op."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from radiomap_geo.nets.augment import (
    ORTHO_CHANNELS,
    RAY_CHANNELS,
    MapBatches,
    MapSample,
    RayChannelCache,
    TileRenderer,
    compose_symmetries,
    input_stack,
    pattern_is_mirror_symmetric,
    transform_array,
    transform_sample,
)
from radiomap_geo.nets.registry import DEFAULT_CHANNELS
from radiomap_geo.nets.symmetry import transform_azimuth
from radiomap_geo.rasterize import feature_stack

SCALAR = [
    "tx",
    "tx_height",
    "distance",
    "log_distance",
    "elevation",
    "building_height",
    "building_mask",
    "antenna_gain",
    "azimuth_cos",
]
ALL = [*SCALAR, "azimuth_sin", "anchor_x", "anchor_y"]


def _sample(geo, shape=(24, 24), row=7, col=15, antenna="tr38901", azimuth=30.0):
    grid = geo.make_grid(*shape, res=2.0)
    scene = geo.random_scene(grid, seed=3)
    site = geo.site_at_cell(grid, row, col, antenna=antenna, azimuth_deg=azimuth, tilt_deg=6.0)
    rng = np.random.default_rng(0)
    gain = rng.normal(-100, 10, grid.shape).astype(np.float32)
    valid = rng.random(grid.shape) > 0.2
    los = rng.random(grid.shape) > 0.5
    return MapSample(scene, site, gain, valid, los)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_recomputed_channels_equal_transformed_channels(geo, k, flip):
    sample = _sample(geo)
    before = feature_stack(sample.scene, sample.site, ALL)
    moved = transform_sample(sample, k, flip)
    after = feature_stack(moved.scene, moved.site, ALL)
    index = {name: i for i, name in enumerate(ALL)}
    # Straight below the antenna the bearing is undefined (rasterize takes atan2(0, 0) = north),
    # so the azimuth and pattern channels of the site's own cell depend on the absolute boresight.
    # Compare every other cell.
    old_cell = sample.scene.grid.rowcol(sample.site.x, sample.site.y)
    new_cell = moved.scene.grid.rowcol(moved.site.x, moved.site.y)
    for name in ("antenna_gain", "azimuth_cos", "azimuth_sin"):
        before[index[name]][old_cell] = 0.0
        after[index[name]][new_cell] = 0.0
    for name in SCALAR:  # invariant per cell: the raster simply moves
        np.testing.assert_allclose(
            after[index[name]],
            transform_array(before[index[name]], k, flip),
            atol=2e-4,
            err_msg=name,
        )
    # The relative azimuth flips sign under a mirror (left of boresight becomes right).
    sign = -1.0 if flip else 1.0
    np.testing.assert_allclose(
        after[index["azimuth_sin"]],
        sign * transform_array(before[index["azimuth_sin"]], k, flip),
        atol=2e-4,
    )
    # Anchors are a vector field: the vectors turn with the map.
    ax = transform_array(before[index["anchor_x"]], k, flip)
    ay = transform_array(before[index["anchor_y"]], k, flip)
    if flip:
        ax = -ax
    for _ in range(k):
        ax, ay = -ay, ax
    np.testing.assert_allclose(after[index["anchor_x"]], ax, atol=1e-5)
    np.testing.assert_allclose(after[index["anchor_y"]], ay, atol=1e-5)
    # Labels move with the rasters.
    np.testing.assert_array_equal(moved.path_gain_db, transform_array(sample.path_gain_db, k, flip))
    np.testing.assert_array_equal(moved.los, transform_array(sample.los, k, flip))


def test_boresight_turns_with_the_map(geo):
    sample = _sample(geo, row=12, col=12, azimuth=0.0)  # pointing north
    turned = transform_sample(sample, 1, False)  # a quarter turn counter-clockwise
    assert turned.site.azimuth_deg == pytest.approx(270.0)  # now points west
    gain = feature_stack(turned.scene, turned.site, ["antenna_gain"])[0]
    row, col = np.unravel_index(np.argmax(gain), gain.shape)
    assert col < 12 and abs(row - 12) <= 2  # strongest cells lie west of the site
    assert transform_azimuth(30.0, 0, True) == pytest.approx(330.0)
    assert transform_azimuth(30.0, 3, False) == pytest.approx(120.0)


def test_non_square_maps_and_asymmetric_patterns(geo):
    sample = _sample(geo, shape=(16, 24), row=5, col=9)
    half_turn = transform_sample(sample, 2, False)
    assert half_turn.scene.grid.shape == (16, 24)
    assert transform_sample(sample, 1, False).scene.grid.shape == (24, 16)
    assert pattern_is_mirror_symmetric("tr38901") and pattern_is_mirror_symmetric("iso")


def test_map_batches_shapes_masks_and_augmentation(geo):
    samples = [_sample(geo, row=6 + i, col=9) for i in range(5)]
    samples[0].path_gain_db[0, 0] = np.nan  # a NaN label must become an invalid cell
    plain = MapBatches(samples, ["building_height", "distance", "azimuth_cos"], batch_size=2)
    batches = list(plain)
    assert len(plain) == 3 and [b[0].shape[0] for b in batches] == [2, 2, 1]
    x, target, mask = batches[0]
    assert x.shape == (2, 3, 24, 24) and target.shape == mask.shape == (2, 1, 24, 24)
    assert mask.dtype == torch.bool and not mask[0, 0, 0, 0] and torch.isfinite(target).all()
    augmented = MapBatches(samples, ["distance"], batch_size=5, augment=True, seed=1)
    a, b = next(iter(augmented)), next(iter(augmented))
    assert not torch.equal(a[0], b[0])  # a fresh draw each epoch
    again = next(iter(MapBatches(samples, ["distance"], batch_size=5, augment=True, seed=1)))
    assert torch.equal(a[0], again[0])  # reproducible from the seed


def test_sample_from_shard_arrays_puts_the_site_where_the_labels_say():
    from radiomap_geo.nets.augment import map_sample_from_arrays

    heights = np.zeros((20, 30), np.float32)
    heights[2:5, 3:6] = 12.0
    gain = np.full((20, 30), -100.0, np.float32)
    sample = map_sample_from_arrays(
        heights,
        gain,
        heights == 0,
        metres_per_pixel=2.0,
        site_row=7.5,
        site_col=11.5,
        site_height_m=25.0,
        antenna="tr38901",
        azimuth_deg=90.0,
    )
    tx = feature_stack(sample.scene, sample.site, ["tx", "building_height"])
    assert np.argwhere(tx[0] == 1.0).tolist() == [[7, 11]]
    assert tx[1][3, 4] == pytest.approx(0.12)  # row 0 is the northern edge, heights / 100
    assert sample.scene.grid.resolution == 2.0 and sample.site.azimuth_deg == 90.0


def test_no_ray_cells_can_be_labelled_weak(geo):
    sample = _sample(geo)
    _, target, mask = next(iter(MapBatches([sample], ["distance"], 1)))
    _, target2, mask2 = next(iter(MapBatches([sample], ["distance"], 1, no_ray_label_db=-160.0)))
    outdoor = torch.from_numpy(~sample.scene.building_mask)[None, None]
    assert torch.equal(mask2, mask | outdoor)
    added = mask2 & ~mask
    assert added.any() and (target2[added] == -160.0).all()
    assert torch.equal(target2[mask], target[mask])


class _FakeDataset:
    """What radiomap_geo.dataset.RadioMapDataset offers to the adapter."""

    def __init__(self, grid, site):
        self.map_tile = np.array([0, 0])
        self.tile_id = np.array([17])
        self.building_height_m = np.zeros((1, *grid.shape), np.float32)
        self.gain_db = np.full((2, *grid.shape), -90.0, np.float32)
        self.mask = np.ones((2, *grid.shape), bool)
        self.manifest = {"config": {"rx_height_m": 1.5}}
        self._grid, self._site = grid, site

    def __len__(self):
        return 2

    def grid(self, tile):
        return self._grid

    def site(self, index):
        return self._site


def test_samples_from_a_loaded_dataset(geo):
    from radiomap_geo.nets.augment import samples_from_dataset

    grid = geo.make_grid(16, 16, 2.0)
    site = geo.site_at_cell(grid, 3, 4)
    samples = list(samples_from_dataset(_FakeDataset(grid, site)))
    assert len(samples) == 2 and samples[0].scene.grid is samples[1].scene.grid
    assert samples[1].site == site and samples[0].scene.rx_height_m == 1.5
    batch = next(iter(MapBatches(samples, ["tx", "distance"], 2)))
    assert batch[0].shape == (2, 2, 16, 16) and batch[2].all()


def test_samples_from_a_loaded_dataset_with_rendered_inputs(geo):
    from radiomap_geo.nets.augment import samples_from_dataset

    grid = geo.make_grid(16, 16, 2.0)
    dataset = _FakeDataset(grid, geo.site_at_cell(grid, 3, 4))
    renderer = TileRenderer(["ortho_r", "ortho_g", "ortho_b", "ortho_ir", "distance"], seed=2)
    first, second = samples_from_dataset(dataset, renderer=renderer)
    assert first.scene.ortho.shape == (4, 16, 16) and first.scene.ndsm is None
    assert second.scene.ortho is first.scene.ortho  # one rendering per tile
    again = renderer(first.scene, 17)
    assert again.ortho is first.scene.ortho


# -- rendered orthophoto / nDSM inputs -----------------------------------------------------------
ORTHO_NET = ["ortho_r", "ortho_g", "ortho_b", "ndsm", "tx_height", "distance", "antenna_gain"]
GEOMETRY = ["tx_height", "distance", "antenna_gain"]


def _ortho_sample(geo, renderer, tile_id=5, row=7, col=15):
    sample = _sample(geo, row=row, col=col)
    return MapSample(
        renderer(sample.scene, tile_id), sample.site, sample.path_gain_db, sample.valid, sample.los
    )


def test_tile_renderer_renders_each_tile_once_with_its_tile_seed(geo):
    from radiomap_geo.dataset.ortho import tile_seed, with_rendered_inputs

    renderer = TileRenderer.for_channels(ORTHO_NET, seed=3)
    assert TileRenderer.for_channels(GEOMETRY) is None
    assert renderer.settings() == {"seed": 3, "bands": 3, "ndsm": True}
    scene = _sample(geo).scene
    a = renderer(scene, 5)
    b = renderer(replace(scene, rx_height_m=2.0), 5)
    assert b.ortho is a.ortho and b.ndsm is a.ndsm and b.rx_height_m == 2.0  # cached arrays
    assert not a.ortho.flags.writeable and not a.ndsm.flags.writeable
    fresh = with_rendered_inputs(scene, tile_seed(5, 3), bands=3, ndsm=True)
    np.testing.assert_array_equal(a.ortho, fresh.ortho)
    np.testing.assert_array_equal(a.ndsm, fresh.ndsm)
    other_tile = renderer(scene, 6).ortho
    other_seed = TileRenderer(ORTHO_NET, seed=4)(scene, 5).ortho
    assert np.abs(other_tile - a.ortho).mean() > 0.01
    assert np.abs(other_seed - a.ortho).mean() > 0.01
    rgbi = TileRenderer(["ortho_ir"], seed=3)(scene, 5)
    assert rgbi.ortho.shape == (4, 24, 24) and rgbi.ndsm is None
    np.testing.assert_array_equal(rgbi.ortho[:3], a.ortho)  # same draw, one band more
    small = TileRenderer(ORTHO_NET, max_tiles=1)
    first = small(scene, 1).ortho
    small(scene, 2)
    assert small(scene, 1).ortho is not first  # evicted, rendered again (equal values)
    np.testing.assert_array_equal(small(scene, 1).ortho, first)


@pytest.mark.parametrize(("k", "flip"), [(1, False), (2, True), (3, True)])
def test_symmetries_move_the_rendered_ortho_and_ndsm_with_the_map(geo, k, flip):
    renderer = TileRenderer(["ortho_ir", "ndsm"], seed=1)
    sample = _ortho_sample(geo, renderer)
    moved = transform_sample(sample, k, flip)
    np.testing.assert_array_equal(moved.scene.ortho, transform_array(sample.scene.ortho, k, flip))
    np.testing.assert_array_equal(moved.scene.ndsm, transform_array(sample.scene.ndsm, k, flip))
    channels = [*ORTHO_CHANNELS, "ndsm"]
    before = feature_stack(sample.scene, sample.site, channels)
    after = feature_stack(moved.scene, moved.site, channels)
    np.testing.assert_array_equal(after, transform_array(before, k, flip))


def test_ortho_augmentation_changes_the_image_each_epoch_but_not_the_geometry(geo):
    renderer = TileRenderer(ORTHO_NET, seed=0)
    samples = [_ortho_sample(geo, renderer, row=6 + i) for i in range(3)]
    n_ortho = 3  # the first three channels of ORTHO_NET

    def epochs(**kw):
        batches = MapBatches(samples, ORTHO_NET, 3, seed=4, **kw)
        return next(iter(batches)), next(iter(batches))

    (x1, t1, m1), (x2, t2, m2) = epochs(ortho_augment=1.0)
    assert torch.equal(x1[:, n_ortho:], x2[:, n_ortho:])  # nDSM and geometry untouched
    assert torch.equal(t1, t2) and torch.equal(m1, m2)
    for i in range(3):  # every map's orthophoto differs between the epochs
        assert (x1[i, :n_ortho] - x2[i, :n_ortho]).abs().mean() > 1e-3
    assert 0.0 <= float(x1[:, :n_ortho].min()) and float(x1[:, :n_ortho].max()) <= 1.0
    (p1, _, _), (p2, _, _) = epochs()  # no photometric augmentation: the rendering itself
    assert torch.equal(p1, p2)
    assert torch.equal(p1[0, :n_ortho], torch.from_numpy(samples[0].scene.ortho.copy()))
    # its own random stream: the shuffle and the symmetries do not depend on it
    (g1, _, _), _ = epochs(augment=True, shuffle=True, ortho_augment=0.5)
    (g2, _, _), _ = epochs(augment=True, shuffle=True)
    assert torch.equal(g1[:, n_ortho:], g2[:, n_ortho:])
    assert not torch.equal(g1[:, :n_ortho], g2[:, :n_ortho])


# -- cached ray-walk channels --------------------------------------------------------------------
CACHED_NET = [
    *DEFAULT_CHANNELS,
    "los",
    "building_depth",
    "knife_edge_db",
    "detour",
    "free_space_db",
]
#: float16 storage of the obstruction channels: relative error 2**-11 (plus subnormals near 0).
F16 = {"rtol": 5e-4, "atol": 1e-7}


def _keyed(geo, key="map", **kw) -> MapSample:
    return replace(_sample(geo, **kw), key=key)


def _ray_counter(monkeypatch) -> dict[str, int]:
    """Count the ray walks (rasterize imports them from radiomap_geo.los at call time)."""
    import radiomap_geo.los as los

    calls = {"line_of_sight": 0, "obstruction": 0}
    for name in calls:
        original = getattr(los, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(los, name, counted)
    return calls


def _assert_same_inputs(cached: np.ndarray, fresh: np.ndarray, channels, moved_ok=0.01) -> None:
    """Cheap channels identical; ray-walk channels equal (``los``) or equal within float16
    precision except on at most ``moved_ok`` of the cells (a transformed map's fresh ray walk
    rounds ray samples on cell boundaries the other way, see :class:`RayChannelCache`).
    """
    for i, name in enumerate(channels):
        if name in RAY_CHANNELS:
            tol = {"rtol": 0.0, "atol": 0.0} if name == "los" else F16
            close = np.isclose(cached[i], fresh[i], **tol)
            assert close.mean() >= 1 - moved_ok, (name, close.mean())
        else:
            np.testing.assert_array_equal(cached[i], fresh[i], err_msg=name)


def test_composed_symmetries_equal_the_two_applied_in_turn():
    array = np.arange(12.0).reshape(3, 4)
    for k1, f1, k2, f2 in np.ndindex(4, 2, 4, 2):
        k, flip = compose_symmetries((k1, bool(f1)), (k2, bool(f2)))
        twice = transform_array(transform_array(array, k1, bool(f1)), k2, bool(f2))
        np.testing.assert_array_equal(transform_array(array, k, flip), twice)


@pytest.mark.parametrize(
    ("k", "flip"), [(0, False), (1, False), (2, False), (3, False), (0, True), (1, True), (3, True)]
)
def test_cached_channels_are_the_whole_maps_moved_with_the_map(geo, k, flip):
    sample = _keyed(geo)
    cache = RayChannelCache(CACHED_NET)
    cache.remember(sample)
    # two symmetries in turn ((1, True) is a reflection: its own inverse)
    moved = transform_sample(
        transform_sample(sample, 1, True), *compose_symmetries((1, True), (k, flip))
    )
    assert moved.key == "map" and moved.symmetry == (k, flip) and moved.window is None
    cached = input_stack(moved, CACHED_NET, cache)
    whole = feature_stack(sample.scene, sample.site, RAY_CHANNELS)
    for j, name in enumerate(RAY_CHANNELS):  # by definition: the whole map's rasters, moved
        expected = transform_array(whole[j], k, flip)
        got = cached[CACHED_NET.index(name)]
        if name == "los":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, **F16, err_msg=name)
    # ... and the same as computing every channel afresh on the transformed map
    _assert_same_inputs(cached, feature_stack(moved.scene, moved.site, CACHED_NET), CACHED_NET)
    assert cached.dtype == np.float32 and cached.shape == (len(CACHED_NET), 24, 24)


def test_map_batches_take_ray_channels_from_the_cache(geo, monkeypatch):
    samples = [_keyed(geo, key=i, row=6 + i, col=9 + 2 * i) for i in range(4)]
    samples.append(_sample(geo, row=12, col=3))  # no key: computed every time
    kw = dict(batch_size=2, augment=True, shuffle=True, seed=3)
    fresh = MapBatches(samples, CACHED_NET, cache=False, **kw)
    assert fresh.cache is None
    expected = [list(fresh), list(fresh)]  # two epochs, computed afresh
    calls = _ray_counter(monkeypatch)
    cached = MapBatches(samples, CACHED_NET, **kw)  # the same draws: the cache uses no rng
    for epoch in expected:
        for (x, t, m), (x0, t0, m0) in zip(cached, epoch, strict=True):
            assert torch.equal(t, t0) and torch.equal(m, m0)
            for i in range(x.shape[0]):
                _assert_same_inputs(x[i].numpy(), x0[i].numpy(), CACHED_NET)
    # one walk per keyed map (LOS comes from the same walk as the obstruction priors), plus
    # one per epoch for the map without a key
    assert calls == {"line_of_sight": 0, "obstruction": 4 + 2}
    assert cached.cache.computed == len(cached.cache) == 4 and 4 not in cached.cache


def test_validation_batches_from_the_cache_are_the_fresh_ones(geo):
    samples = [_keyed(geo, key=i, row=6 + i, col=9) for i in range(3)]
    batches = MapBatches(samples, CACHED_NET, 3)
    first, second = next(iter(batches)), next(iter(batches))  # computed, then cached
    fresh = next(iter(MapBatches(samples, CACHED_NET, 3, cache=False)))
    for got in (first, second):
        assert torch.equal(got[1], fresh[1]) and torch.equal(got[2], fresh[2])
        _assert_same_inputs(got[0].numpy()[0], fresh[0].numpy()[0], CACHED_NET, moved_ok=0.0)
    ray = [CACHED_NET.index(n) for n in RAY_CHANNELS]
    np.testing.assert_allclose(first[0][:, ray], fresh[0][:, ray], **F16)
    assert torch.equal(first[0], second[0])


def test_cache_memory_per_map_and_what_it_keeps(geo):
    cells = 24 * 24
    for channels, per_cell in (
        (CACHED_NET, 1 + 2 + 2 + 2),  # los bool, three float16 rasters
        (["distance", "los"], 1),
        (["knife_edge_db"], 2),
    ):
        cache = RayChannelCache(channels)
        for i in range(3):
            cache.remember(_keyed(geo, key=i))
        assert len(cache) == 3 and cache.nbytes == 3 * per_cell * cells, channels
    assert RayChannelCache.for_channels(["distance", "antenna_gain"]) is None
    assert MapBatches([], ["distance"], 1).cache is None
    small = RayChannelCache(["los"], max_maps=2)
    for key in (0, 1, 0, 2):  # least recently used first out
        small.remember(_keyed(geo, key=key))
    assert 0 in small and 2 in small and 1 not in small and small.computed == 3


def test_only_whole_keyed_maps_fill_the_cache(geo):
    cache = RayChannelCache(CACHED_NET)
    cache.remember(_sample(geo))  # no key
    cache.remember(transform_sample(_keyed(geo), 1, False))  # not the map as it is
    assert len(cache) == 0 and cache.channels(_keyed(geo)) is None
    sample = _keyed(geo)
    assert input_stack(sample, CACHED_NET, cache).shape == (13, 24, 24)  # computed, not cached
    assert len(cache) == 0
    with pytest.raises(ValueError, match="window"):
        replace(sample, window=(0, 0, 12, 24))
