"""The built wheel, installed into a fresh virtual environment offline, predicts with the default
network (the weights travel inside the wheel), and ``RADIOMAP_GEO_WEIGHTS`` still overrides.

The wheel is built from a copy of the files a release is made of (no checkout beside the installed
package) with the local setuptools, and installed with ``--no-index --no-deps``. The dependency
closure (torch, rasterio, ...) is not rebuilt: the fresh environment reads it from this test's own
environment through a plain path line in a ``.pth`` file, which adds the folder but runs none of
its ``.pth`` hooks, so the editable install of the checkout stays invisible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import rasterio

from radiomap_geo.models.registry import read_index

REPO = Path(__file__).resolve().parents[1]
RELEASE_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
RELEASE_DIRS = ("radiomap_geo", "weights")
SAMPLE_BBOX = "24.937,60.165,24.951,60.172"


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its ``bin`` folder."""
    pytest.importorskip("setuptools.build_meta", reason="the setuptools build backend is missing")
    pytest.importorskip("wheel", reason="the wheel package is missing")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in RELEASE_FILES:
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_weights")
    for name in RELEASE_DIRS:
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", root / "dist", source],
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "dist").glob("radiomap_geo-*.whl")

    env_dir = root / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    install = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--no-deps"]
        + [wheel],
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(site.stdout.strip(), "_radiomap_geo_test_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return env_dir / "bin"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RADIOMAP_GEO", "PYTHON"))}
    return {**env, "PYTHONNOUSERSITE": "1", **extra}


def test_the_wheel_carries_the_default_network_and_predicts_with_it(installed, tmp_path):
    located = _run(
        [
            installed / "python",
            "-c",
            "import radiomap_geo.models.registry as r; "
            "print(r.__file__); print(r.weights_dir()); print(r.default_model())",
        ],
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert located.returncode == 0, located.stderr
    module, folder, default = located.stdout.split()
    venv_dir = installed.parent
    assert Path(module).is_relative_to(venv_dir)  # not the checkout
    assert Path(folder) == Path(module).parents[1] / "_weights"
    expected = next(name for name, e in read_index(REPO / "weights").items() if e.get("default"))
    assert default == expected == "unet-obs"

    output = tmp_path / "coverage.tif"
    run = _run(
        [installed / "radiomap-geo", "predict", "--bbox", SAMPLE_BBOX, "--resolution", "4"]
        + ["--tx-file", REPO / "sample_data" / "sites.gpkg"]
        + ["--buildings", REPO / "sample_data" / "helsinki.osm.pbf", "-o", output],
        cwd=tmp_path,
        env=_clean_env(),
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sha = read_index(REPO / "weights")["unet-obs"]["sha256"]
    # The provenance line is shown at the default log level: model, weights hash and fallback.
    assert f"network unet-obs, weights {folder}" in run.stderr
    assert f"(sha256 {sha})" in run.stderr and "fallback: calibrated 3gpp-uma" in run.stderr
    assert "float32 arithmetic" in run.stderr or "bfloat16 arithmetic" in run.stderr
    with rasterio.open(output) as ds:
        assert ds.tags()["model"] == "unet-obs+3gpp-uma"
        assert ds.descriptions[0] == "rsrp_dbm"

    version = _run([installed / "radiomap-geo", "--version"], cwd=tmp_path, env=_clean_env())
    assert version.returncode == 0 and version.stdout.split()[-1] == "0.1.0"


def test_the_environment_variable_overrides_and_a_damaged_index_is_an_error(installed, tmp_path):
    custom = tmp_path / "weights"
    custom.mkdir()
    (custom / "index.json").write_text('{"unet-obs": {"file": "unet-obs.pt"')  # truncated
    run = _run(
        [installed / "radiomap-geo", "predict", "--bbox", SAMPLE_BBOX, "--resolution", "4"]
        + ["--tx-file", REPO / "sample_data" / "sites.gpkg"]
        + ["--buildings", REPO / "sample_data" / "helsinki.osm.pbf", "-o", tmp_path / "c.tif"],
        cwd=tmp_path,
        env=_clean_env(RADIOMAP_GEO_WEIGHTS=str(custom)),
        timeout=300,
    )
    assert run.returncode != 0
    assert f"cannot read the weights index {custom / 'index.json'}" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "c.tif").exists()

    # An intact custom index with another default is used instead of the packaged one.
    shipped = read_index(REPO / "weights")["unet-small"]
    shutil.copy2(REPO / "weights" / shipped["file"], custom / shipped["file"])
    entry = {"file": shipped["file"], "sha256": shipped["sha256"], "default": True}
    (custom / "index.json").write_text(json.dumps({"unet-small": entry}))
    located = _run(
        [
            installed / "python",
            "-c",
            "from radiomap_geo.models.registry import default_model as d; print(d())",
        ],
        cwd=tmp_path,
        env=_clean_env(RADIOMAP_GEO_WEIGHTS=str(custom)),
    )
    assert located.returncode == 0 and located.stdout.strip() == "unet-small", located.stderr


def test_the_qgis_plugin_zip_runs_on_the_installed_package(installed, tmp_path):
    """The plugin zip unpacked as QGIS installs plugins, the package from the wheel (no
    checkout on the path): the default model is the shipped network."""
    import zipfile

    qgis_process = shutil.which("qgis_process.bin")
    if qgis_process is None:
        pytest.skip("qgis_process.bin is not installed (apt-get install qgis)")
    dist = tmp_path / "dist"
    packaged = _run([sys.executable, REPO / "scripts" / "package_plugin.py", "--dist", dist])
    assert packaged.returncode == 0, packaged.stderr
    (plugin_zip,) = dist.glob("radiomap_geo_qgis-*.zip")
    home = tmp_path / "qgis"
    plugins = home / "plugins"
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins)
    (home / "xdg").mkdir(mode=0o700)
    fresh_site = _run(
        [installed / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    env = _clean_env(
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(home / "xdg"),
        QGIS_CUSTOM_CONFIG_PATH=str(home / "config"),
        QGIS_PLUGINPATH=str(plugins),
        # QGIS's Python reads no venv: the wheel's install first, then its dependencies
        PYTHONPATH=f"{fresh_site}:{sysconfig.get_paths()['purelib']}",
    )
    env.pop("QGIS_PREFIX_PATH", None)

    def call(*args):
        return _run([qgis_process, *args], cwd=tmp_path, env=env, timeout=300)

    enabled = call("plugins", "enable", "radiomap_geo_qgis")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    helped = call("help", "radiomapgeo:predictcoverage")
    assert helped.returncode == 0, helped.stderr
    assert "unet-obs" in helped.stdout.split("MODEL", 1)[1]  # listed, and first: the default
    rsrp = tmp_path / "rsrp.tif"
    pbf = REPO / "sample_data" / "helsinki.osm.pbf"
    done = call(
        "--json",
        "run",
        "radiomapgeo:predictcoverage",
        "--",
        f"SITES={REPO / 'sample_data' / 'sites.gpkg'}",
        f'BUILDINGS={pbf}|layername=multipolygons|subset="building" IS NOT NULL',
        "EXTENT=24.937,24.951,60.165,60.172 [EPSG:4326]",
        "RESOLUTION=4",
        f"OUTPUT_RSRP={rsrp}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with rasterio.open(rsrp) as ds:
        assert ds.tags()["model"] == "unet-obs+3gpp-uma"
    # Neither the checkout nor its weights/ were on QGIS's path: the network came from the wheel.
    assert REPO not in [Path(p) for p in env["PYTHONPATH"].split(":")]
    assert "RADIOMAP_GEO_WEIGHTS" not in env
