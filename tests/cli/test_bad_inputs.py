"""Every bad input gets a clear error (or a visible warning), no traceback, nothing left behind.

One row per case: the real command line on a tiny area of ``sample_data/`` (the Helsinki OSM
extract), the expected exit code, words the message must contain, and the files the output
folder may hold afterwards (only what the row itself put there). Rows that warn instead of
refusing also name the words of the WARNING record; the CLI logs at WARNING by default, so those
are visible without ``-v``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli

BBOX = "24.940,60.166,24.944,60.168"  # about 220 m x 220 m in central Helsinki
SITE = {"site_id": "a", "lon": 24.942, "lat": 60.167, "height_m": 25.0}


@dataclass(frozen=True)
class Case:
    """One bad input: what is run and what must come out."""

    name: str
    args: tuple[str, ...]
    exit_code: int
    words: tuple[str, ...]  # in the message (stdout + stderr), case-insensitive
    command: str = "predict"
    setup: Callable[[Path, Path], dict[str, str]] | None = None  # (folder, footprints) -> values
    warns: tuple[str, ...] = ()  # words of a WARNING log record
    leaves: frozenset[str] = field(default_factory=frozenset)  # output files that may remain


# -- inputs the rows build ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def footprints(tmp_path_factory, sample_pbf) -> Path:
    """The OSM footprints of the tiny area (a few dozen), with a text ``height`` column."""
    from radiomap_geo.io.buildings import read_buildings
    from radiomap_geo.io.osm import read_osm_file

    frame = read_osm_file(sample_pbf)
    minx, miny, maxx, maxy = (float(v) for v in BBOX.split(","))
    frame = frame.cx[minx - 0.001 : maxx + 0.001, miny - 0.001 : maxy + 0.001]
    frame = read_buildings(frame)[["height_m", "geometry"]]
    frame = frame.assign(height=frame.pop("height_m").map(lambda h: f"{h:g}"))
    path = tmp_path_factory.mktemp("footprints") / "buildings.gpkg"
    frame.to_file(path)
    return path


def _sites_csv(folder: Path, **changes) -> Path:
    path = folder / "sites.csv"
    row = {**SITE, **changes}
    row = {k: v for k, v in row.items() if v is not _DROP}
    path.write_text(
        ",".join(row) + "\n" + ",".join("" if v is None else str(v) for v in row.values())
    )
    return path


_DROP = object()


def sites(**changes) -> Callable[[Path, Path], dict[str, str]]:
    """A one-site CSV with some columns changed (None: an empty cell, _DROP: no column)."""
    return lambda folder, footprints: {"sites": str(_sites_csv(folder, **changes))}


def heights(values: list, column: str = "height") -> Callable[[Path, Path], dict[str, str]]:
    """The footprints with the first heights replaced by ``values`` (a text column)."""

    def make(folder: Path, footprints: Path) -> dict[str, str]:
        frame = gpd.read_file(footprints)
        frame[column] = frame["height"].astype(str)
        for i, value in enumerate(values):
            frame.loc[i, column] = str(value)
        path = folder / "heights.geojson"
        frame.to_file(path)
        return {"buildings": str(path)}

    return make


def antenna_file(text: str) -> Callable[[Path, Path], dict[str, str]]:
    """A site whose antenna is an MSI file with ``text``."""

    def make(folder: Path, footprints: Path) -> dict[str, str]:
        pattern = folder / "panel.msi"
        pattern.write_text(text)
        return {"sites": str(_sites_csv(folder, antenna=str(pattern)))}

    return make


def _msi(horizontal: list[str], vertical_count: int = 360) -> str:
    lines = ["NAME panel", "GAIN 17 dBi", f"HORIZONTAL {len(horizontal)}", *horizontal]
    lines += [f"VERTICAL {vertical_count}"] + [f"{a} 0" for a in range(min(vertical_count, 360))]
    return "\n".join(lines) + "\n"


GOOD_CUT = [f"{a} {min(a, 360 - a) / 6:.1f}" for a in range(360)]


def existing(name: str) -> Callable[[Path, Path], dict[str, str]]:
    """An existing file in the output folder (kept, untouched)."""

    def make(folder: Path, footprints: Path) -> dict[str, str]:
        (folder / "out" / name).write_bytes(b"keep me")
        return {}

    return make


def stale_staging(folder: Path, footprints: Path) -> dict[str, str]:
    """A staging file left by a killed run (a process id that cannot exist)."""
    (folder / "out" / ".cov.tif.4194999.k1ll3d.staging").write_bytes(b"half a TIFF")
    return {}


def short_connect_timeout(folder: Path, footprints: Path) -> dict[str, str]:
    """Give up on an unreachable scheduler after 2 s instead of 30 s."""
    import dask

    dask.config.set({"distributed.comm.timeouts.connect": "2s"})
    return {}


def truncated_tile(folder: Path, footprints: Path) -> dict[str, str]:
    """A finished predict-city run kept in a work directory, with one tile cut short."""
    work = folder / "city.work"
    done = CliRunner().invoke(
        cli,
        [
            "predict-city", "--bbox", BBOX, "--resolution", "5", "--tx-file",
            str(_sites_csv(folder)), "--buildings", str(footprints), "--model", "3gpp-uma",
            "--tile-size", "16", "--work-dir", str(work), "-o", str(folder / "first.tif"),
            "--quiet", "--scheduler", "threads", "--workers", "1",
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    tile = sorted((work / "tiles").glob("*.npz"))[1]
    tile.write_bytes(tile.read_bytes()[:100])
    return {"work": str(work), "tile": tile.name}


def no_sites(folder: Path, footprints: Path) -> dict[str, str]:
    """No --tx-file on the command line (transmitters unknown)."""
    return {"sites": ""}


def measurements_no_sites(folder: Path, footprints: Path) -> dict[str, str]:
    """A few measured points inside the area, and no --tx-file."""
    path = folder / "m.csv"
    path.write_text("lon,lat,rsrp_dbm\n24.941,60.1665,-80\n24.942,60.167,-85\n")
    return {"measurements": str(path), **no_sites(folder, footprints)}


def no_features(folder: Path, footprints: Path) -> dict[str, str]:
    path = folder / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    return {"buildings": str(path)}


def no_crs(folder: Path, footprints: Path) -> dict[str, str]:
    frame = gpd.read_file(footprints).to_crs("EPSG:3067")
    path = folder / "nocrs.shp"
    frame.to_file(path)
    path.with_suffix(".prj").unlink()
    return {"buildings": str(path)}


# -- the table ---------------------------------------------------------------------------------

P = ("--model", "3gpp-uma")  # fast, and the default network is not what these rows test


def _p(name, args, code, words, **kw) -> Case:
    return Case(name, (*P, *args), code, tuple(words), **kw)


CASES = [
    # receiver and RSRP settings (RunOptions)
    _p("rx-height-nan", ("--rx-height", "nan"), 1, ["--rx-height", "finite"]),
    _p("rx-height-inf", ("--rx-height", "inf"), 1, ["--rx-height", "finite"]),
    _p("rx-height-negative", ("--rx-height", "-1"), 1, ["--rx-height", "above 0"]),
    _p("rx-height-zero", ("--rx-height", "0"), 1, ["--rx-height", "above 0"]),
    _p("rx-height-absurd", ("--rx-height", "10000"), 1, ["--rx-height", "at most 500"]),
    _p("rx-height-text", ("--rx-height", "high"), 2, ["--rx-height", "not a valid float"]),
    _p("bandwidth-zero", ("--bandwidth", "0"), 1, ["--bandwidth", "above 0"]),
    _p("bandwidth-negative", ("--bandwidth", "-20"), 1, ["--bandwidth", "above 0"]),
    _p("bandwidth-nan", ("--bandwidth", "nan"), 1, ["--bandwidth", "finite"]),
    _p("bandwidth-not-a-channel", ("--bandwidth", "7"), 1, ["--bandwidth", "use one of"]),
    _p("noise-figure-nan", ("--noise-figure", "nan"), 1, ["--noise-figure", "finite"]),
    _p("noise-figure-inf", ("--noise-figure", "inf"), 1, ["--noise-figure", "finite"]),
    _p("noise-figure-negative", ("--noise-figure", "-3"), 1, ["--noise-figure", "at least 0"]),
    _p("technology-unknown", ("--technology", "wifi"), 1, ["--technology", "nr, lte"]),
    _p("subcarrier-45", ("--subcarrier-spacing", "45"), 1, ["--subcarrier-spacing", "15, 30"]),
    _p(
        "lte-at-30khz",
        ("--technology", "lte", "--subcarrier-spacing", "30"),
        1,
        ["--subcarrier-spacing", "LTE", "15 kHz"],
    ),
    _p("lte-bandwidth", ("--technology", "lte", "--bandwidth", "40"), 1, ["--bandwidth", "LTE"]),
    _p("tile-size-zero", ("--tile-size", "0"), 1, ["--tile-size", "at least 16"]),
    _p("tile-size-negative", ("--tile-size", "-5"), 1, ["--tile-size"]),
    _p("tta-not-a-symmetry-count", ("--tta", "3"), 1, ["--tta", "1, 4, 8"]),
    _p("max-range-zero", ("--max-range", "0"), 1, ["--max-range", "above 0"]),
    _p("max-range-nan", ("--max-range", "nan"), 1, ["--max-range", "finite"]),
    _p("default-height-nan", ("--default-height", "nan"), 1, ["--default-height", "finite"]),
    _p("default-height-negative", ("--default-height", "-5"), 1, ["--default-height"]),
    _p("default-height-absurd", ("--default-height", "5000"), 1, ["--default-height", "1000"]),
    _p("storey-height-zero", ("--storey-height", "0"), 1, ["--storey-height", "above 0"]),
    # the model
    Case("model-empty", ("--model", ""), 1, ("--model", "empty")),
    Case("model-unknown", ("--model", "no-such-net"), 1, ("--model", "unknown model")),
    Case("model-plus-baseline", ("--model", "3gpp-uma+3gpp-umi"), 1, ("networks only",)),
    # the area
    _p("resolution-larger-than-box", ("--resolution", "5000"), 1, ["--resolution", "larger"]),
    _p("resolution-zero", ("--resolution", "0"), 1, ["--resolution", "positive"]),
    _p("resolution-nan", ("--resolution", "nan"), 1, ["--resolution", "positive"]),
    _p("resolution-negative", ("--resolution", "-2"), 1, ["--resolution", "positive"]),
    _p("crs-web-mercator-at-60n", ("--crs", "EPSG:3857"), 1, ["--crs", "distorts", "EPSG:32635"]),
    _p("crs-utm-zone-far-away", ("--crs", "EPSG:32631"), 1, ["--crs", "distorts", "1.7"]),
    _p("crs-geographic", ("--crs", "EPSG:4326"), 1, ["geographic"]),
    _p("crs-unknown", ("--crs", "EPSG:999999"), 1, ["unknown CRS"]),
    _p(
        "crs-utm-two-zones-away-warns",
        ("--crs", "EPSG:32633"),
        0,
        ["wrote"],
        warns=("distorts distances by 0.33 %", "EPSG:32635"),
        leaves=frozenset({"cov.tif"}),
    ),
    _p("bbox-swapped", ("--bbox", "24.944,60.168,24.940,60.166"), 1, ["--bbox", "swapped"]),
    _p("bbox-three-numbers", ("--bbox", "24.94,60.16,24.95"), 1, ["--bbox", "four numbers"]),
    _p("bbox-text", ("--bbox", "a,b,c,d"), 1, ["--bbox", "numbers"]),
    _p("bbox-empty", ("--bbox", "24.94,60.16,24.94,60.17"), 1, ["--bbox", "empty"]),
    _p("bbox-nan", ("--bbox", "nan,60.16,24.95,60.17"), 1, ["--bbox", "non-finite"]),
    _p("bbox-metres-as-degrees", ("--bbox", "385700,6671600,385900,6671900"), 1, ["longitudes"]),
    _p("bbox-crs-unknown", ("--bbox-crs", "EPSG:0"), 1, ["--bbox-crs", "unknown CRS"]),
    _p(
        "area-too-large",
        ("--bbox", "24.0,60.0,25.0,61.0", "--resolution", "1"),
        1,
        ["--allow-large", "million cells"],
    ),
    # sites
    _p("power-nan", (), 1, ["--tx-file", "power_dbm", "empty"], setup=sites(power_dbm=None)),
    _p("power-text", (), 1, ["power_dbm", "not a number"], setup=sites(power_dbm="high")),
    _p("power-absurd", (), 1, ["power_dbm", "outside"], setup=sites(power_dbm=200)),
    _p("frequency-in-ghz", (), 1, ["frequency_mhz", "GHz"], setup=sites(frequency_mhz=3.5)),
    _p("frequency-nan", (), 1, ["frequency_mhz", "empty"], setup=sites(frequency_mhz=None)),
    _p("tilt-absurd", (), 1, ["tilt_deg", "-90..90"], setup=sites(tilt_deg=120)),
    _p("site-height-negative", (), 1, ["height_m", "(0, 500]"], setup=sites(height_m=-3)),
    _p("site-height-missing", (), 1, ["required", "height_m"], setup=sites(height_m=_DROP)),
    _p("site-outside-area", (), 1, ["--tx-file", "outside the area"], setup=sites(lon=24.99)),
    _p("sites-left-out", (), 2, ["--tx-file", "--measurements"], setup=no_sites),
    Case(
        "sites-left-out-for-a-model-that-needs-them",
        ("--measurements", "{measurements}", "--measurement-model", "emgan-geo"),
        1,
        ("--measurement-model", "--tx-file", "emgan-geo"),
        setup=measurements_no_sites,
    ),
    _p(
        "measurement-options-without-measurements",
        ("--value-kind", "e-field", "--measurement-model", "idw"),
        2,
        ["--value-kind, --measurement-model", "only apply to --measurements"],
    ),
    _p("antenna-unknown", (), 1, ["unknown antenna"], setup=sites(antenna="yagi")),
    _p(
        "antenna-file-bad-number",
        (),
        1,
        ["panel.msi", "line 6", "'x'", "not a number"],
        setup=antenna_file(_msi(GOOD_CUT[:2] + ["x 3"] + GOOD_CUT[3:])),
    ),
    _p(
        "antenna-file-short-line",
        (),
        1,
        ["panel.msi", "line 4", "angle attenuation"],
        setup=antenna_file(_msi(["0"] + GOOD_CUT[1:])),
    ),
    _p(
        "antenna-file-truncated",
        (),
        1,
        ["panel.msi", "announces 360 angles", "ends"],
        setup=antenna_file(_msi(GOOD_CUT)[:-2000]),
    ),
    _p(
        "antenna-file-bad-gain",
        (),
        1,
        ["panel.msi", "line 2", "gain"],
        setup=antenna_file(_msi(GOOD_CUT).replace("GAIN 17", "GAIN high")),
    ),
    # buildings and their heights
    _p("buildings-no-features", (), 1, ["--buildings", "no features"], setup=no_features),
    _p("buildings-no-crs", (), 1, ["--buildings", "no CRS"], setup=no_crs),
    _p("height-column-missing", ("--height-column", "hoehe"), 1, ["no height column", "hoehe"]),
    _p(
        "heights-text-warn",
        (),
        0,
        ["wrote"],
        setup=heights(["tall", "very tall"]),
        warns=("2 of", "invalid height", "'tall'", "10 m"),
        leaves=frozenset({"cov.tif"}),
    ),
    _p(
        "heights-negative-warn",
        (),
        0,
        ["wrote"],
        setup=heights([-12.0, "-3"]),
        warns=("2 of", "invalid height", "-12"),
        leaves=frozenset({"cov.tif"}),
    ),
    _p(
        "heights-nan-text-warn",
        (),
        0,
        ["wrote"],
        setup=heights(["NaN", "nan", "inf"]),
        warns=("3 of", "invalid height"),
        leaves=frozenset({"cov.tif"}),
    ),
    _p(
        "heights-above-1000-warn",
        (),
        0,
        ["wrote"],
        setup=heights([1500.0]),
        warns=("1 of", "invalid height", "1500"),
        leaves=frozenset({"cov.tif"}),
    ),
    _p(
        "heights-text-strict",
        ("--strict",),
        1,
        ["--strict", "invalid height", "'tall'"],
        setup=heights(["tall"]),
    ),
    _p(
        "heights-above-1000-strict",
        ("--strict",),
        1,
        ["--strict", "1 of", "1500"],
        setup=heights([1500.0]),
    ),
    _p(
        "user-height-column-text-strict",
        ("--strict", "--height-column", "hoehe"),
        1,
        ["--strict", "'hoehe'", "'zwölf'"],
        setup=heights(["zwölf"], column="hoehe"),
    ),
    # outputs checked before any work
    _p(
        "preview-exists",
        ("--preview",),
        1,
        ["preview", "exists", "--overwrite"],
        setup=existing("cov.png"),
        leaves=frozenset({"cov.png"}),
    ),
    _p(
        "output-exists",
        (),
        1,
        ["exists", "--overwrite"],
        setup=existing("cov.tif"),
        leaves=frozenset({"cov.tif"}),
    ),
    Case("output-not-tiff", (*P, "-o", "{out}/cov.png"), 1, ("must end in .tif",)),
    _p("dst-crs-unknown", ("--dst-crs", "EPSG:999999"), 1, ["--dst-crs", "unknown CRS"]),
    _p("sites-file-missing", ("--tx-file", "{tmp}/nope.gpkg"), 2, ["--tx-file", "does not exist"]),
    _p("buildings-file-missing", ("--buildings", "{tmp}/nope.osm"), 2, ["does not exist"]),
    _p("open-ground-with-buildings", ("--open-ground",), 1, ["--buildings", "open ground"]),
    _p(
        "output-under-a-file",
        ("-o", "{tmp}/sites.csv/cov.tif"),
        1,
        ["--output", "is a file, not a folder"],
    ),
    _p(
        "stale-staging-of-a-killed-run-is-removed",
        (),
        0,
        ["wrote"],
        setup=stale_staging,
        leaves=frozenset({"cov.tif"}),
    ),
    # simulate: refused before the ray tracer starts
    Case("sim-samples-nan", ("--samples", "nan"), 1, ("--samples", "whole"), "simulate"),
    Case("sim-samples-zero", ("--samples", "0"), 1, ("--samples", "between 1"), "simulate"),
    Case("sim-samples-fraction", ("--samples", "2.5"), 1, ("--samples", "whole"), "simulate"),
    Case("sim-samples-inf", ("--samples", "inf"), 1, ("--samples",), "simulate"),
    Case("sim-max-depth-negative", ("--max-depth", "-1"), 1, ("--max-depth",), "simulate"),
    Case("sim-max-depth-100", ("--max-depth", "100"), 1, ("--max-depth", "0 to 10"), "simulate"),
    Case("sim-seed-negative", ("--seed", "-1"), 1, ("seed", "whole number"), "simulate"),
    Case("sim-rx-height-nan", ("--rx-height", "nan"), 1, ("--rx-height", "finite"), "simulate"),
    Case(
        "sim-tx-at-rx-height",
        ("--rx-height", "25"),
        1,
        ("--rx-height", "within 0.1 m", "direct path"),
        "simulate",
    ),
    Case(
        "sim-tx-just-above-rx-height",
        ("--rx-height", "24.95"),
        1,
        ("--rx-height", "direct path"),
        "simulate",
    ),
    Case("sim-bandwidth-zero", ("--bandwidth", "0"), 1, ("--bandwidth",), "simulate"),
    Case("sim-tile-size-is-no-option", ("--tile-size", "0"), 2, ("no such option",), "simulate"),
    # evaluate
    Case("eval-max-maps-zero", ("--max-maps", "0"), 2, ("--max-maps", "0"), "evaluate"),
    Case("eval-max-maps-negative", ("--max-maps", "-3"), 2, ("--max-maps",), "evaluate"),
    Case("eval-model-empty", ("--model", ""), 1, ("--model", "empty"), "evaluate"),
    Case("eval-threshold-nan", ("--threshold", "nan"), 1, ("--threshold",), "evaluate"),
    Case("eval-threads-zero", ("--threads", "0"), 2, ("--threads",), "evaluate"),
    Case(
        "eval-rt-noise-negative", ("--rt-noise-tiles", "-1"), 2, ("--rt-noise-tiles",), "evaluate"
    ),
    # predict-city shares the options
    Case("city-tile-size-zero", (*P, "--tile-size", "0"), 1, ("--tile-size",), "predict-city"),
    Case("city-rx-height-nan", (*P, "--rx-height", "nan"), 1, ("--rx-height",), "predict-city"),
    Case("city-workers-zero", (*P, "--workers", "0"), 2, ("--workers",), "predict-city"),
    Case("city-scheduler-bad", (*P, "--scheduler", "gpu"), 2, ("--scheduler",), "predict-city"),
    Case(
        "city-scheduler-unreachable",
        (*P, "--scheduler", "tcp://127.0.0.1:9"),
        1,
        ("cannot reach the Dask scheduler", "tcp://127.0.0.1:9", "--scheduler threads"),
        "predict-city",
        setup=short_connect_timeout,
    ),
    Case(
        "city-truncated-tile-is-named-and-recomputed",
        (*P, "--tile-size", "16", "--work-dir", "{work}", "--workers", "1"),
        0,
        ("wrote",),
        "predict-city",
        setup=truncated_tile,
        warns=("{tile}", "recomputed"),
        leaves=frozenset({"cov.tif"}),
    ),
]


def _command_line(case: Case, tmp: Path, values: dict[str, str]) -> list[str]:
    if case.command == "evaluate":
        return ["evaluate", str(tmp), *case.args]
    sites = ["--tx-file", values["sites"]] if values["sites"] else []  # "": left out
    base = [
        case.command,
        "--bbox",
        BBOX,
        "--resolution",
        "5",
        *sites,
        "--buildings",
        values["buildings"],
        "-o",
        values["output"],
        "--quiet",
    ]
    if case.command == "simulate":
        base += ["--samples", "1000"]
    args = [a.format(**values) for a in case.args]
    # A later repetition of an option wins in click: the row's values come last.
    return [*base, *args]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, footprints, caplog):
    out = tmp_path / "out"
    out.mkdir()
    values = {
        "tmp": str(tmp_path),
        "out": str(out),
        "output": str(out / "cov.tif"),
        "sites": str(_sites_csv(tmp_path)),
        "buildings": str(footprints),
    }
    if case.setup is not None:
        values.update(case.setup(tmp_path, footprints))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    caplog.set_level(logging.WARNING)
    result = CliRunner().invoke(cli, _command_line(case, tmp_path, values))
    text = result.output  # stdout and stderr as a terminal shows them
    assert result.exit_code == case.exit_code, text
    assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
    assert "Traceback" not in text
    for word in case.words:
        assert word.lower() in text.lower(), f"{word!r} not in: {text}"
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    for word in (w.format(**values) for w in case.warns):
        assert word.lower() in warnings.lower(), f"{word!r} not in the warnings: {warnings}"
    left = {p.name for p in out.iterdir()}
    assert left == set(case.leaves), f"left behind: {left - set(case.leaves)}"
    for name, content in before.items():  # what the row put there stays as it was, or goes
        if name in case.leaves:
            assert (out / name).read_bytes() == content, f"{name} was modified"


def test_the_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
