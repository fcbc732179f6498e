"""Shipping trained weights into the weights folder (``evaluate --ship-to``).

:func:`ship_weights` copies the weights file (with the measured metrics inside it), writes the
model card and updates ``index.json`` for :mod:`radiomap_geo.models.registry`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiomap_geo import jsonio
from radiomap_geo.errors import InputError
from radiomap_geo.nets.reports import headline_metrics, write_model_card
from radiomap_geo.nets.weights import save_weights, sha256_file


def ship_weights(
    weights_path: str | os.PathLike,
    weights_dir: str | os.PathLike,
    name: str,
    *,
    description: str | None = None,
    report: Mapping[str, Any] | None = None,
    default: bool = False,
    fallback: str = "3gpp-uma",
) -> dict[str, Any]:
    """Put trained weights into the shipped folder: file, model card and ``index.json`` entry.

    The weights are re-saved as ``<name>-<sha12>.pt`` with ``name``, ``description`` and the
    report's headline metrics in their metadata (the tensors are unchanged); an older file of the
    same entry is removed. ``default`` marks the entry as the default model (and unmarks others).

    Returns:
        The index entry written (``file``, ``sha256``, ``description``, ``default``...).
    """
    from radiomap_geo.models.baselines import BASELINES
    from radiomap_geo.models.registry import INDEX_FILE, read_index
    from radiomap_geo.nets.weights import load_weights

    key = name.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.]*(?:-[a-z0-9_.]+)*", key) or key in BASELINES:
        raise InputError(f"model name {name!r}: use lower-case letters, digits, '_', '.', '-'")
    if fallback not in BASELINES and fallback != "none":
        raise InputError(f"unknown fallback {fallback!r}; use a baseline or 'none'")
    folder = Path(weights_dir)
    folder.mkdir(parents=True, exist_ok=True)
    loaded = load_weights(weights_path)
    meta = dict(loaded.metadata)
    meta["name"] = key
    if description:
        meta["description"] = description
    if report is not None:
        meta["metrics"] = {**(meta.get("metrics") or {}), "evaluation": headline_metrics(report)}
    net = loaded.build()
    path = save_weights(net, meta, folder, key)
    digest = sha256_file(path)
    index = read_index(folder) if (folder / INDEX_FILE).is_file() else {}
    old = index.get(key, {}).get("file")
    if old and old != path.name and (folder / old).is_file():
        (folder / old).unlink()
    if default:
        for entry in index.values():
            entry.pop("default", None)
    entry = {
        "file": path.name,
        "sha256": digest,
        "description": description
        or f"{meta['arch']} network, {len(meta['channels'])} inputs, "
        f"{meta['metres_per_pixel']:g} m, {meta['frequency_mhz']:g} MHz",
        "fallback": fallback,
    }
    if default:
        entry["default"] = True
    index[key] = entry
    jsonio.write_json(folder / INDEX_FILE, dict(sorted(index.items())))
    if report is not None:  # the scored file is this one re-saved: name its row after it
        report = json.loads(json.dumps(jsonio.plain(report)))
        scored = {m["name"] for m in report["models"] if m["kind"] == "network"}
        for block in [report["models"], report.get("rt_noise", {}).get("models", [])]:
            for m in block:
                if m["name"] in scored:
                    m["name"] = f"{key} (scored as {m['name']}, same tensors)"
    write_model_card(
        path, folder / f"{key}.md", name=key, report=report, description=entry["description"]
    )
    return entry
