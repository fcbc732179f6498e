"""Shared fixtures: where the project's sample data and the shared real data sets live."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class FakeTracer:
    """Stands in for Sionna in dataset tests: free space, minus ``nlos_penalty_db`` out of 2.5-D
    line of sight. Patches only the tracing steps, so the real tile pipeline runs around it.
    """

    def __init__(self, nlos_penalty_db: float = 0.0):
        self.nlos_penalty_db = nlos_penalty_db
        self.tile_ids: list[int] = []  # tiles computed, in order

    def load_tile_scene(self, grid, buildings, config):
        from types import SimpleNamespace

        from radiomap_geo.rasterize import rasterize_buildings

        heights = rasterize_buildings(buildings, grid)
        return SimpleNamespace(grid=grid, heights=heights, footprints=[]), None

    def trace_site(self, rts, solver, site, config, seed):
        import numpy as np

        from radiomap_geo.los import line_of_sight

        x, y = rts.grid.cell_centers()
        d = np.hypot(np.hypot(x - site.x, y - site.y), site.height_m - config.rx_height_m)
        gain = -43.3 - 20 * np.log10(np.maximum(d, 1.0))
        if self.nlos_penalty_db:
            los = line_of_sight(
                rts.heights,
                rts.grid,
                rts.grid,
                (site.x, site.y),
                site.height_m,
                config.rx_height_m,
            )
            gain = gain - np.where(los, 0.0, self.nlos_penalty_db)
        return gain

    def install(self, monkeypatch) -> FakeTracer:
        """Patch the builder through ``monkeypatch`` (a fixture or a ``MonkeyPatch.context()``)."""
        from radiomap_geo.dataset import tracing as build_mod

        real_tile_heights = build_mod.tile_heights

        def tile_heights(spec, config, grid):
            self.tile_ids.append(spec.tile_id)
            return real_tile_heights(spec, config, grid)

        monkeypatch.setattr(build_mod, "tile_heights", tile_heights)
        monkeypatch.setattr(build_mod, "load_tile_scene", self.load_tile_scene)
        monkeypatch.setattr(build_mod, "trace_site", self.trace_site)
        monkeypatch.setattr(build_mod, "backend_versions", lambda: {"sionna_rt_version": "fake"})
        return self


@pytest.fixture(scope="session")
def fake_tracer_class() -> type[FakeTracer]:
    """:class:`FakeTracer`, for tests that install it themselves."""
    return FakeTracer


# What osmnx parses from /status before a query (otherwise it pauses 60 s).
STATUS = (
    "Connected as: 2130706433\n"
    "Current time: 2026-11-22T00:00:00Z\n"
    "Announced endpoint: none\n"
    "Rate limit: 2\n"
    "2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)


class ReplayServer:
    """An HTTP server on 127.0.0.1 answering Overpass ``/status`` and ``/interpreter``."""

    def __init__(self, response: bytes) -> None:
        self.requests: list[tuple[str, str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                owner.requests.append(("GET", self.path, ""))
                if self.path.endswith("/status"):
                    self._send(STATUS.encode(), "text/plain")
                else:
                    self.send_error(404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                owner.requests.append(("POST", self.path, body))
                if self.path.endswith("/interpreter"):
                    self._send(response, "application/json")
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @property
    def posts(self) -> int:
        """How many Overpass queries arrived."""
        return sum(1 for method, _, _ in self.requests if method == "POST")


@pytest.fixture
def overpass_replay(test_data_dir: Path):
    """A local Overpass API replaying ``tests/data/overpass_helsinki.json`` (no network)."""
    server = ReplayServer((test_data_dir / "overpass_helsinki.json").read_bytes())
    yield server
    server.close()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, sample_pbf, fake_tracer_class):
    """8 tiles of 32 x 32 cells at 4 m, 4 sites each: train, val and test splits."""
    from radiomap_geo.dataset.build import BuildConfig, build_dataset

    out = tmp_path_factory.mktemp("tiny-dataset") / "ds"
    config = BuildConfig(
        n_tiles=8,
        size=32,
        resolution_m=4.0,
        samples_per_tx=1000,
        sites_per_tile=4,
        seed=1,
        sources={"procedural": 0.5, "helsinki": 0.5},
        helsinki=str(sample_pbf),
        tiles_per_shard=4,
    )
    with pytest.MonkeyPatch.context() as mp:
        fake_tracer_class(nlos_penalty_db=20.0).install(mp)
        summary = build_dataset(out, config)
    assert {"train", "val", "test"} <= set(summary["splits"]), summary["splits"]
    return out
