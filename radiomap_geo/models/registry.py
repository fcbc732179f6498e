"""One registry for every path-gain model, looked up by name.

Three kinds of names:

* the physics baselines of :data:`radiomap_geo.models.baselines.BASELINES` (``3gpp-uma``...);
* **shipped networks**: the entries of ``index.json`` in the weights folder (``unet-small``...).
  The folder is ``$RADIOMAP_GEO_WEIGHTS`` when set, else ``weights/`` at the root of the
  repository this package was installed from (an editable install), else there is none. Each
  entry names its file and full SHA-256; the file is verified against it when loaded
  (:meth:`radiomap_geo.nets.NetworkModel.from_weights`) and a modified file is refused;
* ``net:/path/to/file-<sha12>.pt``: any weights file, verified against the hash in its name.

A network is covered beyond its window by a calibrated empirical fallback
(:class:`radiomap_geo.models.blend.BlendedModel`, default ``3gpp-uma``); append ``+MODEL`` to
choose another baseline (``unet-small+3gpp-umi``) or ``+none`` for the bare network (NaN beyond
its reach). The default model (:func:`default_model`) is the shipped network marked
``"default": true`` in ``index.json`` when there is one, else :data:`DEFAULT_MODEL`.

``index.json``::

    {"unet-small": {"file": "unet-small-0123456789ab.pt", "sha256": "<64 hex digits>",
                    "description": "UNet, 8 input channels, 2 m, 3.5 GHz",
                    "default": true, "fallback": "3gpp-uma"}}

Reading the index needs no torch; only loading a network does.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.models.baselines import BASELINES

#: The default when no network is shipped (and the default fallback of a network).
DEFAULT_MODEL = "3gpp-uma"
DEFAULT_FALLBACK = "3gpp-uma"
WEIGHTS_ENV = "RADIOMAP_GEO_WEIGHTS"
INDEX_FILE = "index.json"
#: The package-data folder a wheel carries the weights in (written by setup.py).
PACKAGED_WEIGHTS = "_weights"
NET_PREFIX = "net:"
NO_FALLBACK = "none"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
logger = logging.getLogger(__name__)
#: Which model, weights and fallback a run used: the CLI shows this logger at INFO by default.
PROVENANCE_LOGGER = "radiomap_geo.provenance"
provenance = logging.getLogger(PROVENANCE_LOGGER)


# -- the weights folder and its index -----------------------------------------------------------


def weights_dir() -> Path | None:
    """The folder of shipped weights, or None.

    In order: ``$RADIOMAP_GEO_WEIGHTS``; ``weights/`` beside the package directory (a checkout or
    an editable install; the source of truth); the weights a wheel carries as package data
    (``radiomap_geo/_weights``, found through :mod:`importlib.resources`). The last two count only
    when they hold an ``index.json``.
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parent.parent.parent
    candidate = repo / "weights"
    if (candidate / INDEX_FILE).is_file():
        return candidate
    packaged = resources.files("radiomap_geo").joinpath(PACKAGED_WEIGHTS)
    if packaged.joinpath(INDEX_FILE).is_file():
        return Path(str(packaged))  # a wheel installs into a real folder, never a zip
    return None


