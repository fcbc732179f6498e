"""Cross-validation folds: random and spatially blocked; every bin scored once per method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomap_geo.measurements import crossval


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 600, n), rng.uniform(0, 600, n)
    d = np.sqrt((x - 300) ** 2 + (y - 300) ** 2 + 25.0**2)
    table = pd.DataFrame(
        {
            "cell": np.where(np.arange(n) % 2, "c1", "c2"),
            "site": "s",
            "sector": np.arange(n) % 2,
            "x": x,
            "y": y,
            "sx": 300.0,
            "sy": 300.0,
            "height_m": 25.0,
            "distance": d,
            "rsrp": -30 - 35 * np.log10(d) + rng.normal(0, 3, n),
            "count": 1,
            "month": 5,
        }
    )
    table.attrs["crs"] = "EPSG:32618"
    return table


def test_blocked_folds_never_split_a_block_and_random_folds_are_balanced():
    table = _table()
    blocked = crossval.assign_folds(table, 5, blocked=True)
    block = (table.x // crossval.BLOCK_SIZE_M).astype(int) * 100 + (table.y // 100).astype(int)
    assert (pd.Series(blocked).groupby(block.to_numpy()).nunique() == 1).all()
    random = crossval.assign_folds(table, 5, blocked=False)
    assert np.bincount(random).tolist() == [40] * 5


def test_cross_validate_scores_every_bin_once_and_ldpl_recovers_the_law():
    table = _table()
    scores = crossval.cross_validate(table, ("ldpl",), folds=5)
    assert len(scores) == len(table) and scores.fold.nunique() == 5
    pooled, per_cell, _ = crossval.summarise(scores, ["c1", "c2"])
    assert 1.5 < pooled.loc["ldpl", "mae_db"] < 3.5  # noise is 3 dB: MAE ~ 2.4
    assert 0.55 < pooled.loc["ldpl", "cover_1s"] < 0.8
    assert set(per_cell.index) == {"c1", "c2"}
    assert crossval.markdown_table(pooled).startswith("| method |")


def test_ablation_is_scored_by_its_own_recipe_and_unknown_names_are_refused():
    import pytest

    from radiomap_geo.errors import InputError
    from radiomap_geo.measurements import fitting

    table = _table(n=120)
    scores = crossval.cross_validate(table, ("mlp-physics-x5",), folds=3)
    assert len(scores) == len(table) and set(scores.method) == {"mlp-physics-x5"}
    pooled, _, _ = crossval.summarise(scores, ["c1", "c2"])
    assert pooled.loc["mlp-physics-x5", "mae_db"] < 4.0  # log-distance law + 3 dB noise
    method, recipe = fitting.resolve_method("mlp-physics-x5")
    assert method == "mlp" and recipe.physics and recipe.members == fitting.ENSEMBLE_MEMBERS
    with pytest.raises(InputError, match="unknown method 'krige'"):
        fitting.resolve_method("krige")


def test_cli_method_choices_are_the_core_methods():
    from radiomap_geo.cli.measurements import METHOD_CHOICES
    from radiomap_geo.measurements import fitting

    assert set(METHOD_CHOICES) == set(fitting.METHODS)
