#!/usr/bin/env python3
"""Build the QGIS plugin zip for plugins.qgis.org, or stage the plugin folder for tests.

    python scripts/package_plugin.py                  # -> dist/radiomap_geo_qgis-<version>.zip
    python scripts/package_plugin.py --dist DIR       # the zip into DIR
    python scripts/package_plugin.py --stage DIR      # DIR/radiomap_geo_qgis/ (a QGIS_PLUGINPATH)

The zip holds one top folder, ``radiomap_geo_qgis/``, with the code from
``qgis_plugin/radiomap_geo_qgis/`` plus the repository's ``metadata.txt`` (the single source of the
metadata) and ``LICENSE``. It never bundles dependencies (torch, radiomap-geo): users install them
into QGIS's Python. The checks mirror the plugins.qgis.org validator: required metadata keys,
version equal to pyproject.toml, icon present, LICENSE without extension, size under 25 MB.
Standard library only, so any Python 3.10+ runs it.
"""

from __future__ import annotations

import argparse
import configparser
import re
import shutil
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "radiomap_geo_qgis"
PLUGIN_SRC = ROOT / "qgis_plugin" / PLUGIN_NAME
METADATA = ROOT / "metadata.txt"
LICENSE = ROOT / "LICENSE"

REQUIRED_KEYS = (
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
MAX_ZIP_BYTES = 25 * 1024 * 1024
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".git"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".whl", ".pt", ".pth"}
#: Dependencies live in the user's Python, never in the zip.
FORBIDDEN_TOP_PACKAGES = {"torch", "radiomap_geo", "numpy", "rasterio", "geopandas", "sionna"}
# A fixed timestamp makes the zip byte-for-byte reproducible.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackagingError(Exception):
    """The plugin does not meet a packaging rule."""


