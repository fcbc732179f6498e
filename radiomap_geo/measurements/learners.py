"""The learners of paper 004 and its baselines: VAE, Gaussian-likelihood MLP, plain MLP, LDPL.

* :class:`LinkVAE`: the paper's encoder (VGG-like; a first layer of parallel 3x3, 5x5 and 7x7
  convolutions, max-pooling, two more conv + pool stages, a 64-unit dense layer, two heads of
  ``latent_dim`` units for mean and log-variance) with a mirrored decoder; loss = reconstruction
  MSE + KL divergence. Trained offline on the link images; its mean latent is the feature.
* :class:`LikelihoodMLP`: dense 100 -> 50, then two heads of 50 units giving the mean and the
  variance (softplus) of RSRP; trained with the Gaussian negative log-likelihood.
* :class:`PlainMLP`: the same trunk with one head, trained with squared error (the paper's MLP).
* :func:`fit_ldpl`: ``rsrp = a - 10 n log10(d)`` by robust least squares (soft-L1).

:func:`train_regressor` trains either MLP with Adam on standardised inputs and early stopping
(patience :data:`PATIENCE` = 8 epochs, as the paper) on a held-out part of the training data,
restoring the best epoch. Beyond the paper, two options of the likelihood model:

* *count-aware variance*: a bin's mean of ``c`` readings scatters around the local mean by the
  location's own variance plus one reading's fast-fading variance divided by ``c``; with the
  bins' counts the loss uses ``var(x) + v_reading / c`` (``v_reading`` a learned scalar), so
  well-sampled bins pull the mean harder and the variance head models the place, not the
  phone's fading. On the Ottawa walks this is worth ~0.1 dB of MAE
  (``benchmarks/results/drive_tests.md``).
* :func:`train_ensemble`: several networks from different seeds and early-stopping splits
  (a deep ensemble); the mean of their means, the mixture's variance. Its spread widens the
  intervals away from the data, which keeps them calibrated on spatially blocked folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import least_squares
from torch import nn

PATIENCE = 8
MAX_EPOCHS = 400
LEARNING_RATE = 3e-3
VALIDATION_SHARE = 0.15
MIN_VARIANCE = 0.25  # dB^2: readings are integer dBm, no bin is known better than that


class LinkVAE(nn.Module):
    """Paper 004's convolutional VAE on ``(3, size, size)`` link images."""

    def __init__(self, latent_dim: int = 2, size: int = 48, width: int = 8) -> None:
        super().__init__()
        self.latent_dim, self.size, self.width = latent_dim, size, width
        self.branches = nn.ModuleList(nn.Conv2d(3, width, k, padding=k // 2) for k in (3, 5, 7))
        self.encoder = nn.Sequential(
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(3 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * width * (size // 8) ** 2, 64),
            nn.ReLU(),
        )
        self.mu = nn.Linear(64, latent_dim)
        self.logvar = nn.Linear(64, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 4 * width * (size // 8) ** 2),
            nn.Unflatten(1, (4 * width, size // 8, size // 8)),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the latent for images in [0, 1]."""
        x = images * 2.0 - 1.0  # the paper normalises channels to [-1, 1]
        h = self.encoder(torch.cat([b(x) for b in self.branches], dim=1))
        return self.mu(h), self.logvar(h)

    def forward(self, images: torch.Tensor):
        """Reconstruction (in [-1, 1]), latent mean and log-variance."""
        mu, logvar = self.encode(images)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def vae_loss(vae: LinkVAE, images: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Reconstruction MSE (summed per image) + beta x KL, averaged over the batch."""
    recon, mu, logvar = vae(images)
    target = images * 2.0 - 1.0
    rec = ((recon - target) ** 2).flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
    return (rec + beta * kl).mean()


def train_vae(
    images: np.ndarray,
    latent_dim: int = 2,
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    history: list | None = None,
) -> LinkVAE:
    """Train a :class:`LinkVAE` on ``(n, 3, s, s)`` images; per-epoch losses go to ``history``."""
    torch.manual_seed(seed)
    vae = LinkVAE(latent_dim=latent_dim, size=images.shape[-1])
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss = vae_loss(vae, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        if history is not None:
            history.append(total / len(data))
    vae.eval()
    return vae


@torch.no_grad()
def encode_images(vae: LinkVAE, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The latent means of ``images`` as an ``(n, latent_dim)`` array."""
    vae.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        out.append(vae.encode(batch.float())[0].numpy())
    return np.concatenate(out) if out else np.zeros((0, vae.latent_dim), np.float32)


class PlainMLP(nn.Module):
    """Dense 100 -> 50 -> 50 -> 1 (the paper's MLP baseline)."""

    def __init__(self, n_inputs: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(n_inputs, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU()
        )
        self.mean = nn.Sequential(nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Standardised mean and no variance."""
        return self.mean(self.trunk(x)).squeeze(-1), None


class LikelihoodMLP(PlainMLP):
    """The paper's likelihood model: mean and variance heads of 50 units each."""

    def __init__(self, n_inputs: int) -> None:
        super().__init__(n_inputs)
        self.var = nn.Sequential(nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised mean and variance."""
        h = self.trunk(x)
        var = nn.functional.softplus(self.var(h)).squeeze(-1) + MIN_VARIANCE / 100.0
        return self.mean(h).squeeze(-1), var


@dataclass
class Standardiser:
    """Feature and target standardisation fitted on training data."""

    mean: np.ndarray
    scale: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Standardiser:
        """Means and scales of ``x`` columns and of ``y``."""
        scale = x.std(0)
        return cls(x.mean(0), np.where(scale > 0, scale, 1.0), float(y.mean()), float(y.std() or 1))

    def x(self, x: np.ndarray) -> torch.Tensor:
        """Standardised features as a float32 tensor."""
        return torch.from_numpy(((x - self.mean) / self.scale).astype(np.float32))


@dataclass
class TrainedRegressor:
    """A trained MLP with its standardiser, variance scale and per-epoch losses.

    ``reading_var``: the learned variance of one reading (dB^2) of a count-aware likelihood
    model (0 otherwise); the predicted sigma is that of one reading at the place (the place's
    variance plus ``reading_var``), calibrated on held-out bins.
    """

    net: nn.Module
    std: Standardiser
    sigma_scale: float = 1.0
    reading_var: float = 0.0
    train_losses: list = field(default_factory=list)
    val_losses: list = field(default_factory=list)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean (dB) and calibrated standard deviation (dB, or None for the plain MLP)."""
        self.net.eval()
        mean, var = self.net(self.std.x(x))
        mu = mean.numpy() * self.std.y_scale + self.std.y_mean
        if var is None:
            return mu, None
        # one reading's spread: the place's own variance plus, count-aware, the fading's
        sigma = np.sqrt(var.numpy() * self.std.y_scale**2 + self.reading_var)
        return mu, np.maximum(sigma * self.sigma_scale, np.sqrt(MIN_VARIANCE))


@dataclass
class Ensemble:
    """Several :class:`TrainedRegressor` of one kind; predicts their mixture."""

    members: list[TrainedRegressor]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean of the members' means; sigma of the equal-weight Gaussian mixture (or None)."""
        outputs = [m.predict(x) for m in self.members]
        means = np.stack([mu for mu, _ in outputs])
        mu = means.mean(0)
        if outputs[0][1] is None:
            return mu, None
        second = np.stack([s**2 + m**2 for m, s in zip(means, (s for _, s in outputs))])
        return mu, np.sqrt(np.maximum(second.mean(0) - mu**2, MIN_VARIANCE))


def train_ensemble(
    x: np.ndarray, y: np.ndarray, likelihood: bool, *, members: int = 1, seed: int = 0, counts=None
) -> Ensemble:
    """:func:`train_regressor` ``members`` times (seeds ``seed``, ``seed + 1000``, ...)."""
    return Ensemble(
        [
            train_regressor(x, y, likelihood, seed=seed + 1000 * k, counts=counts)
            for k in range(max(1, members))
        ]
    )


def train_regressor(
    x: np.ndarray,
    y: np.ndarray,
    likelihood: bool,
    seed: int = 0,
    max_epochs: int = MAX_EPOCHS,
    patience: int = PATIENCE,
    counts: np.ndarray | None = None,
) -> TrainedRegressor:
    """Train :class:`LikelihoodMLP` (Gaussian NLL) or :class:`PlainMLP` (MSE), early stopped.

    A :data:`VALIDATION_SHARE` of the rows is held out for early stopping; with the likelihood
    model the same rows recalibrate the predicted sigma (the factor that makes 68.3 % of their
    standardised residuals fall inside +-1 sigma), so intervals are checked against data the
    weights never saw. ``counts`` (readings per row, likelihood model only) switch on the
    count-aware variance of the module docstring.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n = len(y)
    order = rng.permutation(n)
    n_val = max(1, int(round(VALIDATION_SHARE * n))) if n >= 8 else 0
    val, fit = order[:n_val], order[n_val:]
    std = Standardiser.fit(x[fit], y[fit])
    xt, yt = std.x(x), torch.from_numpy(((y - std.y_mean) / std.y_scale).astype(np.float32))
    net = LikelihoodMLP(x.shape[1]) if likelihood else PlainMLP(x.shape[1])
    loss_of = _Loss(net, counts if likelihood else None)
    opt = torch.optim.Adam(loss_of.parameters(), lr=LEARNING_RATE)
    result = TrainedRegressor(net, std)
    best, best_state, waited = np.inf, None, 0
    for _ in range(max_epochs):
        net.train()
        loss = loss_of(xt, yt, fit)
        opt.zero_grad()
        loss.backward()
        opt.step()
        result.train_losses.append(float(loss.detach()))
        if n_val == 0:
            continue
        with torch.no_grad():
            net.eval()
            val_loss = float(loss_of(xt, yt, val))
        result.val_losses.append(val_loss)
        if val_loss < best - 1e-5:
            best, waited = val_loss, 0
            best_state = {k: v.clone() for k, v in loss_of.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        loss_of.load_state_dict(best_state)
    result.reading_var = loss_of.reading_var() * std.y_scale**2
    if likelihood and n_val >= 5:
        mu, sigma = result.predict(x[val])
        z = np.abs(y[val] - mu) / sigma
        result.sigma_scale = float(np.clip(np.quantile(z, 0.6827), 0.5, 3.0))
    return result


class _Loss(nn.Module):
    """MSE (plain MLP) or Gaussian NLL, count-aware when counts are given (see the docstring)."""

    def __init__(self, net: nn.Module, counts: np.ndarray | None) -> None:
        super().__init__()
        self.net = net
        self.counts = None if counts is None else torch.as_tensor(counts, dtype=torch.float32)
        # log of one reading's variance in standardised units; learned only when counts are given
        self.log_reading_var = nn.Parameter(torch.tensor(-1.0), requires_grad=counts is not None)

    def reading_var(self) -> float:
        return float(self.log_reading_var.detach().exp()) if self.counts is not None else 0.0

    def forward(self, x: torch.Tensor, y: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        mean, var = self.net(x[rows])
        if var is None:
            return nn.functional.mse_loss(mean, y[rows])
        if self.counts is not None:
            var = var + self.log_reading_var.exp() / self.counts[rows]
        return nn.functional.gaussian_nll_loss(mean, y[rows], var, full=False)


def fit_ldpl(distance_m: np.ndarray, rsrp: np.ndarray) -> tuple[float, float]:
    """Robust log-distance fit ``rsrp = a - 10 n log10(d)``: ``(a, n)``, n within 1..6."""
    logd = np.log10(np.maximum(np.asarray(distance_m, float), 1.0))
    rsrp = np.asarray(rsrp, float)
    if len(rsrp) < 3 or np.ptp(logd) < 0.05:  # no distance spread: a constant is all we can say
        return float(np.median(rsrp)), 0.0

    def fun(p):
        return rsrp - (p[0] - 10 * p[1] * logd)

    start = np.array([float(np.median(rsrp)) + 30.0, 3.0])
    res = least_squares(fun, start, bounds=([-300, 1.0], [300, 6.0]), loss="soft_l1", f_scale=3.0)
    return float(res.x[0]), float(res.x[1])


def ldpl_predict(params: tuple[float, float], distance_m: np.ndarray) -> np.ndarray:
    """The log-distance model's RSRP at ``distance_m``."""
    a, n = params
    return a - 10 * n * np.log10(np.maximum(np.asarray(distance_m, float), 1.0))
