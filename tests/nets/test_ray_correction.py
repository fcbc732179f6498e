"""The ray-count correction: fitted from two traces' labels by predicted bin, stored in the
weights, added to every prediction."""

import numpy as np
import pytest
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.nets import NetworkModel, build_network, make_metadata, save_weights
from radiomap_geo.nets.model import window_scene
from radiomap_geo.nets.ray_correction import CorrectionFit, RayCountCorrection
from radiomap_geo.nets.ray_correction_fit import with_ray_correction
from radiomap_geo.rasterize import feature_stack

EDGES = (-140.0, -120.0, -100.0)


def test_the_shift_of_a_cell_follows_its_predicted_bin_and_line_of_sight():
    table = RayCountCorrection(EDGES, (0.0, 1.0, 2.0, 3.0), (0.0, 0.5, 0.5, 0.0), (3e6, 1e7))
    db = np.array([-150.0, -130.0, -110.0, -90.0, -110.0, -130.0], np.float32)
    los = np.array([False, False, False, False, True, True])
    np.testing.assert_allclose(table.apply(db, los), db + [0.0, 1.0, 2.0, 3.0, 0.5, 0.5])
    assert RayCountCorrection.from_dict(table.to_dict()) == table
    with pytest.raises(InputError, match="unknown output correction"):
        RayCountCorrection.from_dict({**table.to_dict(), "kind": "other"})
    with pytest.raises(InputError, match="4 values per table"):
        RayCountCorrection(EDGES, (0.0,), (0.0,) * 4, (3e6, 1e7))


def test_the_fit_recovers_the_mean_label_gap_per_bin_and_ignores_sparse_bins():
    rng = np.random.default_rng(1)
    pred = rng.uniform(-135.0, -105.0, 100_000)  # bins [-140, -120) and [-120, -100)
    los = rng.random(pred.size) < 0.3
    fewer = pred + rng.normal(0.0, 6.0, pred.size)
    # the trace with more rays: 1.5 dB higher in NLOS, 0.5 dB in sight, noise of its own
    more = fewer + np.where(los, 0.5, 1.5) + rng.normal(0.0, 2.0, pred.size)
    fewer[:1000] = np.nan  # a cell the fewer-ray run missed has no gap to count
    fit = CorrectionFit(EDGES)
    fit.add(pred, los, fewer, more, np.ones(pred.size, bool))
    fit.add(np.array([-90.0]), np.array([False]), np.array([-90.0]), np.array([-60.0]), True)
    table = fit.result((3e6, 1e7))
    assert table.cells == 99_001
    np.testing.assert_allclose(table.nlos_db[1:3], 1.5, atol=0.05)
    np.testing.assert_allclose(table.los_db[1:3], 0.5, atol=0.05)
    assert table.nlos_db[3] == 0.0  # one cell: too few to trust its +30 dB
    with pytest.raises(InputError, match="nothing to fit"):
        CorrectionFit(EDGES).result((3e6, 1e7))


def test_a_corrected_weights_file_adds_the_table_to_every_prediction(tmp_path, geo):
    channels = ["building_height", "distance", "los"]
    torch.manual_seed(0)
    net = build_network("unet", len(channels), base=4, depth=2)
    meta = make_metadata(net, channels, metres_per_pixel=2.0, frequency_mhz=3500.0, reach_m=30.0)
    plain = save_weights(net, meta, tmp_path / "plain", "tiny")
    # the same shift in every bin: 2 dB out of sight, 0.5 dB in sight
    table = RayCountCorrection(EDGES, (2.0,) * 4, (0.5,) * 4, (3e6, 1e7), cells=10)
    corrected = with_ray_correction(plain, table, tmp_path / "corrected")
    assert corrected.name != plain.name  # a new file: the metadata is part of its hash
    grid = geo.make_grid(32, 32, 2.0)
    scene = geo.random_scene(grid)
    site = geo.site_at_cell(grid, 16, 16)
    window = window_scene(scene, 0, 0, 32, 32)
    before = NetworkModel.from_weights(plain, device="cpu").predict_window(window, site)
    after_model = NetworkModel.from_weights(corrected, device="cpu")
    after = after_model.predict_window(window, site)
    (los,) = feature_stack(window, site, ["los"])
    assert 0 < (los > 0.5).sum() < los.size  # the scene has cells in and out of sight
    np.testing.assert_allclose(after - before, np.where(los > 0.5, 0.5, 2.0), atol=1e-4)
    # with the symmetries averaged the line of sight is computed apart; same shift
    after_model.tta = 4
    tta_before = NetworkModel.from_weights(plain, device="cpu", tta=4).predict_window(window, site)
    np.testing.assert_allclose(
        after_model.predict_window(window, site) - tta_before,
        np.where(los > 0.5, 0.5, 2.0),
        atol=1e-4,
    )


def test_bins_agree_with_numpy_digitize_at_and_between_the_edges():
    uniform = RayCountCorrection(
        tuple(float(e) for e in range(-160, -45, 5)), (0.0,) * 24, (0.0,) * 24, (3e6, 1e7)
    )
    uneven = RayCountCorrection((-140.0, -125.0, -100.0), (0.0,) * 4, (0.0,) * 4, (3e6, 1e7))
    rng = np.random.default_rng(2)
    for table in (uniform, uneven):
        edges = np.asarray(table.edges_db, np.float32)
        db = np.concatenate([edges, edges - 1e-3, rng.uniform(-200, 0, 10_000)]).astype(np.float32)
        np.testing.assert_array_equal(table.bins(db), np.digitize(db, edges))
        assert table.bins(np.array([np.nan], np.float32))[0] == len(edges)
