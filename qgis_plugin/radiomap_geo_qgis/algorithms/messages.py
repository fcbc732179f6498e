"""What the user reads in the Processing log: the grid, extents, the library's warnings.

The library reports replaced values and repairs (invalid footprints, unknown heights, ...) with
``logging`` at WARNING; :class:`LibraryLog` shows those lines in the algorithm's log, where the
user sees them, instead of only on a console QGIS users never open.
"""

from __future__ import annotations

import logging
import threading

from .convert import tr

#: The share of features without a ``building`` value above which a layer is taken to be an
#: unfiltered OpenStreetMap multipolygons layer (land use, parks, squares as "buildings").
UNFILTERED_OSM_SHARE = 0.02
OSM_FILTER = '"building" IS NOT NULL'


def format_bounds(bounds, geographic: bool = False) -> str:
    """``xmin, ymin, xmax, ymax`` at a useful precision: 6 decimals in degrees, 1 in metres."""
    digits = 6 if geographic else 1
    return ", ".join(f"{value:.{digits}f}" for value in bounds)


def describe_grid(grid) -> str:
    """The working grid as a user reads it: cells, cell size, size on the ground, CRS."""
    crs = grid.crs
    epsg = crs.to_epsg()
    code = f"EPSG:{epsg}" if epsg else crs.to_string()
    name = f" ({crs.name})" if crs.name and crs.name != "unknown" else ""
    return tr(
        "Grid: {cols} x {rows} cells of {res:g} m ({w:,.0f} m x {h:,.0f} m, {n:,} cells) in "
        "{code}{name}, bounds {bounds}"
    ).format(
        cols=grid.width,
        rows=grid.height,
        res=grid.resolution,
        w=grid.width * grid.resolution,
        h=grid.height * grid.resolution,
        n=grid.width * grid.height,
        code=code,
        name=name,
        bounds=format_bounds(grid.bounds),
    )


def unfiltered_osm_warning(frame, layer_name: str) -> str | None:
    """A warning when a footprints frame has a ``building`` column with many empty values."""
    if "building" not in frame.columns or len(frame) == 0:
        return None
    empty = int(frame["building"].isna().sum())
    if empty <= UNFILTERED_OSM_SHARE * len(frame):
        return None
    return tr(
        "The buildings layer '{name}' looks like an unfiltered OpenStreetMap multipolygons layer: "
        "{empty} of {total} features have no 'building' value (land use, parks, squares...). "
        "Only the {kept} buildings are used. Filter the layer to make this explicit: Layer "
        "Properties > Source > Query Builder with {filter}, or add "
        "|subset={filter} to the layer source."
    ).format(
        name=layer_name,
        empty=empty,
        total=len(frame),
        kept=len(frame) - empty,
        filter=OSM_FILTER,
    )


class LibraryLog(logging.Handler):
    """Forwards the ``radiomap_geo`` loggers' warnings of this thread to a Processing feedback.

    Use as a context manager around one run. Only records of the thread that entered it are
    forwarded: two algorithms running side by side in QGIS tasks keep their own logs.
    """

    def __init__(self, feedback, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.feedback = feedback
        self.thread = threading.get_ident()
        self.logger = logging.getLogger("radiomap_geo")

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if record.thread != self.thread:
            return
        try:
            self.feedback.pushWarning(record.getMessage())
        except Exception:  # a log line must never break the run
            self.handleError(record)

    def __enter__(self) -> LibraryLog:
        self.logger.addHandler(self)
        if self.logger.getEffectiveLevel() > self.level:
            self._old_level = self.logger.level
            self.logger.setLevel(self.level)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        if hasattr(self, "_old_level"):
            self.logger.setLevel(self._old_level)


def layer_abstract(output_key: str, tags: dict[str, str]) -> str:
    """What the values of an output layer mean, for its abstract (Layer Properties > Metadata)."""
    bandwidth = f"{float(tags.get('bandwidth_mhz', 'nan')):g}"
    technology = tags.get("technology", "").upper()
    offset = abs(float(tags.get("rsrp_offset_db", "nan")))
    run = tr("Model {model}, receiver {rx} m above ground, sites {sites}.").format(
        model=tags.get("model", "?"), rx=tags.get("rx_height_m", "?"), sites=tags.get("site_ids")
    )
    meaning = {
        "OUTPUT_RSRP": tr(
            "RSRP in dBm: the best server's received power per resource element (one "
            "subcarrier), the value phones and scanners report. It is {offset:.1f} dB below the "
            "total received power over the {bandwidth} MHz {technology} channel."
        ),
        "OUTPUT_RX_POWER": tr(
            "Total received power of the best server over the whole {bandwidth} MHz channel, "
            "in dBm (transmit power plus path gain); {offset:.1f} dB above RSRP."
        ),
        "OUTPUT_SINR": tr(
            "SINR in dB: the best server against the sum of the other sites plus thermal noise "
            "over {bandwidth} MHz (every other site transmits at full power)."
        ),
        "OUTPUT_BEST_SERVER": tr(
            "Best server: the 1-based number of the strongest site in each cell, labelled with "
            "its site id."
        ),
        "OUTPUT_PER_SITE": tr(
            "Path gain per site in dB, one band per site (antenna pattern included, transmit "
            "power excluded)."
        ),
    }.get(output_key, "")
    text = meaning.format(offset=offset, bandwidth=bandwidth, technology=technology)
    return f"{text} {run} {tr('NaN (no value): inside buildings or out of reach.')}".strip()