def read_index(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """The validated entries of ``index.json`` (empty when there is no weights folder or index).

    Raises:
        WeightsError: the index exists but is not valid JSON or has malformed entries.
    """
    folder = weights_dir() if folder is None else Path(folder)
    if folder is None:
        return {}
    path = folder / INDEX_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the weights index {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"{path} must hold a JSON object mapping model names to entries")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in data.items():
        key = str(name).lower()
        if not _NAME.fullmatch(key) or key in BASELINES or key.startswith(NET_PREFIX):
            raise WeightsError(f"{path}: {name!r} is not a usable model name")
        if not isinstance(entry, dict) or not entry.get("file") or not entry.get("sha256"):
            raise WeightsError(f"{path}: entry {name!r} needs 'file' and 'sha256'")
        if not re.fullmatch(r"[0-9a-f]{64}", str(entry["sha256"]).lower()):
            raise WeightsError(f"{path}: entry {name!r} has no full SHA-256 (64 hex digits)")
        if Path(entry["file"]).name != entry["file"]:
            raise WeightsError(f"{path}: entry {name!r}: 'file' must be a plain file name")
        fallback = entry.get("fallback", DEFAULT_FALLBACK)
        if fallback not in BASELINES and fallback != NO_FALLBACK:
            raise WeightsError(f"{path}: entry {name!r} has unknown fallback {fallback!r}")
        out[key] = {**entry, "sha256": str(entry["sha256"]).lower(), "fallback": fallback}
    return out


def shipped_models() -> dict[str, dict[str, Any]]:
    """Shipped network name to its index entry (with ``path``: the weights file)."""
    folder = weights_dir()
    return {
        name: {**entry, "path": folder / entry["file"]}  # type: ignore[operator]
        for name, entry in read_index(folder).items()
    }


def default_model() -> str:
    """The shipped network marked default in the index, else :data:`DEFAULT_MODEL`.

    Raises:
        WeightsError: the index is damaged. Predicting with a baseline instead of the network
            the user expects would be a quiet wrong answer.
    """
    for name, entry in read_index().items():
        if entry.get("default"):
            return name
    return DEFAULT_MODEL


# -- listing ---------------------------------------------------------------------------------


def _readable_index() -> dict[str, dict[str, Any]]:
    """The index for listings: a damaged one lists the baselines only, with a warning."""
    try:
        return read_index()
    except WeightsError as exc:
        logger.warning("shipped networks not listed: %s", exc)
        return {}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`: the default first, then networks, then baselines.

    A damaged index is logged at WARNING and lists the baselines only (listing must not fail);
    :func:`default_model` and :func:`get_model` refuse it.
    """
    shipped = _readable_index()
    baselines = [DEFAULT_MODEL, *(b for b in BASELINES if b != DEFAULT_MODEL)]
    default = next((name for name, entry in shipped.items() if entry.get("default")), None)
    default = default or DEFAULT_MODEL
    names = [*shipped, *baselines]
    names.remove(default)
    return [default, *names]


def describe_models() -> dict[str, str]:
    """Model name to a one-line description."""
    shipped = _readable_index()
    out = {}
    for name in list_models():
        if name in BASELINES:
            out[name] = BASELINES[name].description
        else:
            entry = shipped[name]
            fallback = entry["fallback"]
            text = entry.get("description") or "trained network"
            if fallback != NO_FALLBACK:
                text += f" (beyond its window: calibrated {fallback})"
            out[name] = text
    return out


# -- lookup ----------------------------------------------------------------------------------


def _split_fallback(spec: str) -> tuple[str, str | None]:
    """``"unet-small+3gpp-umi"`` -> ``("unet-small", "3gpp-umi")``; no suffix -> None."""
    head, plus, tail = spec.rpartition("+")
    if plus and (tail.lower() in BASELINES or tail.lower() == NO_FALLBACK):
        return head, tail.lower()
    return spec, None


def _check_reach(reach_m: float | None) -> None:
    if reach_m is not None and not reach_m > 0:
        raise InputError(f"max range must be positive, got {reach_m}", parameter="max_range_m")


def load_network(
    path: str | os.PathLike,
    sha256: str | None = None,
    *,
    name: str | None = None,
    reach_m: float | None = None,
    **options: Any,
):
    """A verified :class:`~radiomap_geo.nets.NetworkModel` (imports torch).

    ``reach_m`` larger than the trained reach is capped at it (the fallback covers the rest).
    Grids of another cell size are resampled by the documented rule within a factor 2
    (``resolution_mode="resample"``; beyond, or with ``resolution_mode="strict"``, refused).
    """
    from radiomap_geo.nets.model import NetworkModel

    options.setdefault("resolution_mode", "resample")
    model = NetworkModel.from_weights(path, sha256, name=name, **options)
    if reach_m is not None and reach_m < model.reach_m:
        model.reach_m = float(reach_m)
    return model


def _network(
    spec: str, reach_m: float | None, tta: int = 1, precision: str = "auto"
) -> tuple[Any, str, str]:
    """``(network model, display name, default fallback)`` for a shipped name or ``net:PATH``."""
    if spec.lower().startswith(NET_PREFIX):
        path = Path(spec[len(NET_PREFIX) :]).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} not found (model {spec!r})")
        model = load_network(path, reach_m=reach_m, tta=tta, precision=precision)
        return model, model.name, DEFAULT_FALLBACK
    shipped = shipped_models()
    key = spec.lower()
    if key not in shipped:
        raise InputError(
            f"unknown model {spec!r}; available: {', '.join(list_models())}", parameter="model"
        )
    entry = shipped[key]
    if not Path(entry["path"]).is_file():
        raise WeightsError(
            f"model {key!r}: its weights file {entry['path']} is missing; restore it from the "
            "repository (git checkout weights/) or set RADIOMAP_GEO_WEIGHTS"
        )
    model = load_network(
        entry["path"], entry["sha256"], name=key, reach_m=reach_m, tta=tta, precision=precision
    )
    return model, key, entry["fallback"]


def get_model(
    name: str | None = None,
    *,
    reach_m: float | None = None,
    tta: int = 1,
    precision: str = "auto",
) -> PathGainModel:
    """The model called ``name`` (default :func:`default_model`), optionally with another reach.

    Args:
        name: a baseline, a shipped network, or ``net:PATH``, optionally with ``+FALLBACK`` (a
            baseline or ``none``) for networks.
        reach_m: how far from a site the model predicts (a baseline's reach; for a network,
            the reach of its fallback, the network's own being capped at its trained reach).
        tta: for networks, how many symmetries of the scene each prediction averages (1, 4, 8;
            :mod:`radiomap_geo.nets.tta`); baselines ignore it, with a WARNING.
        precision: for networks, the arithmetic they run in (``auto``, ``float32``,
            ``bfloat16``; :mod:`radiomap_geo.nets.inference`); baselines compute in float64.

    Raises:
        InputError: unknown name or bad reach.
        WeightsError: a network's file is missing, modified or unreadable.
    """
    _check_reach(reach_m)
    if name is not None and not name.strip():
        raise InputError(
            "the model name is empty: name one (see 'radiomap-geo models') or leave it unset for "
            f"the default ({default_model()})",
            parameter="model",
        )
    spec = (name or default_model()).strip()
    if spec.lower().startswith("fitted:"):  # fitted to drive tests: radiomap_geo.measurements
        from radiomap_geo.measurements.modelfile import fitted_path_gain_model

        return fitted_path_gain_model(spec, reach_m=reach_m, resolve=get_model)
    base, fallback = _split_fallback(spec)
    key = base.lower()
    if key in BASELINES:
        if fallback is not None:
            raise InputError(f"'+{fallback}' applies to networks only, not to {key!r}")
        model = BASELINES[key]
        if tta != 1:
            logger.warning(
                "test-time augmentation (tta=%d) applies to networks only: %s runs once", tta, key
            )
        provenance.info("model %s: physics baseline (no weights, no fallback)", key)
        return model if reach_m is None else replace(model, reach_m=float(reach_m))
    from radiomap_geo.models.blend import BlendedModel

    net, display, default_fallback = _network(base, reach_m, tta, precision)
    fallback = fallback or default_fallback
    if fallback == NO_FALLBACK:
        if reach_m is not None and reach_m > net.reach_m * 1.0001:
            raise InputError(
                f"{base} reaches {net.reach_m:g} m from a site; a max range of {reach_m:g} m needs "
                "a fallback model beyond it: drop '+none' or name one ('+3gpp-uma')"
            )
        _log_network(net.name, net, "none (NaN beyond the network's reach)")
        return net
    chosen = BASELINES[fallback]
    if reach_m is not None:
        chosen = replace(chosen, reach_m=float(reach_m))
    blended = BlendedModel(net, chosen, name=f"{display}+{chosen.name}")
    _log_network(blended.name, net, f"calibrated {chosen.name} beyond {net.reach_m:g} m")
    return blended


def _log_network(name: str, net: Any, fallback: str) -> None:
    """Say which network, which weights (file and SHA-256) and which fallback a run uses."""
    path = getattr(net, "weights_path", None)
    sha = getattr(net, "weights_sha256", None) or "unknown"
    runner = getattr(net, "runner", None)
    provenance.info(
        "model %s: network %s, weights %s (sha256 %s), %s arithmetic, fallback: %s",
        name,
        getattr(net, "name", name),
        path if path is not None else "in memory",
        sha,
        runner.precision if runner is not None else "float32",
        fallback,
    )


def model_version(spec: str | None = None) -> str:
    """``<name>-<sha12>``: the model name with the first 12 hex digits of its network's weights
    (the name alone, for empirical models). Benchmarks and caches record this, not the name, so
    results of an earlier default are never mixed with the current one's.
    """
    model = get_model(spec)
    net = getattr(model, "net", model)
    sha = getattr(net, "weights_sha256", None)
    if not sha:
        return str(spec or default_model())
    # a file given as net:PATH is named by its metadata, so the version does not depend on where
    # the file lies
    name = str(getattr(net, "metadata", {}).get("name") or spec or default_model())
    return f"{name.replace(':', '_').replace('/', '_')}-{sha[:12]}"
