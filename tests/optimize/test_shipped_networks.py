"""Every shipped network that reads the antenna orientation optimises; image models say why not."""

from __future__ import annotations

import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.models.registry import get_model, shipped_models
from radiomap_geo.optimize import OptimizeOptions, optimize_sites
from radiomap_geo.optimize.surrogate import network_of, reads_orientation
from tests.optimize.conftest import rooftop_site

IMAGE_CHANNELS = {"ndsm", "ortho_r", "ortho_g", "ortho_b", "ortho_ir"}


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_shipped_network(name, street_grid, street_heights):
    model = get_model(name)
    net = network_of(model)
    assert net is not None and reads_orientation(net)  # all shipped ones read antenna_gain
    sites = rooftop_site(street_grid, 150.0)
    options = OptimizeOptions(method="gradient", budget=2, learning_rate=0.1)
    if IMAGE_CHANNELS & set(net.channels):
        with pytest.raises(InputError, match="ndsm|ortho"):
            optimize_sites(street_grid, sites, heights=street_heights, model=model, options=options)
        return
    result = optimize_sites(
        street_grid, sites, heights=street_heights, model=model, options=options
    )
    moved = result.searches["gradient"].curve
    assert len(moved) == 2 and moved[0]["soft"] != moved[1]["soft"]  # the step changed the maps
