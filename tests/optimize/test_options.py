"""Which settings each objective and method reads (front ends refuse the others when given),
the default cell size, and the models the optimisation can use.
"""

from __future__ import annotations

import itertools

import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.models.registry import default_model, get_model, list_models
from radiomap_geo.optimize import RESOLUTION_M, OptimizeOptions, optimize_sites, resolve_model
from radiomap_geo.optimize.options import METHODS, OBJECTIVES
from radiomap_geo.optimize.surrogate import usable_models
from tests.optimize.conftest import rooftop_site

#: What each objective reads, and what gradient descent adds (written out by hand from
#: objectives.py and search.py).
OBJECTIVE_READS = {
    "percentile": {"percentile"},
    "sinr-coverage": {"threshold_db", "noise_figure_db"},
    "rsrp-coverage": {"threshold_dbm"},
}
SOFT_SHAPE = {
    "percentile": "temperature_db",
    "sinr-coverage": "slope_db",
    "rsrp-coverage": "slope_db",
}
ALL = {
    "percentile",
    "threshold_db",
    "threshold_dbm",
    "noise_figure_db",
    "temperature_db",
    "slope_db",
    "starts",
    "learning_rate",
    "seed",
}


@pytest.mark.parametrize(("objective", "method"), list(itertools.product(OBJECTIVES, METHODS)))
def test_every_objective_and_method_pair_leaves_exactly_the_unread_settings(objective, method):
    read = set(OBJECTIVE_READS[objective])
    if method in ("gradient", "both"):
        read |= {SOFT_SHAPE[objective], "starts", "learning_rate"}
    if method in ("random", "both"):
        read |= {"seed"}
    options = OptimizeOptions(objective=objective, method=method)
    unread = options.unread()
    assert set(unread) - {"power_span_db"} == ALL - read
    # each names the field that leaves it unread, with the values that would read it
    if "threshold_db" in unread:
        assert unread["threshold_db"] == {"objective": ("sinr-coverage",)}
    if method == "random":
        assert unread["starts"] == {"method": ("gradient", "both")}


def test_seed_power_span_and_soft_shapes_by_configuration():
    assert "seed" not in OptimizeOptions(method="gradient", starts=2, budget=4).unread()
    assert OptimizeOptions(method="gradient").unread()["seed"] == {"method": ("random", "both")}
    assert OptimizeOptions().unread()["power_span_db"] == {"params": ("power",)}
    assert "power_span_db" not in OptimizeOptions(params=("azimuth", "power")).unread()
    both = OptimizeOptions(objective="sinr-coverage", method="random").unread()["temperature_db"]
    assert both == {"objective": ("percentile",), "method": ("gradient", "both")}


def test_default_cell_size_is_the_default_networks():
    model = get_model(default_model())
    assert model.native_resolution_m == RESOLUTION_M == 2.0


def test_models_reading_rasters_are_refused_with_the_usable_ones(street_grid, street_heights):
    networks, others = usable_models()
    assert default_model() in networks
    assert {"unet-ndsm", "unet-ortho"}.isdisjoint(networks + others)
    assert "3gpp-uma" in others and "3gpp-uma" not in networks
    assert set(networks + others) == set(list_models()) - {"unet-ndsm", "unet-ortho"}
    with pytest.raises(InputError, match="'unet-ortho' reads an orthophoto and an nDSM") as info:
        resolve_model("unet-ortho")
    assert info.value.parameter == "model"
    assert f"networks {', '.join(networks)}, or with method random" in str(info.value)
    sites = rooftop_site(street_grid, azimuth_deg=0.0)
    with pytest.raises(InputError, match="'unet-ndsm' reads an nDSM, and the optimisation"):
        optimize_sites(street_grid, sites, heights=street_heights, model="unet-ndsm")
