"""Atomic outputs for writers that pick the format by the file's extension.

GDAL (vector layers) and matplotlib choose their driver, and GDAL warns, by the extension, while
the staging files of :mod:`radiomap_geo.io.atomic` end in ``.staging``: :func:`staged_file` hands
such writers a staging name that keeps the target's extension, and :func:`write_layers` writes one
or more layers of a GeoPackage (or the single layer of another vector format). Either way the
target appears complete or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from radiomap_geo.io.atomic import atomic_path


@contextmanager
def staged_file(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Like :func:`~radiomap_geo.io.atomic.atomic_path`, the staging name ending in the target's
    extension (so GDAL, pandas and friends recognise the format).
    """
    suffix = Path(target).suffix
    with atomic_path(target, overwrite=overwrite) as staging:
        if not suffix:  # nothing to keep: the staging file itself
            yield staging
            return
        named = staging.with_name(staging.name + suffix)
        try:
            yield named
            os.replace(named, staging)
        finally:
            named.unlink(missing_ok=True)


#: Vector drivers by extension; any other name gets a GeoPackage.
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf"}


def write_layers(
    target: str | os.PathLike, layers: Mapping[str, Any], *, overwrite: bool = False
) -> Path:
    """Write GeoDataFrames as the named layers of ``target`` (driver by :data:`DRIVERS`).

    Raises:
        OutputExistsError: ``target`` exists and not ``overwrite``.
    """
    driver = DRIVERS.get(Path(target).suffix.lower(), "GPKG")
    with staged_file(target, overwrite=overwrite) as staging:
        for name, frame in layers.items():
            frame.to_file(staging, layer=name, driver=driver)
    return Path(target)
