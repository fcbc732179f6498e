import numpy as np
import pytest
from scipy.ndimage import label

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.sampling import (
    EVALUATION_PATTERNS,
    Pattern,
    training_pattern,
    trajectory_mask,
)

from .helpers import street_map


def test_every_evaluation_pattern_parses_and_round_trips():
    for text in EVALUATION_PATTERNS:
        assert Pattern.parse(text).label == text


@pytest.mark.parametrize(
    "text", ["uniform:1", "uniform:0%", "count:2.5", "count:5%", "grid:3", "", "trajectory:150%"]
)
def test_bad_patterns_name_the_accepted_forms(text):
    with pytest.raises(InputError, match="uniform:<percent>|percentage|whole number") as err:
        Pattern.parse(text)
    assert err.value.parameter == "patterns"


@pytest.mark.parametrize("text", ["count:0", "count:0.0"])
def test_a_count_of_zero_asks_for_at_least_one_point(text):
    with pytest.raises(InputError, match=f"'{text}': count needs at least 1 point") as err:
        Pattern.parse(text)
    assert "whole number" not in str(err.value) and err.value.parameter == "patterns"


def test_uniform_and_count_draw_exact_numbers_inside_the_measurable_cells():
    ctx = street_map()
    n_valid = int(ctx.valid.sum())
    rng = np.random.default_rng(1)
    m = Pattern.parse("uniform:5%").draw(ctx.valid, rng)
    assert m.sum() == round(0.05 * n_valid)
    assert not (m & ~ctx.valid).any()
    m = Pattern.parse("count:30").draw(ctx.valid, rng)
    assert m.sum() == 30 and not (m & ~ctx.valid).any()
    # tiny densities still give one point
    assert Pattern.parse("uniform:0.01%").draw(ctx.valid, rng).sum() == 1


def test_trajectories_are_contiguous_street_walks():
    ctx = street_map()
    rng = np.random.default_rng(2)
    m = trajectory_mask(ctx.valid, 200, rng)
    assert m.sum() == 200
    assert not (m & (ctx.heights > 0)).any()
    _, pieces = label(m)  # 4-connected components
    # walks of up to 64 cells: a handful of pieces, unlike 200 scattered points
    assert pieces <= 200 // 16
    scattered = Pattern.parse("count:200").draw(ctx.valid, np.random.default_rng(2))
    assert label(scattered)[1] > 4 * pieces


def test_same_seed_same_pattern():
    ctx = street_map()
    a = Pattern.parse("trajectory:5%").draw(ctx.valid, np.random.default_rng(7), ctx.outdoor)
    b = Pattern.parse("trajectory:5%").draw(ctx.valid, np.random.default_rng(7), ctx.outdoor)
    assert (a == b).all()


def test_training_mixture_covers_all_families():
    rng = np.random.default_rng(0)
    kinds = {training_pattern(rng).kind for _ in range(200)}
    assert kinds == {"uniform", "count", "trajectory"}
