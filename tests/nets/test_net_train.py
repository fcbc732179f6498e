"""The training loop: masked robust loss, validation, early stopping, checkpoints and resume."""

import numpy as np
import pytest
import torch

from radiomap_geo.nets import (
    MapBatches,
    MapSample,
    OutputScaling,
    TrainConfig,
    build_network,
    train,
)
from radiomap_geo.nets.train import masked_loss

CHANNELS = ["building_height", "log_distance", "tx"]
SCALING = OutputScaling(-160.0, -40.0)


def _samples(geo, n=4, size=16):
    """Maps whose label is a log-distance law (4 m cells, labels only outside buildings)."""
    grid = geo.make_grid(size, size, 4.0)
    out = []
    for i in range(n):
        scene = geo.random_scene(grid, seed=i, blocks=3)
        site = geo.site_at_cell(grid, (3 + 5 * i) % size, (2 + 3 * i) % size, height_m=10.0)
        x, y = grid.cell_centers()
        d = np.maximum(np.hypot(x - site.x, y - site.y), 1.0)
        gain = (-50.0 - 25.0 * np.log10(d)).astype(np.float32)
        out.append(MapSample(scene, site, gain, scene.building_height == 0))
    return out


def test_masked_loss_ignores_invalid_cells_and_downweights_weak_ones():
    cfg = TrainConfig(loss="mse", weak_threshold_db=-120.0, weak_weight=0.25)
    target = torch.tensor([[[[-100.0, -130.0, float("nan")]]]])
    mask = torch.tensor([[[[True, True, False]]]])
    pred = SCALING.to_norm(torch.tensor([[[[-88.0, -118.0, 0.0]]]]))  # both 12 dB too strong
    loss = masked_loss(pred, target, mask, SCALING, cfg)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx((12.0 / 120.0) ** 2, rel=1e-5)  # weights cancel
    pred_mixed = SCALING.to_norm(torch.tensor([[[[-100.0, -118.0, 0.0]]]]))  # only the weak one off
    weighted = masked_loss(pred_mixed, target, mask, SCALING, cfg).item()
    assert weighted == pytest.approx(0.25 * (12.0 / 120.0) ** 2 / 1.25, rel=1e-5)
    # Huber: quadratic inside the delta, linear outside.
    huber = TrainConfig(loss="huber", huber_delta_db=6.0)
    far = masked_loss(
        SCALING.to_norm(torch.tensor([[[[-40.0]]]])),
        torch.tensor([[[[-100.0]]]]),
        torch.tensor([[[[True]]]]),
        SCALING,
        huber,
    ).item()
    delta = 6.0 / 120.0
    assert far == pytest.approx(delta * (60.0 / 120.0 - 0.5 * delta), rel=1e-5)


def test_training_improves_validation_and_checkpoints(geo, tmp_path):
    samples = _samples(geo)
    train_b = MapBatches(samples[:3], CHANNELS, 1, augment=True, seed=0)
    val_b = MapBatches(samples[3:], CHANNELS, 1)
    # Baseline: the best constant (the mean training label) on the validation map.
    mean = np.concatenate([s.path_gain_db[s.valid] for s in samples[:3]]).mean()
    val = samples[3]
    constant_rmse = float(np.sqrt(np.mean((val.path_gain_db[val.valid] - mean) ** 2)))
    net = build_network("unet", len(CHANNELS), base=6, depth=2)
    cfg = TrainConfig(epochs=40, lr=1e-2, patience=40)
    records = []
    result = train(
        net, train_b, val_b, cfg, SCALING, checkpoint_path=tmp_path / "ck.pt", log=records.append
    )
    assert len(result.history) == 40 and records == result.history
    rmse = [r["val_rmse_db"] for r in result.history]
    assert min(rmse) < 0.5 * constant_rmse, (constant_rmse, rmse)
    assert result.best_epoch == int(np.argmin([r["val_loss"] for r in result.history]))
    assert (tmp_path / "ck.pt").exists()
    assert not list(tmp_path.glob("*.tmp"))  # atomic: no leftovers


def test_resume_continues_exactly(geo, tmp_path):
    samples = _samples(geo)
    cfg = TrainConfig(epochs=4, lr=5e-3, patience=10, schedule="cosine")

    def run(ckpt, fail_after=None):
        torch.manual_seed(0)
        net = build_network("unet", len(CHANNELS), base=4, depth=2)

        def log(record):
            if fail_after is not None and record["epoch"] == fail_after:
                raise KeyboardInterrupt

        result = train(
            net,
            MapBatches(samples[:2], CHANNELS, 2),
            MapBatches(samples[2:], CHANNELS, 2),
            cfg,
            SCALING,
            checkpoint_path=ckpt,
            log=log,
        )
        return net, result

    straight, r1 = run(tmp_path / "a.pt")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.pt", fail_after=1)
    resumed, r2 = run(tmp_path / "b.pt")
    assert [h["epoch"] for h in r2.history] == [0, 1, 2, 3]
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    assert r2.best_val_loss == pytest.approx(r1.best_val_loss)


