"""The work directory of a city run: the run record (``run.json``, with the settings the tiles
depend on) and the finished tiles (``tiles/<row>_<col>.npz``, written atomically, checked before
they are reused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.io.atomic import atomic_open, remove_dead_staging
from radiomap_geo.jsonio import plain, write_json
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.predict import (
    PredictOptions,
    SceneSource,
    TilePlan,
)
from radiomap_geo.sites import Sites

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # run_settings' annotation only; tasks imports this module
    from radiomap_geo.citywide.tasks import ModelSpec

RUN_FILE = "run.json"
TILES_DIR = "tiles"
RUN_FORMAT = 1


def save_tile(path: Path, bands: dict[str, np.ndarray]) -> None:
    """Write a tile's bands to ``path`` atomically (a killed run leaves no half tile)."""
    with atomic_open(path, "wb") as stream:
        np.savez_compressed(
            stream,
            names=np.array(list(bands), dtype=str),
            values=np.stack([np.asarray(v, np.float32) for v in bands.values()]),
        )


def load_tile(path: Path) -> dict[str, np.ndarray]:
    """Read the bands :func:`save_tile` wrote.

    Raises:
        InputError: the file is missing, truncated or damaged (it names the file).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip((str(n) for n in data["names"]), data["values"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"tile file {path} is unreadable ({exc})") from exc


def tile_is_whole(path: Path) -> bool:
    """Whether a finished tile can be reused: present, complete, all bands readable.

    A truncated or damaged file (a full disk, a copy cut short) is logged by name and reported
    as missing, so the run computes that tile again instead of failing at the end.
    """
    if not path.exists():
        return False
    try:
        load_tile(path)
    except InputError as exc:
        log.warning("%s: the tile is recomputed", exc)
        return False
    return True


# -- the work directory ------------------------------------------------------------------------


class WorkDir:
    """The run record and the finished tiles of one city run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tiles = self.root / TILES_DIR

    def claim(self, settings: dict[str, Any], overwrite: bool) -> None:
        """Start or resume the run with ``settings``.

        A work directory holding another run is refused, unless ``overwrite``: then its tiles
        are discarded.

        Raises:
            InputError: the directory holds a run with other settings.
        """
        record = self.root / RUN_FILE
        settings = plain(settings)
        if record.exists():
            previous = _read_settings(record)
            if previous != settings:
                if not overwrite:
                    raise InputError(
                        f"work directory {self.root} holds a run with other settings "
                        f"({', '.join(_differences(previous, settings))}): rerun with the same "
                        "settings to resume it, choose another work directory, or pass "
                        "--overwrite (overwrite=True) to discard its tiles"
                    )
                shutil.rmtree(self.tiles, ignore_errors=True)
        self.tiles.mkdir(parents=True, exist_ok=True)
        remove_dead_staging(self.tiles)  # half-written tiles of a killed run
        write_json(record, {"format": RUN_FORMAT, "settings": settings}, sort_keys=True)

    def tile_path(self, plan: TilePlan, tile_size: int) -> Path:
        """Where the tile of ``plan`` is stored: ``tiles/<row>_<col>.npz``."""
        row_off, col_off = plan.tile.core[:2]
        return self.tiles / f"{row_off // tile_size}_{col_off // tile_size}.npz"


def _read_settings(record: Path) -> dict[str, Any]:
    try:
        data = json.loads(record.read_text())
        return data["settings"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{record} is unreadable ({exc}): remove the work directory {record.parent}, or pass "
            "--overwrite (overwrite=True) to start afresh"
        ) from exc


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)] or ["format"]


# -- the run's settings ------------------------------------------------------------------------


def run_settings(
    grid: Grid,
    sites: Sites,
    model: PathGainModel,
    spec: ModelSpec,
    source: SceneSource,
    options: PredictOptions,
) -> dict[str, Any]:
    """What a run's tiles depend on: a rerun must match it to reuse them.

    Large inputs (sites, footprints, rasters) enter as digests or file signatures.
    """
    from radiomap_geo import __version__

    return {
        "version": __version__,
        "grid": {
            "crs": grid.crs.to_wkt(),
            "transform": list(grid.transform)[:6],
            "shape": list(grid.shape),
        },
        "tile_size": options.tile_size,
        "model": {
            "name": model.name,
            "spec": spec.name or f"object:{type(model).__name__}",
            "reach_m": model.reach_m,
            "weights_sha256": _weights_sha256(spec.name),
        },
        "receiver": {
            "rx_height_m": options.rx_height_m,
            "bandwidth_mhz": options.bandwidth_mhz,
            "noise_figure_db": options.noise_figure_db,
            "per_site": options.per_site,
            "rsrp_offset_db": options.rsrp_offset_db,
        },
        "sites": {"count": len(sites), "sha256": _sites_digest(sites)},
        "buildings": _frame_digest(source.buildings),
        "rasters": {
            key: _file_signature(getattr(source, key)) for key in ("ndsm", "ortho", "dsm", "dtm")
        },
    }


def _weights_sha256(name: str | None) -> str | None:
    """The checksum of a shipped network's weights (a name alone may get new weights)."""
    if name is None:
        return None
    from radiomap_geo.models.registry import _split_fallback, read_index

    entry = read_index().get(_split_fallback(name)[0].lower())
    return None if entry is None else entry["sha256"]


def _sites_digest(sites: Sites) -> str:
    text = json.dumps([s.to_dict() for s in sites], sort_keys=True)
    return hashlib.sha256(f"{sites.crs.to_wkt()}\n{text}".encode()).hexdigest()


def _frame_digest(frame) -> dict[str, Any] | None:
    """Count and digest of footprints (geometry and height), or None for open ground."""
    if frame is None:
        return None
    import shapely

    digest = hashlib.sha256(str(frame.crs.to_wkt() if frame.crs else None).encode())
    if len(frame):
        digest.update(b"".join(shapely.to_wkb(frame.geometry.values)))
        digest.update(np.asarray(frame["height_m"], np.float64).tobytes())
    return {"count": len(frame), "sha256": digest.hexdigest()}


def _file_signature(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    path = Path(path).resolve()
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
