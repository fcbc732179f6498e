"""``infer-buildings`` and ``simulate`` options: outputs named by their own flag, the ray
tracer's limits and default cell size shared with the QGIS algorithm (one constant each).
"""

from __future__ import annotations

from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.cli.simulate import simulate
from radiomap_geo.rt.simulate import MAX_DEPTH, RESOLUTION_M


def test_existing_polygons_file_is_named_by_its_flag(tmp_path):
    for name in ("m.gpkg", "sites.gpkg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "existing.gpkg").write_bytes(b"kept")
    args = [
        "infer-buildings",
        "--measurements",
        str(tmp_path / "m.gpkg"),
        "--tx-file",
        str(tmp_path / "sites.gpkg"),
        "--bbox",
        "24.940,60.166,24.944,60.168",
        "-o",
        str(tmp_path / "new.tif"),
        "--polygons",
        str(tmp_path / "existing.gpkg"),
    ]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 1, run.output
    assert "--polygons" in run.output and "--output" not in run.output
    assert "existing.gpkg exists" in run.output and "Traceback" not in run.output
    assert (tmp_path / "existing.gpkg").read_bytes() == b"kept"
    assert not (tmp_path / "new.tif").exists()


def test_simulate_defaults_come_from_the_ray_tracer():
    params = {p.name: p for p in simulate.params}
    assert params["resolution"].default == RESOLUTION_M
    assert f"0 to {MAX_DEPTH}" in params["max_depth"].help
