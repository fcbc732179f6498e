"""Trained measurement networks as files: saving, the shipped index and inference.

A measurement model is a weights file of :mod:`radiomap_geo.nets.weights` (float16 tensors,
SHA-256 in the name, ``weights_only=True`` loading) whose metadata also says
``"kind": "measurement-model"``, its method (:data:`radiomap_geo.sparse.networks.NETWORKS`),
whether it is residual, the geometry network it corrects and the calibration of its
uncertainty (:mod:`radiomap_geo.sparse.uncertainty`).

Shipped measurement models are listed in ``weights/measurement-models.json`` (same entry format
as ``weights/index.json``: ``file``, ``sha256``, ``description``, ``default``), apart from the
coverage networks so that no coverage listing ever offers one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.nets.common import CoverageNet
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.weights import load_weights, save_weights
from radiomap_geo.padded import run_padded
from radiomap_geo.sparse.data import DEFAULT_GEOMETRY_MODEL, MapContext
from radiomap_geo.sparse.networks import (
    CEIL_DB,
    FLOOR_DB,
    NETWORKS,
    SCALE_DB,
    NetSpec,
    build_generator,
    encode,
)

INDEX_FILE = "measurement-models.json"
KIND = "measurement-model"
#: Used when the caller names no measurement model and the index marks none as default.
DEFAULT_MEASUREMENT_MODEL = "geo-residual"


def measurement_metadata(
    spec: NetSpec,
    net: CoverageNet,
    *,
    metres_per_pixel: float,
    frequency_mhz: float,
    geometry_model: str = DEFAULT_GEOMETRY_MODEL,
    **extra: Any,
) -> dict[str, Any]:
    """Metadata of a measurement network (the coverage keys the weights format requires, plus
    ``kind``, ``method``, ``residual``, ``scale_db`` and ``geometry_model``).
    """
    return {
        "arch": net.arch,
        "arch_kwargs": dict(net.config),
        "channels": list(spec.channels),
        "metres_per_pixel": float(metres_per_pixel),
        "frequency_mhz": float(frequency_mhz),
        "rx_height_m": 1.5,
        "reach_m": 128.0 * metres_per_pixel,
        "output_scaling": OutputScaling().to_dict(),
        "antenna_pattern": "in_output",
        "kind": KIND,
        "method": spec.name,
        "residual": spec.residual,
        "smooth_base": spec.smooth_base,
        "smooth_max_cells": spec.smooth_max_cells,
        "bias_pseudo_count": spec.bias_pseudo_count,
        "adversarial": spec.adversarial,
        "loss": spec.loss,
        "needs": list(spec.needs),
        "scale_db": SCALE_DB,
        "geometry_model": geometry_model if "geometry" in spec.needs else None,
        "torch_version": torch.__version__.split("+")[0],
        **extra,
    }


def save_measurement_model(
    net: CoverageNet, metadata: Mapping[str, Any], directory: str | os.PathLike
) -> Path:
    """Write ``<directory>/<name>-<sha12>.pt`` (float16, atomically)."""
    return save_weights(net, metadata, directory, str(metadata.get("name") or metadata["method"]))


@dataclass
class MeasurementModel:
    """A loaded measurement network: ``predict`` turns measurements into a full map."""

    name: str
    spec: NetSpec
    net: CoverageNet
    metadata: dict[str, Any]
    sha256: str | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike, sha256: str | None = None) -> MeasurementModel:
        """Load and verify a weights file; refuse a coverage network."""
        loaded = load_weights(path, sha256)
        meta = loaded.metadata
        if meta.get("kind") != KIND or meta.get("method") not in NETWORKS:
            raise WeightsError(
                f"{path} is not a measurement model (its metadata has no kind={KIND!r}); "
                "give one listed by `radiomap-geo measurement-models` or trained by "
                "`radiomap-geo train-measurements`"
            )
        # the file says how it was built: the channel list of an older file stays valid
        spec = replace(
            NETWORKS[meta["method"]],
            channels=tuple(meta["channels"]),
            residual=bool(meta["residual"]),
            smooth_base=bool(meta.get("smooth_base", False)),
            # files written before these settings existed used the first values
            smooth_max_cells=float(meta.get("smooth_max_cells", 24.0)),
            bias_pseudo_count=float(meta.get("bias_pseudo_count", 0.0)),
        )
        net = build_generator(meta["arch"], len(meta["channels"]), **meta["arch_kwargs"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in loaded.state_dict.items()}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: tensors do not fit {meta['arch']}: {exc}") from exc
        name = str(meta.get("name") or spec.name)
        return cls(name, spec, net.eval(), dict(meta), loaded.sha256)

    @property
    def needs_site(self) -> bool:
        """Whether the model reads the transmitter (free-space gain, line of sight)."""
        return "site" in self.spec.needs

    @property
    def needs_geometry(self) -> bool:
        """Whether the model corrects a geometry network's prediction."""
        return "geometry" in self.spec.needs

    def predict(self, ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The full map (dB, same quantity as ``values``) from the measured cells."""
        enc = encode(self.spec, ctx, measured, values)
        out = run_padded(self.net, enc.inputs)
        return (enc.base_db + SCALE_DB * out).astype(np.float32)

    __call__ = predict


def clip_db(values: np.ndarray) -> np.ndarray:
    """Clip to the dataset's range (floor and ceiling of the labels)."""
    return np.clip(values, FLOOR_DB, CEIL_DB)


def weights_folder() -> Path | None:
    """The folder of shipped weights (the coverage registry's rule)."""
    from radiomap_geo.models.registry import weights_dir

    return weights_dir()


def read_measurement_index(folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Entries of ``measurement-models.json`` (empty without one).

    Raises:
        WeightsError: the index is not valid JSON or an entry lacks ``file`` / ``sha256``.
    """
    folder = weights_folder() if folder is None else Path(folder)
    if folder is None or not (Path(folder) / INDEX_FILE).is_file():
        return {}
    path = Path(folder) / INDEX_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {path}: {exc}") from exc
    out = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not entry.get("file") or not entry.get("sha256"):
            raise WeightsError(f"{path}: entry {name!r} needs 'file' and 'sha256'")
        out[str(name).lower()] = {**entry, "path": Path(folder) / entry["file"]}
    return out


def default_measurement_model() -> str:
    """The index entry marked ``default``, else :data:`DEFAULT_MEASUREMENT_MODEL`."""
    for name, entry in read_measurement_index().items():
        if entry.get("default"):
            return name
    return DEFAULT_MEASUREMENT_MODEL


#: What the catalogue says of a RadioCycle model (its weights index holds no description).
RADIOCYCLE_DESCRIPTION = (
    "paper 001 RadioCycle: buildings (F), then the radio map (G), from the measurements alone; "
    "no building layer needed"
)


def measurement_model_catalogue() -> list[tuple[str, str, bool]]:
    """``(name, description, is default)`` of every shipped measurement model, the default
    first: the networks of ``measurement-models.json``, then the RadioCycle models (issue #13).
    """
    from radiomap_geo.radiocycle.weights import available, is_radiocycle

    default = default_measurement_model()
    index = read_measurement_index()
    rows = [
        (name, str(index[name].get("description", "")), name == default)
        for name in sorted(index, key=lambda n: n != default)
    ]
    rows += [
        (name, RADIOCYCLE_DESCRIPTION, False)
        for name in sorted(available())
        if is_radiocycle(name) and name not in index
    ]
    return rows


def get_measurement_model(
    name: str | None = None, others: Mapping[str, Sequence[str]] | None = None
) -> MeasurementModel:
    """A shipped measurement model by name (default: :func:`default_measurement_model`) or a
    weights path (``net:PATH`` or ``PATH.pt``).

    ``others`` names, by group, what else the caller accepts (``{"baselines": [...]}``): an
    unknown name is answered with them as well as the shipped networks.

    Raises:
        InputError: unknown name.
        WeightsError: missing or modified file.
    """
    spec = (name or default_measurement_model()).strip()
    path_text = spec[4:] if spec.lower().startswith("net:") else spec
    if path_text.endswith(".pt"):
        return MeasurementModel.from_file(Path(path_text).expanduser())
    index = read_measurement_index()
    entry = index.get(spec.lower())
    if entry is None:
        groups = {"networks": list(index), **(others or {})}
        available = "; ".join(
            f"{group} {', '.join(names) or 'none shipped'}" for group, names in groups.items()
        )
        raise InputError(
            f"unknown measurement model {spec!r}; available: {available}; or net:PATH.pt "
            "(see 'radiomap-geo measurement-models')",
            parameter="measurement_model",
        )
    return MeasurementModel.from_file(entry["path"], entry["sha256"])
