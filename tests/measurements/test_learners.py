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
