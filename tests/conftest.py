"""Shared fixtures: where the project's sample data and the shared real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """``sample_data/`` of the repository (Helsinki OSM extract, sites)."""
    return REPO_ROOT / "sample_data"


@pytest.fixture(scope="session")
def sample_pbf(sample_dir: Path) -> Path:
    """The Helsinki OSM extract shipped in ``sample_data/``."""
    return sample_dir / "helsinki.osm.pbf"


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    """``tests/data/``: small recorded inputs for the tests."""
    return REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real public data beside the checkout (``../shared/data``); skips when it is absent.

    ``RADIOMAP_GEO_SHARED_DATA`` points elsewhere.
    """
    path = Path(os.environ.get("RADIOMAP_GEO_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared real data not found at {path}")
    return path


@pytest.fixture
def shared_file(shared_data: Path):
    """Return a function ``(relative path) -> Path`` that skips when that one file is absent."""

    def get(relative: str) -> Path:
        path = shared_data / relative
        if not path.exists():
            pytest.skip(f"{path} not found")
        return path

    return get
