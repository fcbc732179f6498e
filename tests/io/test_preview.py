"""The PNG quick-look of a result: written as a PNG or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from radiomap_geo.errors import OutputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.predict import predict_coverage
from radiomap_geo.sites import Sites


@pytest.fixture(scope="module")
def result():
    grid = Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), 10.0)
    minx, miny, maxx, maxy = grid.bounds
    site = {"site_id": "a", "x": (minx + maxx) / 2, "y": (miny + maxy) / 2, "height_m": 20.0}
    return predict_coverage(grid, Sites.from_records([site], grid.crs), None, model="free-space")


def test_preview_is_a_png_and_nothing_else(tmp_path, result):
    with pytest.raises(OutputError, match=r"a preview is a PNG: name it \*\.png"):
        result.preview(tmp_path / "quicklook.tif")
    assert list(tmp_path.iterdir()) == []
    path = result.preview(tmp_path / "quicklook.png", title="free space")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 300 and pixels.std() > 10  # a rendered map, not a blank canvas
