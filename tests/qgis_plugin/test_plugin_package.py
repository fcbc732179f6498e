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


def _packager():
    import importlib.util

    spec = importlib.util.spec_from_file_location("package_plugin", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metadata_links_pass_the_plugin_repository_rules():
    packager = _packager()
    general = packager.read_metadata()
    packager.check_links(general)  # the committed metadata.txt
    assert general["repository"] == "https://github.com/radiomap-geo/radiomap-geo"
    assert general["tracker"] == general["repository"] + "/issues"
    for key, bad in (
        ("tracker", "http://bugs"),
        ("repository", "http://repo"),
        ("homepage", "http://homepage"),
        ("repository", "github.com/radiomap-geo"),
        ("tracker", "https://example.com/issues"),
    ):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read_dict({"general": {**general, key: bad}})
        try:
            packager.check_links(parser["general"])
        except packager.PackagingError as exc:
            assert key in str(exc)
        else:
            raise AssertionError(f"{key}={bad} was accepted")


def test_zips_the_repository_would_refuse_are_refused(tmp_path):
    packager = _packager()
    good = build(tmp_path / "good")
    packager.validate_zip(good)
    cases = {
        "pycache": "radiomap_geo_qgis/__pycache__/x.cpython-311.pyc",
        "two-tops": "other/readme.txt",
        "parent": "radiomap_geo_qgis/../evil.py",
    }
    for label, extra in cases.items():
        bad = tmp_path / f"{label}.zip"
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.infolist():
                dst.writestr(item, src.read(item))
            dst.writestr(extra, b"x")
        try:
            packager.validate_zip(bad)
        except packager.PackagingError:
            continue
        raise AssertionError(f"{label}: accepted")
