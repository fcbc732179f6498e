"""The on-disk dataset: compressed numpy shards, a JSON manifest, and a torch-free reader.

Layout of a dataset folder::

    manifest.json             settings, versions, encodings, every finished tile, shards
    shards/<split>-NNNNN.npz  packed tiles of one split (ZIP of .npy members, LZMA-compressed)
    parts/tile-NNNNNN.npz     finished tiles not packed yet (same members, one tile)

A shard holds ``T`` tiles and ``M`` maps (radio maps: one transmitter on one tile):

===================  ===============  ==========================================================
member               dtype, shape     meaning
===================  ===============  ==========================================================
``tile_id``          int32 [T]        work-unit id (key of ``manifest["tiles"]``)
``tile_crs``         str [T]          CRS of the tile (``EPSG:xxxx``)
``tile_transform``   float64 [T, 6]   affine ``a, b, c, d, e, f`` (north-up, cell size ``a``)
``height_dm``        uint16 [T, H, W] building height, decimetres above ground (0 = open)
``map_tile``         int32 [M]        index of the map's tile in this shard
``map_site``         int16 [M]        site number within its tile
``gain_q``           uint8 [M, H, W]  path gain code: ``gain_db = offset_db + step_db * code``;
                                      code 0 = no value (no ray, or inside a building)
``mask_bits``        uint8 [M, H*W/8] ``numpy.packbits`` of the row-major validity mask (cells
                                      with a ray and outside buildings); equals ``gain_q > 0``
``site_row/col``     int16 [M]        transmitter cell
``site_x/y``         float64 [M]      transmitter position, tile CRS
``site_height_m``    float32 [M]      antenna height above ground
``site_roof_m``      float32 [M]      roof height under a rooftop site (0 for street sites)
``site_kind``        uint8 [M]        0 street, 1 rooftop
``site_antenna``     str [M]          ``iso`` or ``tr38901``
``site_azimuth_deg``  float32 [M]     boresight, clockwise from north
``site_tilt_deg``    float32 [M]      down-tilt, positive downwards
``site_frequency_mhz``  float32 [M]   carrier frequency
``ray_seed``         uint32 [M]       Sionna sampling seed of the map
``rt_seconds``       float32 [M]      ray-tracing time of the map
===================  ===============  ==========================================================

Gain codes (:data:`GAIN_ENCODING`): 0.5 dB steps, code ``k`` in 1..255 is ``-167.5 + 0.5 k`` dB,
so values span -167.0..-40.0 dB; values beyond are clipped to the end codes (the manifest
counts them). Rounding error is at most 0.25 dB (RMS 0.14 dB), below the label noise.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo import jsonio
from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import atomic_open

FORMAT = "radiomap-geo-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
PART_DIR = "parts"

GAIN_ENCODING = {
    "member": "gain_q",
    "dtype": "uint8",
    "offset_db": -167.5,
    "step_db": 0.5,
    "nodata": 0,
    "decode": "gain_db = offset_db + step_db * code for code >= 1; code 0 = no value",
}
HEIGHT_ENCODING = {"member": "height_dm", "dtype": "uint16", "scale_m": 0.1}
MASK_ENCODING = {
    "member": "mask_bits",
    "packing": "numpy.packbits(mask.reshape(-1)) per map, bitorder big; same as gain_q > 0",
}
SITE_KINDS = ("street", "rooftop")
TILE_MEMBERS = ("tile_id", "tile_crs", "tile_transform", "height_dm")
MAP_MEMBERS = (
    "map_tile",
    "map_site",
    "gain_q",
    "mask_bits",
    "site_row",
    "site_col",
    "site_x",
    "site_y",
    "site_height_m",
    "site_roof_m",
    "site_kind",
    "site_antenna",
    "site_azimuth_deg",
    "site_tilt_deg",
    "site_frequency_mhz",
    "ray_seed",
    "rt_seconds",
)


# -- encodings --------------------------------------------------------------------------------


def encode_gain(
    gain_db: np.ndarray, valid: np.ndarray, encoding: Mapping = GAIN_ENCODING
) -> np.ndarray:
    """Quantise path gain (dB) to codes; cells not ``valid`` (or NaN) get code 0."""
    offset, step = float(encoding["offset_db"]), float(encoding["step_db"])
    valid = np.asarray(valid, bool) & np.isfinite(gain_db)
    with np.errstate(invalid="ignore"):
        code = np.rint((np.where(valid, gain_db, offset) - offset) / step)
    code = np.clip(code, 1, 255).astype(np.uint8)
    code[~valid] = 0
    return code


def decode_gain(code: np.ndarray, encoding: Mapping = GAIN_ENCODING) -> np.ndarray:
    """Codes back to path gain in dB (float32), NaN where the code is 0."""
    offset, step = float(encoding["offset_db"]), float(encoding["step_db"])
    out = (offset + step * code.astype(np.float32)).astype(np.float32)
    out[code == 0] = np.nan
    return out


def clipped_counts(
    gain_db: np.ndarray, valid: np.ndarray, encoding: Mapping = GAIN_ENCODING
) -> tuple[int, int]:
    """How many valid cells lie below the lowest / above the highest code."""
    offset, step = float(encoding["offset_db"]), float(encoding["step_db"])
    values = gain_db[np.asarray(valid, bool) & np.isfinite(gain_db)]
    return int((values < offset + step * 0.5).sum()), int((values > offset + step * 255.5).sum())


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """``(..., H, W)`` bool to ``(..., ceil(H*W/8))`` uint8 bits."""
    mask = np.asarray(mask, bool)
    flat = mask.reshape(*mask.shape[:-2], -1)
    return np.packbits(flat, axis=-1)


def unpack_mask(bits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pack_mask`."""
    n = shape[0] * shape[1]
    flat = np.unpackbits(bits, axis=-1, count=n).astype(bool)
    return flat.reshape(*bits.shape[:-1], *shape)