def test_early_stopping_restores_best_weights(geo):
    """The returned network is the best epoch's, not the last one's: its validation loss is the
    best recorded one, clearly below the loss of the epochs that followed."""
    from dataclasses import replace

    from radiomap_geo.nets.train import validate

    samples = _samples(geo, n=2)
    # Training labels 35 dB above the validation labels: validation improves while the output
    # rises from its start towards the validation level, then worsens as it overshoots.
    train_sample = replace(samples[0], path_gain_db=samples[0].path_gain_db + 35.0)
    torch.manual_seed(0)
    net = build_network("cnn", len(CHANNELS), depth=2, width=4)
    cfg = TrainConfig(epochs=60, lr=3e-2, schedule="constant", patience=3)
    val = MapBatches(samples[1:], CHANNELS, 1)
    result = train(net, MapBatches([train_sample], CHANNELS, 1), val, cfg, SCALING)
    losses = [h["val_loss"] for h in result.history]
    assert result.stopped_early and len(losses) == result.best_epoch + 1 + cfg.patience
    assert result.best_val_loss == min(losses) == losses[result.best_epoch]
    assert min(losses[result.best_epoch + 1 :]) > result.best_val_loss * 1.05  # truly worse
    restored = validate(net, val, SCALING, cfg)["val_loss"]
    assert restored == pytest.approx(result.best_val_loss, rel=1e-6)
    assert restored < losses[-1] * 0.95  # not the weights of the last epoch


def test_streams_need_steps_per_epoch(geo):
    samples = _samples(geo, n=2)
    stream = MapBatches(lambda: iter(samples), CHANNELS, 1)
    net = build_network("cnn", len(CHANNELS), depth=2, width=4)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        train(net, stream, None, TrainConfig(epochs=1), SCALING)
    result = train(net, stream, None, TrainConfig(epochs=2, steps_per_epoch=1), SCALING)
    assert len(result.history) == 2


def test_resume_refuses_another_schedule(geo, tmp_path):
    samples = _samples(geo, n=2)
    batches = MapBatches(samples, CHANNELS, 2)
    net = build_network("cnn", len(CHANNELS), depth=2, width=4)
    train(net, batches, None, TrainConfig(epochs=1), SCALING, checkpoint_path=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="different"):
        train(net, batches, None, TrainConfig(epochs=3), SCALING, checkpoint_path=tmp_path / "c.pt")


@pytest.mark.parametrize("weak_weight", [0.25, 1.0])
def test_down_weighting_weak_labels_biases_the_fit_towards_strong_ones(weak_weight):
    """The loss's optimum on a crafted shadow: half its cells at -125 dB, half at -115 dB.

    One level is fitted to both (what a network does where its inputs cannot tell the cells
    apart). With squared loss and weak cells (< -120 dB) weighted w, the optimum is the weighted
    mean: -120 dB for w = 1, -117 dB for w = 0.25, a +3 dB bias where the prediction says -117.
    """
    cfg = TrainConfig(loss="mse", weak_threshold_db=-120.0, weak_weight=weak_weight)
    target = torch.tensor([-125.0, -115.0] * 32).reshape(1, 1, 8, 8)
    mask = torch.ones_like(target, dtype=torch.bool)
    level = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([level], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        pred = SCALING.to_norm(torch.tensor(-120.0)) + level
        loss = masked_loss(pred.expand_as(target), target, mask, SCALING, cfg)
        loss.backward()
        return loss

    optimiser.step(closure)
    fitted_db = float(SCALING.to_db(SCALING.to_norm(torch.tensor(-120.0)) + level.detach()))
    expected = (weak_weight * -125.0 + -115.0) / (weak_weight + 1.0)
    assert fitted_db == pytest.approx(expected, abs=0.05)
    assert fitted_db - (-120.0) == pytest.approx(0.0 if weak_weight == 1.0 else 3.0, abs=0.05)


def _fitted_level_db(target_db: torch.Tensor, cfg: TrainConfig) -> float:
    """The one level (dB) that minimises ``cfg``'s loss over every cell of ``target_db``."""
    mask = torch.ones_like(target_db, dtype=torch.bool)
    start = SCALING.to_norm(target_db.mean())
    level = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([level], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = masked_loss((start + level).expand_as(target_db), target_db, mask, SCALING, cfg)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(SCALING.to_db(start + level.detach()))


def test_power_loss_fits_the_mean_power_of_noisy_labels():
    """Labels as a ray tracer gives them where few rays arrive: the dB of an unbiased power
    estimate (here exponential around -110 dB). Squared or Huber loss on dB fits the mean of the
    dB, 2.5 dB (Euler's gamma in dB) below the true power; the power loss fits the power."""
    generator = torch.Generator().manual_seed(0)
    power = torch.empty(1, 1, 64, 64).exponential_(1.0, generator=generator)
    target = -110.0 + 10.0 * torch.log10(power)
    assert _fitted_level_db(target, TrainConfig(loss="mse")) == pytest.approx(-112.5, abs=0.2)
    assert _fitted_level_db(target, TrainConfig(loss="huber")) < -111.5
    assert _fitted_level_db(target, TrainConfig(loss="power")) == pytest.approx(-110.0, abs=0.2)
    # without noise every loss fits the label itself
    flat = torch.full((1, 1, 8, 8), -95.0)
    assert _fitted_level_db(flat, TrainConfig(loss="power")) == pytest.approx(-95.0, abs=1e-3)


def test_power_loss_is_quadratic_near_the_label_and_linear_far_above_it():
    from radiomap_geo.nets.train import POWER_LINEAR_FROM_DB, power_deviance

    span = SCALING.span_db
    above = POWER_LINEAR_FROM_DB + torch.tensor([10.0, 20.0, 30.0])
    errors_db = torch.cat([torch.tensor([-0.1, 0.1]), above])
    loss = power_deviance(torch.zeros(5), errors_db / span, span)
    small = (0.1 / span) ** 2 / 2  # like mse / 2 in normalised units
    assert float(loss[0]) == pytest.approx(small, rel=0.05)
    assert float(loss[1]) == pytest.approx(small, rel=0.05)
    steps = torch.diff(loss[2:])  # equal steps beyond the knee: a straight line
    assert float(steps[0]) == pytest.approx(float(steps[1]), rel=1e-4)
