"""The ray tracer judges the street scene: turning the sector to the street is really better."""

from __future__ import annotations

import math

import pytest

from radiomap_geo.optimize import Limits, OptimizeOptions, optimize_sites, verify_result
from tests.optimize.conftest import rooftop_site

pytestmark = pytest.mark.rt


@pytest.fixture(scope="module")
def sionna_ready():
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt.llvm import configure_llvm, import_sionna_rt, libllvm_available

    configure_llvm()
    try:
        import_sionna_rt()
    except DependencyError as exc:
        pytest.skip(str(exc))
    import mitsuba as mi

    if mi.variant().startswith("llvm") and not libllvm_available():
        pytest.skip("libLLVM 19 not found: apt-get install libllvm19")


def test_tracer_confirms_the_turn_towards_the_street(sionna_ready, street_grid, street_heights):
    options = OptimizeOptions(
        objective="percentile",
        percentile=50.0,
        params=("azimuth",),
        method="gradient",
        budget=10,
        learning_rate=0.1,
        limits=Limits(azimuth_span_deg=180.0),
    )
    result = optimize_sites(
        street_grid, rooftop_site(street_grid, 180.0), heights=street_heights, options=options
    )
    verification = verify_result(result, heights=street_heights, samples_per_tx=200_000)
    verified = verification["verified"]
    assert verification["traces"] == 3  # initial twice (two seeds), gradient once
    assert 0 < verification["cells_compared"] <= verification["cells_target"] == 6 * 96
    assert math.isfinite(verification["noise_gap"]) and verification["noise_gap"] < 3.0
    # the median RSRP on the street rises by far more than the tracer's own noise
    assert verified["gradient"] > verified["initial"] + 3 * verification["noise_gap"] + 3.0
    assert set(verification["surrogate_same_cells"]) == {"initial", "gradient"}
