"""Every learner trains a few steps with falling loss; the log-distance fit recovers its law."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiomap_geo.measurements import learners


def test_vae_loss_falls_and_latent_has_configured_size():
    rng = np.random.default_rng(0)
    images = np.zeros((64, 3, 48, 48), np.float32)
    for i in range(64):  # a bar at a random row: structure a 2-d latent can capture
        images[i, 2, rng.integers(4, 44), :] = 1.0
    history: list[float] = []
    vae = learners.train_vae(images, latent_dim=3, epochs=4, batch_size=16, history=history)
    assert history[-1] < history[0]
    assert learners.encode_images(vae, images[:5]).shape == (5, 3)


@pytest.mark.parametrize("likelihood", [True, False])
def test_mlps_fit_a_smooth_field_with_falling_loss(likelihood):
    rng = np.random.default_rng(1)
    x = rng.uniform(-200, 200, (300, 4))
    y = -60 - 30 * np.log10(np.hypot(x[:, 0], x[:, 1]) + 10) + rng.normal(0, 1, 300)
    model = learners.train_regressor(x, y, likelihood=likelihood, max_epochs=60, patience=1000)
    assert model.train_losses[-1] < 0.5 * model.train_losses[0]
    mu, sigma = model.predict(x)
    assert np.mean(np.abs(mu - y)) < np.mean(np.abs(y - y.mean()))
    assert (sigma is not None) == likelihood
    if likelihood:
        assert np.all(sigma > 0)


def test_early_stopping_stops_and_restores_best():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    y = rng.normal(size=40)  # pure noise: validation loss cannot keep improving
    model = learners.train_regressor(x, y, likelihood=True, max_epochs=400)
    assert len(model.train_losses) < 400
    assert min(model.val_losses) == pytest.approx(
        model.val_losses[int(np.argmin(model.val_losses))]
    )


def test_ldpl_robust_fit_ignores_outliers():
    d = np.geomspace(20, 800, 200)
    rsrp = -30 - 10 * 3.2 * np.log10(d)
    rsrp[::25] += 30  # gross outliers
    a, n = learners.fit_ldpl(d, rsrp)
    assert n == pytest.approx(3.2, abs=0.05) and a == pytest.approx(-30, abs=1)


def test_likelihood_outputs_variance_head():
    net = learners.LikelihoodMLP(6)
    mean, var = net(torch.zeros(3, 6))
    assert mean.shape == (3,) and var.shape == (3,) and bool((var > 0).all())


def test_count_aware_likelihood_learns_the_reading_variance():
    # bins of 1..8 readings, each reading N(mean, 3 dB): the bin mean's scatter is 9 / count
    rng = np.random.default_rng(3)
    x = rng.uniform(-200, 200, (600, 2))
    counts = rng.integers(1, 9, 600).astype(float)
    truth = -70 - 0.05 * x[:, 0]
    y = truth + rng.normal(0, 3.0, 600) / np.sqrt(counts)
    model = learners.train_regressor(x, y, likelihood=True, counts=counts, patience=30)
    assert 4.0 < model.reading_var < 16.0  # 9 dB^2, learned from the counts alone
    # sigma is calibrated on held-out bins: ~68 % of fresh bins fall inside +-1 sigma
    fresh = rng.uniform(-200, 200, (2000, 2))
    fresh_y = (
        -70 - 0.05 * fresh[:, 0] + rng.normal(0, 3.0, 2000) / np.sqrt(rng.integers(1, 9, 2000))
    )
    mu, sigma = model.predict(fresh)
    assert 0.55 < np.mean(np.abs(fresh_y - mu) <= sigma) < 0.8
    plain = learners.train_regressor(x, y, likelihood=True, patience=30)
    assert plain.reading_var == 0.0


def test_ensemble_predicts_the_mixture_of_its_members():
    rng = np.random.default_rng(4)
    x = rng.uniform(-100, 100, (200, 2))
    y = -60 - 0.1 * x[:, 1] + rng.normal(0, 1, 200)
    ensemble = learners.train_ensemble(x, y, likelihood=True, members=3, seed=1)
    assert len(ensemble.members) == 3
    outputs = [m.predict(x[:5]) for m in ensemble.members]
    mu, sigma = ensemble.predict(x[:5])
    means = np.stack([o[0] for o in outputs])
    assert np.allclose(mu, means.mean(0), atol=1e-5)
    # the mixture is at least as wide as its members on average and includes their spread
    spread = means.std(0)
    inner = np.sqrt(np.mean([o[1] ** 2 for o in outputs], axis=0))
    assert np.allclose(sigma, np.sqrt(inner**2 + spread**2), rtol=1e-3)
    mlp = learners.train_ensemble(x, y, likelihood=False, members=2)
    assert mlp.predict(x[:5])[1] is None
