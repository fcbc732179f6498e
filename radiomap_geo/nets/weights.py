"""Weights files: a network's tensors plus everything needed to use them correctly.

A weights file is ``torch.save`` of ``{"format", "state_dict", "metadata"}``:

* ``state_dict``: the network's tensors, floating-point ones stored as float16 (half the size;
  the rounding error, about 1e-3 relative, is far below the dB-level accuracy of the models);
* ``metadata``: plain Python values (see :func:`make_metadata`): architecture name and keyword
  arguments, input channel names in order (from :data:`radiomap_geo.rasterize.CHANNELS`), metres
  per pixel, frequency, receiver height, output scaling, reach, how the antenna pattern is
  handled, a description of the training data and the metrics measured on held-out data.

Files are named ``<name>-<sha12>.pt`` where ``sha12`` is the first 12 hex digits of the file's
SHA-256 (as torchvision/torchgeo do). :func:`load_weights` recomputes the hash and refuses a file
whose hash does not match the one in its name, in :data:`KNOWN_WEIGHTS` or passed by the caller,
and reads it with ``torch.load(weights_only=True)`` so a file can never run code.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.io.atomic import atomic_write_bytes
from radiomap_geo.nets.common import CoverageNet
from radiomap_geo.nets.registry import build_network
from radiomap_geo.nets.scaling import OutputScaling

FORMAT = "radiomap-geo-weights/1"
HASH_PREFIX_LEN = 12
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{12,64})\.pt$")
REQUIRED_METADATA = (
    "arch",
    "arch_kwargs",
    "channels",
    "metres_per_pixel",
    "frequency_mhz",
    "rx_height_m",
    "output_scaling",
    "reach_m",
    "antenna_pattern",
)
#: ``antenna_pattern`` values: the targets included the transmit pattern (the network's output
#: is the full link gain), or they were isotropic and the pattern along the direct ray is added.
ANTENNA_PATTERN_MODES = ("in_output", "add_direct_ray")

#: Released weights: file name -> full SHA-256. Lets a renamed-on-download file be verified too.
KNOWN_WEIGHTS: dict[str, str] = {}


def _plain(value: Any) -> Any:
    """Convert tuples and numpy scalars to lists and builtins (what ``weights_only`` reads)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InputError(f"metadata value {value!r} ({type(value).__name__}) is not a plain value")


