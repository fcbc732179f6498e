"""Checks of a training run's settings and folders, made before anything is read or written.

:func:`check_numbers` refuses settings that would train nothing or train into NaN (a NaN
learning rate or loss weight, no patience, a crop larger than the maps...);
:func:`check_out_dir` refuses a run folder inside one of the run's input folders (it would
write its checkpoint and weights among the dataset's files); :func:`~radiomap_geo.io.atomic.is_within`
is the test both ``train`` and ``evaluate`` use for "an output among the inputs".
"""

from __future__ import annotations

import math
import numbers
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import is_within, same_file


def _number(value: Any, parameter: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {value!r}", parameter=parameter)
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value}", parameter=parameter)
    return float(value)


def check_range(
    value: Any,
    parameter: str,
    what: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    example: str = "",
) -> None:
    """Refuse a non-finite ``value`` or one outside the given bounds (named in the message)."""
    number = _number(value, parameter, what)
    bad = (
        (above is not None and not number > above)
        or (at_least is not None and number < at_least)
        or (at_most is not None and number > at_most)
    )
    if bad:
        bounds = [
            f"above {above:g}" if above is not None else "",
            f"at least {at_least:g}" if at_least is not None else "",
            f"at most {at_most:g}" if at_most is not None else "",
        ]
        wanted = " and ".join(b for b in bounds if b)
        hint = f", e.g. {example}" if example else ""
        raise InputError(f"{what} must be {wanted}, got {value:g}{hint}", parameter=parameter)


def check_count(value: Any, parameter: str, what: str, *, optional: bool = False) -> None:
    """Refuse a count that is not a whole number of at least 1 (None passes when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(
            f"{what} must be a whole number of at least 1, got {value!r}", parameter=parameter
        )


def check_numbers(
    *,
    epochs: Any,
    batch_size: Any,
    lr: Any,
    crop: Any,
    max_train_maps: Any,
    max_val_maps: Any,
    reach_m: Any,
    no_ray_label_db: Any,
    ortho_augment: Any,
    train_config: Mapping[str, Any],
) -> None:
    """Refuse the numbers of a run that cannot train a usable network, before any work.

    ``train_config`` holds the further :class:`~radiomap_geo.train_options.TrainConfig` fields
    (their names are the parameters named in the errors).
    """
    check_count(epochs, "epochs", "the number of epochs")
    check_count(batch_size, "batch_size", "the batch size")
    check_range(lr, "lr", "the learning rate", above=0.0, at_most=1.0, example="1e-3")
    check_count(crop, "crop", "the crop size (cells)", optional=True)
    check_count(max_train_maps, "max_train_maps", "the number of training maps", optional=True)
    check_count(max_val_maps, "max_val_maps", "the number of validation maps", optional=True)
    if reach_m is not None:
        check_range(reach_m, "reach_m", "the reach (m)", above=0.0, example="96")
    if no_ray_label_db is not None:
        check_range(
            no_ray_label_db, "no_ray_label_db", "the label of cells no ray reached (dB)",
            at_most=0.0, example="-160",
        )  # fmt: skip
    if ortho_augment is not None:
        check_range(ortho_augment, "ortho_augment", "the orthophoto augmentation", at_least=0.0)
    _check_train_config(train_config)


#: Bounds of the float fields of TrainConfig: (what, above, at_least, at_most).
_CONFIG_BOUNDS: dict[str, tuple[str, float | None, float | None, float | None]] = {
    "weight_decay": ("the weight decay", None, 0.0, None),
    "weak_weight": ("the loss weight of weak labels", None, 0.0, None),
    "warmup_fraction": ("the warm-up fraction", 0.0, None, 1.0),
    "huber_delta_db": ("the Huber delta (dB)", 0.0, None, None),
    "weak_threshold_db": ("the weak-label threshold (dB)", None, None, None),
    "aux_weight": ("the loss weight of earlier stages", None, 0.0, None),
    "min_delta": ("the smallest validation improvement", None, 0.0, None),
}


def _check_train_config(train_config: Mapping[str, Any]) -> None:
    for key, (what, above, at_least, at_most) in _CONFIG_BOUNDS.items():
        if key in train_config:
            check_range(
                train_config[key], key, what, above=above, at_least=at_least, at_most=at_most
            )
    if train_config.get("grad_clip") is not None:
        check_range(train_config["grad_clip"], "grad_clip", "the gradient clipping norm", above=0.0)
    if "patience" in train_config:
        check_count(train_config["patience"], "patience", "the patience (epochs)")
    if "checkpoint_every" in train_config:
        check_count(train_config["checkpoint_every"], "checkpoint_every", "the checkpoint interval")
    check_count(
        train_config.get("steps_per_epoch"), "steps_per_epoch", "the steps per epoch", optional=True
    )


def check_channels(channels: Sequence[str]) -> None:
    """Refuse unknown or repeated input channels."""
    from radiomap_geo.rasterize import CHANNELS

    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InputError(
            f"unknown input channels {unknown}: use names from {sorted(CHANNELS)}",
            parameter="channels",
        )
    repeated = sorted({c for c in channels if list(channels).count(c) > 1})
    if repeated:
        raise InputError(
            f"input channels {repeated} are given more than once: name each channel once",
            parameter="channels",
        )


def check_crop(crop: int | None, side: int, multiple: int, arch: str) -> None:
    """Refuse a crop the network cannot take or the maps cannot give."""
    if crop is None:
        return
    if crop > side:
        raise InputError(
            f"the crop {crop} is larger than the dataset's maps ({side} x {side} cells): use at "
            f"most {side - side % multiple}, or leave it out to train on whole maps",
            parameter="crop",
        )
    if crop < multiple or crop % multiple:
        raise InputError(
            f"the crop must be a positive multiple of {multiple} for {arch}, got {crop}",
            parameter="crop",
        )


def check_out_dir(out: Path, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse a run folder that is a file, one of the input folders or inside one.

    ``inputs``: what each input is called (e.g. "the dataset folder") to its path.
    """
    blocking = next((p for p in [out, *out.parents] if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise InputError(
            f"cannot make the run folder {out}: {blocking} is a file; choose another folder",
            parameter="out_dir",
        )
    for what, folder in inputs.items():
        if folder is None or not is_within(out, folder):
            continue
        where = "is" if same_file(out, folder) else "lies in"
        raise InputError(
            f"the run folder {out} {where} {what} {folder}: the run would write its checkpoint, "
            "log and weights among the input files; choose a folder outside it, e.g. "
            f"runs/{out.name if where == 'lies in' else 'NAME'}",
            parameter="out_dir",
        )


@contextmanager
def removed_on_failure(out: Path, keep: Callable[[BaseException], bool]) -> Iterator[None]:
    """Make the folder ``out``; on an error for which ``keep`` is false, remove what was made.

    A folder this call makes (``out`` or its topmost missing parent) is removed whole; in a
    folder that was there before, only the files and folders that were not.
    """
    made = next((p for p in [*reversed(out.parents), out] if not p.exists()), None)
    before = set() if made is not None else {p.name for p in out.iterdir()}
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException as err:
        if not keep(err):
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
            else:
                for path in out.iterdir():
                    if path.name in before:
                        continue
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        raise
