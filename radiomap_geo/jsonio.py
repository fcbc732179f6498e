"""JSON records (manifests, run settings, reports, the weights index): the one reader and writer.

:func:`plain` turns values into what JSON can hold and gives back unchanged (tuples become lists,
numpy scalars builtins, paths strings, NaN ``null``, infinities ``"inf"``/``"-inf"``), so a
record read back compares equal to the one written. :func:`write_json` publishes atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiomap_geo.io.atomic import atomic_open


def plain(value: Any) -> Any:
    """A JSON-safe copy of ``value`` (see the module docstring)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def write_json(path: str | os.PathLike, data: Any, *, sort_keys: bool = False) -> Path:
    """Write ``plain(data)`` as indented JSON, atomically (replacing an earlier version)."""
    with atomic_open(path, "w") as stream:
        json.dump(plain(data), stream, indent=1, sort_keys=sort_keys, allow_nan=False)
        stream.write("\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in ``path`` (``OSError`` / ``ValueError`` propagate to the caller)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