def encode_heights(heights_m: np.ndarray) -> np.ndarray:
    """Building heights (m) to uint16 decimetres."""
    return np.clip(np.rint(np.asarray(heights_m, np.float64) * 10.0), 0, 65535).astype(np.uint16)


# -- files ------------------------------------------------------------------------------------


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> int:
    """Write arrays as an LZMA-compressed ``.npz`` atomically; returns its size in bytes.

    ``numpy.load`` reads the file as any ``.npz`` (zipfile decompresses LZMA members).
    """
    path = Path(path)
    with atomic_open(path, "wb") as stream:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_LZMA) as zf:
            for name, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
    return path.stat().st_size


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All members of a shard or part file."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (see :func:`radiomap_geo.jsonio.write_json`)."""
    jsonio.write_json(path, data)


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a dataset folder."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder} is not a radiomap-geo dataset: it has no {MANIFEST}")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} manifest")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(
            f"{path} has format version {data['format_version']}; this radiomap-geo reads "
            f"up to {FORMAT_VERSION}: upgrade radiomap-geo"
        )
    return data


def concat_members(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join several part/shard member dicts into one (``map_tile`` re-indexed)."""
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*TILE_MEMBERS, *MAP_MEMBERS)}
    n_tiles = 0
    for part in parts:
        for k in TILE_MEMBERS:
            out[k].append(part[k])
        for k in MAP_MEMBERS:
            out[k].append(part[k] + n_tiles if k == "map_tile" else part[k])
        n_tiles += len(part["tile_id"])
    joined = {k: np.concatenate(v) for k, v in out.items()}
    # Strings of different lengths concatenate to the widest; keep them compact.
    return joined


# -- reading ----------------------------------------------------------------------------------


@dataclass
class RadioMapDataset:
    """A split of a dataset in memory (numpy only).

    ``gain_db`` (float32, NaN = no value) and ``mask`` are decoded from the shards;
    ``building_height_m`` is per tile: the map ``i`` lies on tile ``map_tile[i]``.
    """

    building_height_m: np.ndarray  # float32 [T, H, W]
    tile_id: np.ndarray  # int32 [T]
    tile_crs: np.ndarray  # str [T]
    tile_transform: np.ndarray  # float64 [T, 6]
    map_tile: np.ndarray  # int32 [M]
    gain_db: np.ndarray  # float32 [M, H, W]
    mask: np.ndarray  # bool [M, H, W]
    sites: dict[str, np.ndarray]  # site_* members, [M]
    manifest: dict[str, Any] = field(repr=False)

    def __len__(self) -> int:
        return len(self.map_tile)

    @property
    def resolution(self) -> float:
        """Cell size (m)."""
        return float(self.manifest["config"]["resolution_m"])

    def grid(self, tile: int) -> Any:
        """The :class:`~radiomap_geo.grid.Grid` of tile number ``tile`` (index, not id)."""
        from affine import Affine

        from radiomap_geo.grid import Grid, to_crs

        a, b, c, d, e, f = (float(v) for v in self.tile_transform[tile])
        return Grid(
            to_crs(str(self.tile_crs[tile])), Affine(a, b, c, d, e, f), self.gain_db.shape[1:]
        )

    def site(self, index: int) -> Any:
        """The :class:`~radiomap_geo.sites.Site` of map ``index``."""
        from radiomap_geo.sites import Site

        s = self.sites
        return Site(
            site_id=f"tile{int(self.tile_id[self.map_tile[index]])}-site{int(s['map_site'][index])}",
            x=float(s["site_x"][index]),
            y=float(s["site_y"][index]),
            height_m=float(s["site_height_m"][index]),
            frequency_mhz=float(s["site_frequency_mhz"][index]),
            antenna=str(s["site_antenna"][index]),
            azimuth_deg=float(s["site_azimuth_deg"][index]),
            tilt_deg=float(s["site_tilt_deg"][index]),
        )

    def tile_info(self, tile: int) -> dict[str, Any]:
        """The manifest record of tile number ``tile`` (source, region, split, seed...)."""
        return self.manifest["tiles"][str(int(self.tile_id[tile]))]


def dataset_files(folder: str | os.PathLike, split: str | None = None) -> list[Path]:
    """The shard and part files holding the finished tiles (of ``split``), in tile order."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    files: dict[str, int] = {}
    for record in manifest["tiles"].values():
        if split is not None and record["split"] != split:
            continue
        name = record["file"]
        files[name] = min(files.get(name, 1 << 62), int(record["tile_id"]))
    return [folder / name for name, _ in sorted(files.items(), key=lambda kv: kv[1])]


def iter_shards(
    folder: str | os.PathLike, split: str | None = None
) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    """Yield ``(path, members)`` of every shard/part file with tiles of ``split`` (raw codes).

    Only the tiles of ``split`` are kept in each yielded dict (a part file holds one tile).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    wanted = {
        int(r["tile_id"])
        for r in manifest["tiles"].values()
        if split is None or r["split"] == split
    }
    for path in dataset_files(folder, split):
        members = read_npz(path)
        keep_tiles = np.isin(members["tile_id"], list(wanted))
        if not keep_tiles.all():
            members = select_tiles(members, keep_tiles)
        yield path, members


def select_tiles(members: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The members restricted to tiles where ``keep`` is True (maps follow their tiles)."""
    index = np.flatnonzero(keep)
    remap = np.full(len(keep), -1, np.int64)
    remap[index] = np.arange(len(index))
    maps = np.isin(members["map_tile"], index)
    out = {k: members[k][index] for k in TILE_MEMBERS}
    for k in MAP_MEMBERS:
        out[k] = members[k][maps]
    out["map_tile"] = remap[members["map_tile"][maps]].astype(np.int32)
    return out


def iter_maps(folder: str | os.PathLike, split: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield one dict per map, decoded, streaming shard by shard (low memory).

    Keys: ``tile_id``, ``crs``, ``transform`` (6 floats), ``building_height_m`` (float32 H x W),
    ``gain_db`` (float32, NaN = no value), ``mask`` (bool), and every ``site_*`` value.
    """
    manifest = read_manifest(folder)
    encoding = manifest["encoding"]["gain"]
    for _, m in iter_shards(folder, split):
        shape = m["gain_q"].shape[1:]
        heights = m["height_dm"].astype(np.float32) * np.float32(HEIGHT_ENCODING["scale_m"])
        for i in range(len(m["map_tile"])):
            t = int(m["map_tile"][i])
            record = {
                "tile_id": int(m["tile_id"][t]),
                "crs": str(m["tile_crs"][t]),
                "transform": tuple(float(v) for v in m["tile_transform"][t]),
                "building_height_m": heights[t],
                "gain_db": decode_gain(m["gain_q"][i], encoding),
                "mask": unpack_mask(m["mask_bits"][i], shape),
            }
            for k in MAP_MEMBERS:
                if k.startswith("site_") or k in ("map_site", "ray_seed", "rt_seconds"):
                    value = m[k][i]
                    record[k] = value.item() if hasattr(value, "item") else value
            record["site_kind"] = SITE_KINDS[int(m["site_kind"][i])]
            yield record


def load_dataset(folder: str | os.PathLike, split: str | None = "train") -> RadioMapDataset:
    """Load every finished map of ``split`` (``None``: all splits) into memory, decoded.

    Memory: about 5 bytes per cell per map (float32 gain + bool mask), e.g. 330 MB for 4000
    maps of 128 x 128 cells; use :func:`iter_maps` to stream instead.

    Raises:
        InputError: The folder is no dataset, or the split has no finished tiles.
    """
    manifest = read_manifest(folder)
    chunks = [m for _, m in iter_shards(folder, split)]
    if not chunks:
        raise InputError(f"{folder} has no finished tiles in split {split!r}")
    m = concat_members(chunks)
    shape = m["gain_q"].shape[1:]
    return RadioMapDataset(
        building_height_m=m["height_dm"].astype(np.float32)
        * np.float32(HEIGHT_ENCODING["scale_m"]),
        tile_id=m["tile_id"],
        tile_crs=m["tile_crs"],
        tile_transform=m["tile_transform"],
        map_tile=m["map_tile"],
        gain_db=decode_gain(m["gain_q"], manifest["encoding"]["gain"]),
        mask=unpack_mask(m["mask_bits"], shape),
        sites={k: m[k] for k in MAP_MEMBERS if k.startswith("site_") or k == "map_site"},
        manifest=manifest,
    )
