"""One registry for every path-gain model, looked up by name."""

from __future__ import annotations

from dataclasses import replace

from radiomap_geo.errors import InputError
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.models.baselines import BASELINES

DEFAULT_MODEL = "3gpp-uma"


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, the default first."""
    names = list(BASELINES)
    names.remove(DEFAULT_MODEL)
    return [DEFAULT_MODEL, *names]


def describe_models() -> dict[str, str]:
    """Model name to a one-line description."""
    return {name: BASELINES[name].description for name in list_models()}


def get_model(name: str | None = None, *, reach_m: float | None = None) -> PathGainModel:
    """The model called ``name`` (default :data:`DEFAULT_MODEL`), optionally with another reach."""
    key = (name or DEFAULT_MODEL).lower()
    if key not in BASELINES:
        raise InputError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    model = BASELINES[key]
    if reach_m is not None:
        if reach_m <= 0:
            raise InputError(f"max range must be positive, got {reach_m}")
        model = replace(model, reach_m=float(reach_m))
    return model
