"""The shipped default network on the bundled Helsinki sample: a plausible coverage map."""

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
