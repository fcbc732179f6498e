"""Runs as the desktop makes them: ``QgsProcessingAlgRunnerTask`` in QGIS's pooled worker threads.

The desktop runs an algorithm in a task on a ``QThreadPool`` thread, with the context's
invalid-geometry check set to "stop" (its default), and users rerun it right away or minutes
later. Quick reruns land on the same pooled thread, a late one on a fresh thread once the pool
let the old one expire. Before the fix in ``radiomap_geo_qgis/threads.py`` the second run crashed
inside PROJ (pyproj's per-thread context freed with the first run's Python thread state).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("qgis.core")

from qgis_support import (  # noqa: E402
    SAMPLE_DATA,
    desktop_context,
    run_in_task,
    skip_without_sionna_rt,
)

pytestmark = pytest.mark.qgis

PBF = SAMPLE_DATA / "helsinki.osm.pbf"
SITES = SAMPLE_DATA / "sites.gpkg"
DEMO_EXTENT = "24.937,24.951,60.165,60.172 [EPSG:4326]"


@pytest.fixture
def osm_layer(qgis_app):
    """The bundled OSM extract's multipolygons layer, unfiltered, as a user drags it in."""
    if not (PBF.exists() and SITES.exists()):
        pytest.skip("sample_data/ is incomplete")
    from qgis.core import QgsProject, QgsVectorLayer

    layer = QgsVectorLayer(f"{PBF}|layername=multipolygons", "helsinki multipolygons", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    yield layer
    QgsProject.instance().removeMapLayer(layer.id())


@pytest.fixture
def short_pool_expiry(qgis_app):
    """Pooled threads expire after 0.3 s instead of 30 s, so 'a run after the thread expired'
    takes a second to set up."""
    from qgis.PyQt.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    before = pool.expiryTimeout()
    pool.setExpiryTimeout(300)
    yield pool
    pool.setExpiryTimeout(before)


class ThreadRecorder:
    """The Python threads that called into the feedback (pushInfo is called from the run)."""

    def __init__(self, feedback):
        self.threads: list[int] = []
        self.feedback = feedback
        original = type(feedback).pushInfo

        def push_info(this, info):
            self.threads.append(threading.get_native_id())
            original(this, info)

        type(feedback).pushInfo = push_info


def wait_for_idle_pool(pool, timeout_s=10.0):
    """Until every pooled thread has expired (the next task gets a new thread)."""
    start = time.monotonic()
    while pool.activeThreadCount() or time.monotonic() - start < 1.0:
        assert time.monotonic() - start < timeout_s
        time.sleep(0.05)


def read_band(path):
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(1)


def test_the_desktop_check_would_stop_on_this_layer(qgis_app, osm_layer):
    """The premise: with the desktop's default check a plain algorithm stops on this layer."""
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    with pytest.raises(QgsProcessingException):
        processing.run(
            "native:centroids",
            {"INPUT": osm_layer.id(), "OUTPUT": "memory:"},
            context=desktop_context(),
            feedback=QgsProcessingFeedback(),
        )


def test_predict_reruns_in_worker_threads(
    qgis_app, osm_layer, short_pool_expiry, feedback, tmp_path
):
    """Three quick reruns and one after the worker thread expired: all succeed, same result."""
    threads = ThreadRecorder(feedback)
    paths, run_threads = [], []
    for run in range(4):
        if run == 3:
            wait_for_idle_pool(short_pool_expiry)
        paths.append(str(tmp_path / f"rsrp{run}.tif"))
        start = len(threads.threads)
        ok, results = run_in_task(
            "radiomapgeo:predictcoverage",
            {
                "SITES": str(SITES),
                "BUILDINGS": osm_layer.id(),
                "EXTENT": DEMO_EXTENT,
                "RESOLUTION": 10.0,
                "MODEL": "3gpp-uma",
                "OUTPUT_RSRP": paths[-1],
                "OUTPUT_BEST_SERVER": None,
                "OUTPUT_SINR": None,
            },
            feedback,
        )
        assert ok, f"run {run} failed:\n{feedback.text}"
        assert results["OUTPUT_RSRP"] == paths[-1]
        assert set(threads.threads[start:]) and threading.get_native_id() not in threads.threads
        run_threads.append(set(threads.threads[start:]))

    # The quick reruns reused a pooled thread (the case that crashed in PROJ) and the last run
    # came after that thread expired, on a new one.
    assert len(set.union(*run_threads[:3])) < 3
    assert not run_threads[3] & run_threads[2]

    first = read_band(paths[0])
    assert 0.3 < np.isfinite(first).mean() < 0.9
    for path in paths[1:]:
        np.testing.assert_array_equal(read_band(path), first)
    # The unfiltered layer was detected and filtered, with the filter to use in the message.
    warnings = [line for line in feedback.log if line.startswith("WARNING ")]
    unfiltered = [line for line in warnings if "unfiltered OpenStreetMap" in line]
    assert len(unfiltered) == 4 and '"building" IS NOT NULL' in unfiltered[0]
    assert any("Buildings: 261 footprints" in line for line in feedback.log)


def test_invalid_footprints_are_repaired_and_counted(qgis_app, short_pool_expiry, feedback):
    """The whole extract (filtered to buildings): the invalid footprints are repaired and the
    log says how many; nothing stops at the first one."""
    from qgis.core import QgsProject, QgsVectorLayer

    if not (PBF.exists() and SITES.exists()):
        pytest.skip("sample_data/ is incomplete")
    layer = QgsVectorLayer(
        f'{PBF}|layername=multipolygons|subset="building" IS NOT NULL', "buildings", "ogr"
    )
    QgsProject.instance().addMapLayer(layer)
    try:
        invalid = sum(not f.geometry().isGeosValid() for f in layer.getFeatures())
        ok, _ = run_in_task(
            "radiomapgeo:predictcoverage",
            {
                "SITES": str(SITES),
                "BUILDINGS": layer.id(),
                "EXTENT": "24.9352,24.9534,60.1642,60.1790 [EPSG:4326]",  # the footprints
                "RESOLUTION": 20.0,
                "MODEL": "free-space",
                "OUTPUT_RSRP": "TEMPORARY_OUTPUT",
                "OUTPUT_BEST_SERVER": None,
                "OUTPUT_SINR": None,
            },
            feedback,
        )
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert ok, feedback.text
    assert invalid == 18  # QGIS's own count on this extract
    repaired = [
        line for line in feedback.log if "repaired" in line and "invalid footprints" in line
    ]
    assert len(repaired) == 1, feedback.text
    # "repaired 11 invalid footprints with make_valid; dropped 7 beyond repair": every invalid
    # footprint QGIS sees is accounted for, none stopped the run.
    fixed = int(repaired[0].split("repaired ")[1].split()[0])
    dropped = int(repaired[0].split("dropped ")[1].split()[0])
    assert fixed > 0 and fixed + dropped == invalid


@pytest.mark.rt
def test_raytrace_reruns_in_worker_threads(qgis_app, short_pool_expiry, feedback, tmp_path):
    """Sionna RT twice in worker threads (one quick rerun) on a tiny area of the sample data."""
    if not (PBF.exists() and SITES.exists()):
        pytest.skip("sample_data/ is incomplete")
    skip_without_sionna_rt()
    buildings = f'{PBF}|layername=multipolygons|subset="building" IS NOT NULL'
    paths = [str(tmp_path / "rt0.tif"), str(tmp_path / "rt1.tif")]
    for path in paths:
        ok, _ = run_in_task(
            "radiomapgeo:raytracecoverage",
            {
                "SITES": f"{SITES}|layername=sites|subset=\"site_id\" = 'hel-04'",
                "BUILDINGS": buildings,
                # 70 m x 55 m around hel-04, which stands in the street.
                "EXTENT": "24.9450,24.9462,60.1669,60.1674 [EPSG:4326]",
                "RESOLUTION": 5.0,
                "SAMPLES": 20_000,
                "MAX_DEPTH": 1,
                "DIFFRACTION": False,
                "OUTPUT_RSRP": path,
                "OUTPUT_BEST_SERVER": None,
                "OUTPUT_SINR": None,
            },
            feedback,
            timeout_s=300.0,
        )
        assert ok, feedback.text
    first, second = read_band(paths[0]), read_band(paths[1])
    assert np.isfinite(first).mean() > 0.3
    assert np.array_equal(np.isfinite(first), np.isfinite(second))
    assert -160 < np.nanmin(first) and np.nanmax(first) < 0
