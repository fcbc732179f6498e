import numpy as np
import pytest

from radiomap_geo.sparse.baselines import BASELINES
from radiomap_geo.sparse.sampling import Pattern

from .helpers import street_map


def _rmse(pred, ctx, measured):
    keep = ctx.valid & ~measured
    return float(np.sqrt(np.mean((pred - ctx.gain_db)[keep] ** 2)))


@pytest.mark.parametrize("name", ["idw", "knn", "random-forest", "kriging", "regression-kriging"])
def test_each_baseline_beats_the_mean_of_the_measurements(name):
    ctx = street_map()
    measured = Pattern.parse("uniform:5%").draw(ctx.valid, np.random.default_rng(0))
    values = np.nan_to_num(ctx.gain_db)
    pred = BASELINES[name](ctx, measured, values)
    assert pred.shape == ctx.shape and np.isfinite(pred).all()
    mean = np.full(ctx.shape, values[measured].mean())
    assert _rmse(pred, ctx, measured) < 0.8 * _rmse(mean, ctx, measured)


def test_kriging_honours_the_measurements_and_regression_kriging_removes_the_bias():
    ctx = street_map()
    measured = Pattern.parse("uniform:5%").draw(ctx.valid, np.random.default_rng(3))
    values = np.nan_to_num(ctx.gain_db)
    kriged = BASELINES["kriging"](ctx, measured, values)
    assert np.abs(kriged - values)[measured].max() < 0.5
    geometry = BASELINES["geometry"](ctx, measured, values)
    corrected = BASELINES["regression-kriging"](ctx, measured, values)
    # the geometry map is 6 dB high with 2 dB noise: regression kriging removes the offset
    assert abs(float(np.mean((geometry - ctx.gain_db)[ctx.valid]))) > 5
    assert abs(float(np.mean((corrected - ctx.gain_db)[ctx.valid & ~measured]))) < 1.0
