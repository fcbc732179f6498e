"""The networks shipped in ``weights/``: verified, documented, and the default one plausible."""

import numpy as np
import pytest

from radiomap_geo.api import BBox, Grid, load_buildings, predict_coverage, read_sites
from radiomap_geo.los import line_of_sight
from radiomap_geo.models import registry
from radiomap_geo.rasterize import rasterize_buildings

DEMO_BBOX = "24.937,60.165,24.951,60.172"


@pytest.fixture(scope="module")
def helsinki(sample_dir, sample_pbf):
    grid = Grid.from_bbox(BBox.parse(DEMO_BBOX), 2.0)
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, sample_pbf)
    result = predict_coverage(grid, sites, buildings, per_site=True)
    return grid, sites, buildings, result


def test_every_shipped_network_is_verified_small_and_documented(repo_root):
    from radiomap_geo.nets import load_weights
    from radiomap_geo.rasterize import CHANNELS

    index = registry.read_index()
    assert index, "no shipped networks"
    for name, entry in index.items():
        path = registry.weights_dir() / entry["file"]
        assert path.stat().st_size < 8 * 2**20, name  # small files in git
        loaded = load_weights(path, entry["sha256"])  # the hash is checked
        meta = loaded.metadata
        assert set(meta["channels"]) <= set(CHANNELS), name
        assert meta["metres_per_pixel"] == 2.0 and meta["frequency_mhz"] == 3500.0, name
        assert meta["training"]["seconds"] > 0 and meta["training_data"]["train_maps"] > 1000
        evaluation = meta["metrics"]["evaluation"]
        assert evaluation["split"] == "test" and evaluation["maps"] >= 400, name
        card = (registry.weights_dir() / f"{name}.md").read_text()
        assert entry["sha256"] in card and "## Metrics" in card, name


def test_the_default_model_is_a_shipped_network():
    default = registry.default_model()
    assert default in registry.read_index()
    assert registry.list_models()[0] == default


def test_default_prediction_is_strongest_at_the_site_and_shadowed_behind_buildings(helsinki):
    grid, sites, buildings, result = helsinki
    assert result.model.startswith(registry.default_model())
    heights = rasterize_buildings(buildings, grid)
    x, y = grid.cell_centers()
    for site in sites:
        gain = result[f"path_gain_db:{site.site_id}"]
        d = np.hypot(x - site.x, y - site.y)
        outdoor = np.isfinite(gain) & (heights == 0)
        visible = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, 1.5)
        # Shadows: at the same distances, cells the direct ray cannot reach are weaker.
        ring = outdoor & (d > 40) & (d < 200)
        los, nlos = gain[ring & visible], gain[ring & ~visible]
        assert len(los) > 200 and len(nlos) > 200, site.site_id
        gap = np.median(los) - np.median(nlos)
        assert gap > 6.0, (site.site_id, np.median(los), np.median(nlos))
        if site.site_id == "hel-04":  # the site that sees its street: strongest right there
            assert d.flat[np.nanargmax(np.where(outdoor, gain, np.nan))] < 30.0
            rings = [(0, 30), (30, 60), (60, 100), (100, 150), (150, 190)]
            medians = [np.median(gain[outdoor & visible & (d >= a) & (d < b)]) for a, b in rings]
            assert all(np.diff(medians) < 0), medians
            assert medians[0] - medians[-1] > 10.0, medians