def make_metadata(
    net: CoverageNet,
    channels: Sequence[str],
    *,
    metres_per_pixel: float,
    frequency_mhz: float,
    reach_m: float,
    scaling: OutputScaling | None = None,
    rx_height_m: float = 1.5,
    antenna_pattern: str = "in_output",
    training_data: Mapping[str, Any] | str | None = None,
    metrics: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict:
    """The metadata dict of a weights file, validated.

    Args:
        net: the network (its ``arch`` and ``config`` are recorded).
        channels: input channel names in the order the network expects.
        metres_per_pixel: cell size of the training maps.
        frequency_mhz: carrier frequency of the training data.
        reach_m: how far from the site predictions are valid (about half the training map).
        scaling: the dB normalisation used for the targets (default :class:`OutputScaling`).
        rx_height_m: receiver height of the training data.
        antenna_pattern: one of :data:`ANTENNA_PATTERN_MODES`.
        training_data: description (source, number of maps, cities, ray-tracer settings...).
        metrics: held-out metrics (e.g. the output of :func:`radiomap_geo.nets.evaluate`).
        **extra: further plain values to keep (``name``, ``notes``...).
    """
    from radiomap_geo.rasterize import CHANNELS

    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InputError(f"unknown input channels {unknown}; known: {sorted(CHANNELS)}")
    if len(channels) != net.in_channels:
        raise InputError(f"{len(channels)} channels given but the network takes {net.in_channels}")
    for label, value in (
        ("metres_per_pixel", metres_per_pixel),
        ("frequency_mhz", frequency_mhz),
        ("reach_m", reach_m),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InputError(f"{label} must be a positive number, got {value!r}")
    if antenna_pattern not in ANTENNA_PATTERN_MODES:
        raise InputError(f"antenna_pattern must be one of {ANTENNA_PATTERN_MODES}")
    meta = {
        "arch": net.arch,
        "arch_kwargs": dict(net.config),
        "channels": list(channels),
        "metres_per_pixel": float(metres_per_pixel),
        "frequency_mhz": float(frequency_mhz),
        "rx_height_m": float(rx_height_m),
        "reach_m": float(reach_m),
        "output_scaling": (scaling or OutputScaling()).to_dict(),
        "antenna_pattern": antenna_pattern,
        "training_data": training_data,
        "metrics": dict(metrics or {}),
        "torch_version": torch.__version__.split("+")[0],
        **extra,
    }
    return _plain(meta)


def _half_state(net: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    state = {}
    for key, tensor in net.state_dict().items():
        t = tensor.detach().cpu()
        if t.is_floating_point():
            cast = t.to(dtype)
            # float16 overflows above 65504: keep such (rare) tensors in float32.
            t = cast if bool(torch.isfinite(cast).all()) or not bool(torch.isfinite(t).all()) else t
        state[key] = t.clone()
    return state


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(
    net: CoverageNet,
    metadata: Mapping[str, Any],
    directory: str | Path,
    name: str | None = None,
    *,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write ``<directory>/<name>-<sha12>.pt`` atomically and return its path.

    Args:
        net: the trained network.
        metadata: from :func:`make_metadata`.
        directory: where to write (created if missing).
        name: file name stem (default: ``metadata["name"]`` or the architecture).
        dtype: storage type of floating-point tensors (float16, or float32 to keep everything).
    """
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise InputError(f"weights metadata lacks {missing}: build it with make_metadata()")
    stem = name or str(metadata.get("name") or metadata["arch"])
    if not re.fullmatch(r"[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*", stem) or _HASH_IN_NAME.search(
        stem + ".pt"
    ):
        raise InputError(f"weights name {stem!r}: use letters, digits, '_', '.', '-' only")
    payload = {"format": FORMAT, "state_dict": _half_state(net, dtype), "metadata": dict(metadata)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{stem}-{digest[:HASH_PREFIX_LEN]}.pt"
    return atomic_write_bytes(final, data)  # same name, same bytes: replacing is harmless


@dataclass(frozen=True)
class LoadedWeights:
    """A verified weights file: tensors, metadata and the hash that was checked."""

    path: Path
    sha256: str
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]

    @property
    def scaling(self) -> OutputScaling:
        """The output scaling recorded in the file."""
        return OutputScaling.from_dict(self.metadata["output_scaling"])

    def build(self) -> CoverageNet:
        """Rebuild the network and load the tensors (as float32), in eval mode on the CPU."""
        meta = self.metadata
        try:
            net = build_network(meta["arch"], len(meta["channels"]), **meta["arch_kwargs"])
        except InputError as exc:
            raise WeightsError(f"{self.path}: cannot rebuild the network: {exc}") from exc
        state = {k: v.float() if v.is_floating_point() else v for k, v in self.state_dict.items()}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(
                f"{self.path}: the tensors do not fit architecture {meta['arch']!r} "
                f"{meta['arch_kwargs']}: {exc}"
            ) from exc
        return net.eval()


def _expected_hash(path: Path, expected_sha256: str | None) -> str:
    if expected_sha256:
        value = expected_sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise WeightsError(f"expected_sha256 {expected_sha256!r} is not a hex digest")
        return value
    if path.name in KNOWN_WEIGHTS:
        return KNOWN_WEIGHTS[path.name]
    match = _HASH_IN_NAME.search(path.name)
    if match:
        return match.group(1)
    raise WeightsError(
        f"cannot verify {path}: its name does not end in '-<sha256 prefix>.pt' and no "
        "expected_sha256 was given. Keep the file's original name or pass its SHA-256"
    )


def load_weights(path: str | Path, expected_sha256: str | None = None) -> LoadedWeights:
    """Verify and read a weights file.

    The file's SHA-256 must start with ``expected_sha256`` when given, else with the hash in a
    :data:`KNOWN_WEIGHTS` entry for its name, else with the ``<sha12>`` in its name.

    Raises:
        WeightsError: the file is missing, unreadable, not a weights file, or its hash differs.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found (or not a file)")
    expected = _expected_hash(path, expected_sha256)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    if not digest.startswith(expected):
        raise WeightsError(
            f"weights file {path} is corrupt or was modified: its SHA-256 is {digest[:16]}..., "
            f"expected {expected[:16]}.... Download or copy it again"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError...
        raise WeightsError(
            f"{path} could not be read as a weights file (only tensors and plain values are "
            f"allowed): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a radiomap-geo weights file (format {FORMAT})")
    state, meta = payload.get("state_dict"), payload.get("metadata")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: 'state_dict' is not a dict of tensors")
    if not isinstance(meta, dict):
        raise WeightsError(f"{path}: 'metadata' is missing")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise WeightsError(f"{path}: metadata lacks {missing}")
    return LoadedWeights(path, digest, state, meta)
