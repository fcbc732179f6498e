"""City-scale batch prediction on Dask: one task per tile, resumable, assembled into one COG.

:func:`predict_city` is a thin runner over the engine of :mod:`radiomap_geo.predict`: it plans
the same tiles (:func:`~radiomap_geo.predict.plan_tiles`), computes each with the same function
(:func:`~radiomap_geo.predict.coverage_tile`) as a Dask task, and writes the same file as
:func:`~radiomap_geo.predict.predict_to_file` (band for band, bit for bit).

The work directory (``work_dir``, default ``<output>.work`` beside the output)::

    run.json              the run's settings; a rerun with other settings is refused
    tiles/<row>_<col>.npz one finished tile (row and column of the tile, not of cells)

Tile files appear atomically (temporary file, then ``os.replace``), so a killed run leaves only
whole tiles, and a rerun with the same settings computes only the missing ones. The output COG
is assembled from the tile files at the end, atomically too. A default work directory is removed
after a successful run; one given explicitly is kept.

Schedulers: ``"threads"`` (default), ``"processes"``, ``"synchronous"`` (one thread, for
debugging) or the address of a ``dask.distributed`` scheduler (``"tcp://host:8786"``); or pass a
``distributed.Client`` as ``client``. A model named by the registry is re-created in each worker
thread or process from its name (cheap to ship, and no model state is shared between threads);
a model object is shipped as it is (it must pickle for processes and clusters). Raster inputs
(``ndsm``...) are read by path in the workers: on a cluster they must be reachable there.

Dask is optional: ``pip install 'radiomap-geo[dask]'`` (plus ``distributed`` for a cluster).

Modules: :mod:`.workdir` (run record, tile files), :mod:`.tasks` (one tile's task and its model),
:mod:`.scheduling` (Dask), :mod:`.assembly` (the COG) and :mod:`.runner` (:func:`predict_city`).
"""

from __future__ import annotations

from radiomap_geo.citywide.runner import predict_city
from radiomap_geo.citywide.scheduling import INSTALL_HINT, LOCAL_SCHEDULERS, require_dask
from radiomap_geo.citywide.tasks import ModelSpec, TileJob, run_tile_job
from radiomap_geo.citywide.workdir import (
    RUN_FILE,
    RUN_FORMAT,
    TILES_DIR,
    WorkDir,
    load_tile,
    run_settings,
    save_tile,
)

__all__ = [
    "INSTALL_HINT",
    "LOCAL_SCHEDULERS",
    "RUN_FILE",
    "RUN_FORMAT",
    "TILES_DIR",
    "ModelSpec",
    "TileJob",
    "WorkDir",
    "load_tile",
    "predict_city",
    "require_dask",
    "run_settings",
    "run_tile_job",
    "save_tile",
]