def read_metadata(path: Path = METADATA) -> configparser.SectionProxy:
    """The ``[general]`` section of ``metadata.txt``, with the required keys checked."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive (qgisMinimumVersion)
    parser.read(path, encoding="utf-8")
    if "general" not in parser:
        raise PackagingError(f"{path} has no [general] section")
    general = parser["general"]
    missing = [key for key in REQUIRED_KEYS if not general.get(key, "").strip()]
    if missing:
        raise PackagingError(f"{path} lacks required key(s) {missing}")
    if general.get("hasProcessingProvider", "").strip().lower() != "yes":
        raise PackagingError(f"{path}: hasProcessingProvider must be 'yes'")
    return general


def pyproject_version(path: Path = ROOT / "pyproject.toml") -> str:
    """``project.version`` of pyproject.toml."""
    text = path.read_text(encoding="utf-8")
    try:
        import tomllib

        return tomllib.loads(text)["project"]["version"]
    except ModuleNotFoundError:  # Python 3.10
        match = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
        if not match:
            raise PackagingError(f"no version in {path}") from None
        return match.group(1)


#: The placeholder links plugins.qgis.org refuses (its validator's ``forbidden_url``).
PLACEHOLDER_URLS = {
    "tracker": "http://bugs",
    "repository": "http://repo",
    "homepage": "http://homepage",
}
PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-_]+$")
FORBIDDEN_ZIP_DIRS = {"__MACOSX", ".git", "__pycache__"}


def check_links(general: configparser.SectionProxy) -> None:
    """The link rules of the plugins.qgis.org validator that hold offline.

    ``tracker``, ``repository`` and ``homepage`` (when given) must be absolute http(s) URLs and
    not the template's placeholders; the site also fetches them, which needs the network.
    """
    for key, placeholder in PLACEHOLDER_URLS.items():
        url = general.get(key, "").strip()
        if not url and key == "homepage":
            continue
        parsed = urlparse(url)
        if url == placeholder or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PackagingError(f"metadata.txt {key}={url!r} is not a real http(s) link")
        if "example" in parsed.netloc or "your" in url.lower() or "todo" in url.lower():
            raise PackagingError(f"metadata.txt {key}={url!r} looks like a placeholder")
    if "/" in general.get("author", ""):
        raise PackagingError("metadata.txt author cannot contain slashes")


def validate_zip(path: Path) -> None:
    """The archive rules of the plugins.qgis.org validator (size, names, one plugin folder)."""
    if path.stat().st_size >= MAX_ZIP_BYTES:
        raise PackagingError(f"{path} is {path.stat().st_size / 2**20:.1f} MB; the limit is 25 MB")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        bad = archive.testzip()
    if bad:
        raise PackagingError(f"{path}: bad zip member {bad}")
    for name in names:
        parts = name.split("/")
        if ".." in name or name.startswith("/") or name.endswith(".pyc"):
            raise PackagingError(f"{path}: member {name!r} is refused (path or .pyc)")
        if FORBIDDEN_ZIP_DIRS.intersection(parts):
            raise PackagingError(f"{path}: member {name!r} is in a refused folder")
    tops = {name.split("/")[0] for name in names}
    if len(tops) != 1 or not PACKAGE_NAME.match(next(iter(tops))):
        raise PackagingError(f"{path}: needs one top folder named like a package, has {tops}")
    top = next(iter(tops))
    for required in ("__init__.py", "metadata.txt", "LICENSE"):
        if f"{top}/{required}" not in names:
            raise PackagingError(f"{path}: {top}/{required} is missing")


def check(general: configparser.SectionProxy) -> None:
    """Cross-checks between metadata, pyproject and the plugin folder."""
    check_links(general)
    version = general["version"].strip()
    expected = pyproject_version()
    if version != expected:
        raise PackagingError(
            f"metadata.txt version {version} differs from pyproject.toml version {expected}"
        )
    icon = general.get("icon", "").strip()
    if not icon or not (PLUGIN_SRC / icon).is_file():
        raise PackagingError(f"icon {icon!r} named in metadata.txt is not in {PLUGIN_SRC}")
    if not LICENSE.is_file():
        raise PackagingError(f"{LICENSE} is missing")
    if not (PLUGIN_SRC / "__init__.py").is_file():
        raise PackagingError(f"{PLUGIN_SRC}/__init__.py (with classFactory) is missing")


def plugin_files() -> list[tuple[Path, str]]:
    """``(source file, path inside the plugin folder)`` for everything that ships."""
    files = []
    for path in sorted(PLUGIN_SRC.rglob("*")):
        rel = path.relative_to(PLUGIN_SRC)
        if not path.is_file() or EXCLUDED_DIRS.intersection(rel.parts):
            continue
        if path.suffix in EXCLUDED_SUFFIXES or rel.name in {"metadata.txt", "LICENSE"}:
            continue
        if rel.parts[0] in FORBIDDEN_TOP_PACKAGES:
            raise PackagingError(f"{path} looks like a bundled dependency; remove it")
        files.append((path, rel.as_posix()))
    files.append((METADATA, "metadata.txt"))
    files.append((LICENSE, "LICENSE"))
    return files


def stage(parent: Path) -> Path:
    """Copy the plugin as QGIS would install it: ``parent/radiomap_geo_qgis/``."""
    check(read_metadata())
    target = parent / PLUGIN_NAME
    if target.exists():
        shutil.rmtree(target)
    for src, rel in plugin_files():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return target


def build_zip(dist: Path) -> Path:
    """Write ``dist/radiomap_geo_qgis-<version>.zip`` and return its path."""
    general = read_metadata()
    check(general)
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{PLUGIN_NAME}-{general['version'].strip()}.zip"
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for src, rel in plugin_files():
            info = zipfile.ZipInfo(f"{PLUGIN_NAME}/{rel}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, src.read_bytes())
    size = tmp.stat().st_size
    if size >= MAX_ZIP_BYTES:
        tmp.unlink()
        raise PackagingError(f"the zip is {size / 2**20:.1f} MB; plugins.qgis.org takes < 25 MB")
    try:
        validate_zip(tmp)
    except PackagingError:
        tmp.unlink()
        raise
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="zip output folder")
    parser.add_argument(
        "--stage", type=Path, help="copy the plugin folder into this folder instead of zipping"
    )
    args = parser.parse_args(argv)
    try:
        if args.stage:
            print(stage(args.stage))
        else:
            path = build_zip(args.dist)
            print(f"{path} ({path.stat().st_size / 1024:.1f} KiB)")
    except PackagingError as exc:
        print(f"package_plugin: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
