"""Ray-traced training data: procedural and real cities, site sampling, shards and a reader.

Build with ``radiomap-geo dataset build`` (or :func:`build_dataset`), read with
:func:`load_dataset` / :func:`iter_maps`. Nothing here imports Sionna RT until a tile is
ray-traced, and the reader needs numpy only.
"""

from radiomap_geo.dataset.build import BuildConfig, build_dataset, parse_sources, summarize
from radiomap_geo.dataset.procedural import CityStyle, procedural_city
from radiomap_geo.dataset.sampling import SiteSampling, TileSpec, plan_tiles, sample_sites
from radiomap_geo.dataset.store import (
    GAIN_ENCODING,
    RadioMapDataset,
    decode_gain,
    encode_gain,
    iter_maps,
    load_dataset,
    read_manifest,
)

__all__ = [
    "GAIN_ENCODING",
    "BuildConfig",
    "CityStyle",
    "RadioMapDataset",
    "SiteSampling",
    "TileSpec",
    "build_dataset",
    "decode_gain",
    "encode_gain",
    "iter_maps",
    "load_dataset",
    "parse_sources",
    "plan_tiles",
    "procedural_city",
    "read_manifest",
    "sample_sites",
    "summarize",
]
