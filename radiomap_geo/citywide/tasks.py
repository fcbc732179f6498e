"""One tile's task and how a worker gets its model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiomap_geo.citywide.workdir import save_tile
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.models.registry import default_model, get_model
from radiomap_geo.predict import (
    PredictOptions,
    SceneSource,
    TilePlan,
    coverage_tile,
)
from radiomap_geo.sites import Sites

# -- the model in the workers ------------------------------------------------------------------

_LOCAL = threading.local()


@dataclass(frozen=True)
class ModelSpec:
    """How a worker gets the model: rebuilt from a registry name, or a shipped object."""

    name: str | None = None
    reach_m: float | None = None
    tta: int = 1
    precision: str = "auto"
    model: PathGainModel | None = None

    @classmethod
    def of(cls, model: str | PathGainModel | None, options: PredictOptions) -> ModelSpec:
        """The spec for :func:`predict_city`'s ``model`` under the run's ``options``
        (``max_range_m``, ``tta``, ``precision``).
        """
        if model is None or isinstance(model, str):
            # Resolve the default here, so every worker builds the same model.
            return cls(
                name=model or default_model(),
                reach_m=options.max_range_m,
                tta=options.tta,
                precision=options.precision,
            )
        return cls(model=model)

    def build(self) -> PathGainModel:
        """The model; a named one is built once per worker thread and kept."""
        if self.model is not None:
            return self.model
        # Per thread, not per process: models may hold caches that are not thread-safe.
        cache = getattr(_LOCAL, "models", None)
        if cache is None:
            cache = _LOCAL.models = {}
        key = (self.name, self.reach_m, self.tta, self.precision)
        if key not in cache:
            cache[key] = get_model(
                self.name, reach_m=self.reach_m, tta=self.tta, precision=self.precision
            )
        return cache[key]


def _check_picklable(spec: ModelSpec) -> None:
    """Refuse early a model object that cannot travel to another process."""
    if spec.model is None:
        return
    import cloudpickle

    try:
        cloudpickle.dumps(spec.model)
    except Exception as exc:
        raise InputError(
            f"the model object {type(spec.model).__name__} cannot be sent to worker processes "
            f"({exc}); pass its registry name (model='...') or use scheduler='threads'"
        ) from exc


# -- one tile's task ---------------------------------------------------------------------------


class TileJob:
    """Everything one tile's task needs, and the task itself (``job()``).

    A plain class rather than a dataclass: Dask leaves it opaque instead of walking its fields
    for nested tasks. Threads share the run's footprints; a job pickled for another process
    carries only those its tile sees.
    """

    __slots__ = ("grid", "plan", "sites", "model", "source", "options", "target")

    def __init__(
        self,
        grid: Grid,
        plan: TilePlan,
        sites: Sites,
        model: ModelSpec,
        source: SceneSource,
        options: PredictOptions,
        target: Path,
    ) -> None:
        self.grid, self.plan, self.sites, self.model = grid, plan, sites, model
        self.source, self.options, self.target = source, options, target

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process: ship only the footprints this tile sees, not the city's.
        state = {key: getattr(self, key) for key in self.__slots__}
        state["source"] = self.source.clipped_to(self.plan.tile.grid)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def __call__(self) -> str:
        """Compute the tile and store it; returns the tile file's name."""
        bands = coverage_tile(
            self.grid,
            self.plan.tile,
            self.sites,
            self.plan.near,
            self.model.build(),
            self.source,
            self.options,
        )
        save_tile(self.target, bands)
        return self.target.name


def run_tile_job(job: TileJob) -> str:
    """Module-level entry point of a tile task (importable by name in any worker)."""
    return job()
