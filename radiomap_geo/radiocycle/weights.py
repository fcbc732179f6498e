"""RadioCycle weights: one small ``.pt`` per model in ``weights/radiocycle/`` with a sha256 and
metadata in ``weights/radiocycle/index.json``.

These are *not* coverage models (they need measurements), so they live outside
``weights/index.json`` and never become the default of ``predict``. Files hold plain state
dicts and are loaded with ``torch.load(weights_only=True)`` after the checksum matches.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.io.atomic import atomic_write_bytes
from radiomap_geo.jsonio import write_json
from radiomap_geo.radiocycle.networks import UNetLike, build

#: The shipped folder (repository checkout; ``RADIOMAP_RADIOCYCLE_WEIGHTS`` overrides it).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights" / "radiocycle"
DEFAULT_MODEL = "radiocycle"


def weights_dir() -> Path:
    """Where shipped RadioCycle weights are looked up."""
    return Path(os.environ.get("RADIOMAP_RADIOCYCLE_WEIGHTS", WEIGHTS_DIR))


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LoadedModel:
    """Networks of one weights file (``f`` and ``g``, or ``interp``) and its metadata."""

    name: str
    nets: dict[str, UNetLike]
    metadata: dict[str, Any]
    sha256: str = ""


def save_model(
    name: str,
    nets: dict[str, UNetLike],
    metadata: dict[str, Any],
    folder: str | os.PathLike | None = None,
) -> Path:
    """Write ``<name>-<sha12>.pt`` and register it in the folder's ``index.json``."""
    out = Path(folder) if folder else weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": "radiocycle-weights/1",
        "nets": {
            k: {"kind": n.kind, "config": dict(n.config), "state": n.state_dict()}
            for k, n in nets.items()
        },
        "metadata": metadata,
    }
    buffer = io.BytesIO()  # the name carries the digest, so hash before writing
    torch.save(payload, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()
    path = atomic_write_bytes(out / f"{name}-{digest[:12]}.pt", body)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[name] = {"file": path.name, "sha256": digest, "metadata": metadata}
    write_json(index_path, index, sort_keys=True)
    return path


def available(folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The registered models of a weights folder (empty if none)."""
    index_path = (Path(folder) if folder else weights_dir()) / "index.json"
    return json.loads(index_path.read_text()) if index_path.exists() else {}


def load_model(name: str = DEFAULT_MODEL, folder: str | os.PathLike | None = None) -> LoadedModel:
    """The networks of a registered model, checksum verified, in eval mode.

    Raises:
        InputError: unknown name (``parameter="model"``).
        WeightsError: file missing or its sha256 differs from the index.
    """
    base = Path(folder) if folder else weights_dir()
    index = available(base)
    if name not in index:
        raise InputError(
            f"unknown RadioCycle model {name!r}; shipped: {', '.join(sorted(index)) or 'none'} "
            f"(in {base})",
            parameter="model",
        )
    entry = index[name]
    path = base / entry["file"]
    if not path.exists():
        raise WeightsError(f"weights file {path} is missing; restore it from the repository")
    if sha256(path) != entry["sha256"]:
        raise WeightsError(
            f"weights file {path} does not match its recorded sha256; restore it from the "
            "repository",
            parameter="model",
        )
    payload = torch.load(path, weights_only=True)
    nets = {}
    for key, spec in payload["nets"].items():
        net = build(spec["kind"], **spec["config"])
        net.load_state_dict(spec["state"])
        nets[key] = net.eval()
    return LoadedModel(name, nets, dict(payload["metadata"]), entry["sha256"])


def is_radiocycle(name: Any, folder: str | os.PathLike | None = None) -> bool:
    """Whether a measurement-model name (or a loaded model) is a RadioCycle model: one of this
    folder with the building generator F (``interpolation-net`` here is only the paper's
    baseline; that name means the measurement network of ``weights/measurement-models.json``).
    """
    if isinstance(name, LoadedModel):
        return "f" in name.nets
    if not isinstance(name, str):
        return False
    entry = available(folder).get(name.strip().lower())
    return entry is not None and "f" in entry.get("metadata", {}).get("inputs", {})
