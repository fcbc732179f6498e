"""Tiny ray-traced datasets for the measurement pipeline (a stand-in tracer: seconds each)."""

from __future__ import annotations

from pathlib import Path

import pytest


def build_tiny(out: Path, fake_tracer_class, *, seed: int = 0, size: int = 32) -> Path:
    """12 procedural tiles of ``size`` cells at 2 m, two sites each (tile ids 0-11 whatever the
    seed: two such datasets share their map identities, not their buildings).
    """
    from radiomap_geo.dataset.build import BuildConfig, build_dataset

    config = BuildConfig(
        n_tiles=12,
        size=size,
        resolution_m=2.0,
        samples_per_tx=1000,
        sites_per_tile=2,
        seed=seed,
        sources={"procedural": 1.0},
    )
    with pytest.MonkeyPatch.context() as mp:
        fake_tracer_class(nlos_penalty_db=20.0).install(mp)
        build_dataset(out, config)
    return out


@pytest.fixture(scope="module")
def tiny_datasets(tmp_path_factory, fake_tracer_class) -> dict[str, Path]:
    """``{"a": seed 0, "b": seed 1, "wide": seed 0 at 64 cells}``, built once per module."""
    root = tmp_path_factory.mktemp("tiny-sparse")
    return {
        "a": build_tiny(root / "a", fake_tracer_class, seed=0),
        "b": build_tiny(root / "b", fake_tracer_class, seed=1),
        "wide": build_tiny(root / "wide", fake_tracer_class, seed=0, size=64),
    }
