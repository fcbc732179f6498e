"""scripts/package_plugin.py: the zip plugins.qgis.org accepts (no QGIS needed)."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile

from qgis_support import REPO

SCRIPT = REPO / "scripts" / "package_plugin.py"
REQUIRED = (
    "name",
    "description",
    "version",
    "qgisMinimumVersion",
    "author",
    "email",
    "about",
    "tracker",
    "repository",
)


def build(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dist", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    zips = list(tmp_path.glob("*.zip"))
    assert len(zips) == 1, done.stdout + done.stderr
    return zips[0]


def test_zip_layout_and_metadata(tmp_path):
    path = build(tmp_path)
    assert path.stat().st_size < 25 * 1024 * 1024
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert {n.split("/")[0] for n in names} == {"radiomap_geo_qgis"}  # one top folder
        for required in ("__init__.py", "metadata.txt", "LICENSE", "icon.png", "provider.py"):
            assert f"radiomap_geo_qgis/{required}" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so"))]
        assert not [n for n in names if "/torch/" in n or "/radiomap_geo/" in n]
        meta = configparser.ConfigParser(interpolation=None)
        meta.optionxform = str
        meta.read_string(archive.read("radiomap_geo_qgis/metadata.txt").decode())
        icon = archive.read("radiomap_geo_qgis/icon.png")
        license_text = archive.read("radiomap_geo_qgis/LICENSE").decode()
    general = meta["general"]
    assert all(general.get(key, "").strip() for key in REQUIRED)
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"
    assert path.name == f"radiomap_geo_qgis-{general['version']}.zip"
    assert "pip install radiomap-geo" in general["about"]
    assert icon.startswith(b"\x89PNG\r\n\x1a\n")
    assert license_text.startswith("MIT License") and "radiomap-geo developers" in license_text


def test_version_matches_pyproject_and_zip_is_reproducible(tmp_path):
    import re

    text = (REPO / "pyproject.toml").read_text()
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text).group(1)
    first = build(tmp_path / "a")
    second = build(tmp_path / "b")
    assert first.name == f"radiomap_geo_qgis-{version}.zip"
    assert first.read_bytes() == second.read_bytes()


def test_stage_is_the_zip_unpacked(tmp_path):
    staged = subprocess.run(
        [sys.executable, str(SCRIPT), "--stage", str(tmp_path / "plugins")],
        capture_output=True,
        text=True,
        check=True,
    )
    folder = tmp_path / "plugins" / "radiomap_geo_qgis"
    assert staged.stdout.strip() == str(folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(build(tmp_path / "dist")) as archive:
        zipped = sorted(n.removeprefix("radiomap_geo_qgis/") for n in archive.namelist())
    assert files == zipped
