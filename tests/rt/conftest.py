"""Ray-tracing tests: point Dr.Jit at libLLVM 19 before anything imports it."""

import pytest

from radiomap_geo.rt.llvm import configure_llvm

configure_llvm()


@pytest.fixture(scope="session")
def sionna_rt():
    """Sionna RT, set up by radiomap_geo; skips unless it can run here (CUDA or libLLVM 19)."""
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available

    try:  # sets the Mitsuba variant itself, so Sionna does not probe CUDA on its own
        import_sionna_rt()
    except DependencyError as exc:
        pytest.skip(str(exc))
    rt = pytest.importorskip(
        "sionna.rt", reason="Sionna RT is not installed: pip install radiomap-geo[rt]"
    )
    import mitsuba as mi

    if mi.variant().startswith("llvm") and not libllvm_available():
        pytest.skip("libLLVM 19 not found: apt-get install libllvm19 (or run on a CUDA GPU)")
    return rt


@pytest.fixture(scope="session")
def utm32():
    from pyproj import CRS

    return CRS.from_epsg(32632)
