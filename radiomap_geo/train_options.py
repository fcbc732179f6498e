"""Settings of network training, kept free of torch so front ends can read their defaults.

:class:`TrainConfig` (geometry networks) is what :func:`radiomap_geo.nets.train` runs with and
what checkpoints store; ``radiomap-geo train`` builds its flags from it (help text and default
beside each field), so a default is written once. :class:`SparseTrainConfig` plays the same part
for the measurement networks and ``radiomap-geo train-measurements``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from radiomap_geo.errors import InputError
from radiomap_geo.options import described

SCHEDULES = ("onecycle", "cosine", "constant")
LOSSES = ("huber", "mse", "l1", "power")
AMP_DTYPES = ("float16", "bfloat16")


@dataclass
class TrainConfig:
    """Settings of :func:`train` (all plain values, stored in checkpoints).

    The one place these defaults are written: ``radiomap-geo train`` and
    :func:`~radiomap_geo.nets.training_run.train_from_dataset` read them from here.
    """

    epochs: int = described(50, "Epochs (passes over the training maps).")
    lr: float = described(1e-3, "Peak learning rate.")
    weight_decay: float = described(1e-4, "AdamW weight decay.")
    schedule: str = described("onecycle", "Learning-rate schedule: onecycle, cosine or constant.")
    warmup_fraction: float = 0.1  # one-cycle: share of steps spent warming up
    loss: str = described(
        "huber",
        "Per-cell loss: huber, mse, l1, or power (fits the mean received power rather than "
        "the mean dB: too strong in dB wherever the network is unsure, see the README).",
    )
    huber_delta_db: float = 6.0
    weak_threshold_db: float = -120.0
    # Weights below 1 bias the fit upwards where weak and strong labels share inputs: at 0.25 a
    # predicted -125 dB was on average 7 dB too strong (benchmarks/results/loss_ablation.md).
    weak_weight: float = described(
        1.0,
        "Loss weight of labels below -120 dB (the tracer's noisy weak NLOS); below 1 trades "
        "calibration of weak predictions for RMSE on strong cells.",
    )
    aux_weight: float = 0.0  # loss weight of earlier stages (networks with forward_stages)
    init_output_bias: bool = True  # start the output at the mean label of the first batch
    grad_clip: float | None = 1.0
    patience: int = described(8, "Epochs without validation improvement before stopping.")
    min_delta: float = 1e-5  # smallest validation-loss decrease that counts
    device: str = described("cpu", "cpu, cuda or auto (CUDA with mixed precision when present).")
    amp: bool = True  # mixed precision on CUDA (never on the CPU)
    amp_dtype: str = described("float16", "Mixed-precision type on CUDA: float16 or bfloat16.")
    steps_per_epoch: int | None = None  # needed (and a cap) when batches have no len()
    checkpoint_every: int = 1
    seed: int = described(0, "Seed of the map subset, the augmentation and the initialisation.")

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}")
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f"amp_dtype must be 'float16' or 'bfloat16', not {self.amp_dtype!r}")


#: Training maps a measurement network reads by default (spread over the train split).
TRAINING_MAPS = 1024


@dataclass
class SparseTrainConfig:
    """Settings of one measurement-network training run (defaults sized for a few CPU minutes):
    what :func:`radiomap_geo.sparse.train.train_network` runs with and
    ``radiomap-geo train-measurements`` reads its defaults from.
    """

    steps: int = 1500
    batch_size: int = 8
    crop: int = 64
    lr: float = 4e-4  # paper 003, Table 1
    #: ``constant`` (paper 003) or ``cosine``: from ``lr`` down to 0 at ``steps``, which a
    #: warm start needs (a constant rate keeps the weights wandering at the noise level).
    lr_schedule: str = "constant"
    #: Start the generator from this measurement model file (same network and inputs) instead
    #: of the zero-output initialisation: continues a shipped model on new data or a new
    #: geometry default. A checkpoint, when one exists, wins (the run is being resumed).
    init_weights: str | None = None
    gan_weight: float = 0.01  # pix2pix: lambda_L1 = 100 against 1 for the cGAN term
    seed: int = 0
    checkpoint_every: int = 100
    max_seconds: float | None = None
    #: Every step uses batch 0: an overfitting check (the loss must fall), not real training.
    same_batch: bool = False
    threads: int | None = 1  # two busy threads on a shared 2-core box run ~10x slower


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: SparseTrainConfig, step: int) -> float:
    """The rate of step ``step`` (a function of the step alone, so a resumed run matches)."""
    if config.lr_schedule == "constant":
        return config.lr
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))


def check_sparse_config(config: SparseTrainConfig) -> None:
    """Refuse settings the measurement training cannot run with."""
    if config.lr_schedule not in LR_SCHEDULES:
        raise InputError(
            f"unknown learning-rate schedule {config.lr_schedule!r}; use one of "
            f"{', '.join(LR_SCHEDULES)}",
            parameter="lr_schedule",
        )
