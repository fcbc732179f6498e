"""Keep the native libraries inside pip wheels apart from QGIS's own (Linux).

Wheels of rasterio, shapely, pyproj and pyogrio bundle their own GDAL, GEOS and PROJ under renamed
file names but with the *same symbol names* as the system libraries QGIS links. Inside the
``qgis`` and ``qgis_process`` executables those system libraries sit in the global symbol scope,
so when Python loads a wheel's extension module the dynamic linker binds most of the bundled
library's calls to QGIS's copies (measured with ``LD_DEBUG=bindings``, QGIS 3.22 on Debian 12:
about 5000 symbols of rasterio's GDAL 3.10 bound to the system GDAL 3.6, 3400 of shapely's GEOS
3.14 to GEOS 3.11). The result is two library versions mixed in one call chain: intermittent
``GEOSException``s, and ``qgis_process`` aborting at exit with "double free or corruption" in
PROJ's static destructors.

``RTLD_DEEPBIND`` makes a library loaded from then on prefer its own dependencies over the global
scope, which is exactly the isolation the wheels were built for. It is switched on only when QGIS's
GDAL is visible globally (inside a QGIS executable), not in a plain Python that imports
``qgis.core`` (there the libraries are already loaded privately). It stays on for the rest of the
process, because wheels load further extension modules lazily (``rasterio._features`` on first
rasterising) and each must bind to its own bundled copy too.
"""

from __future__ import annotations

import ctypes
import os
import sys

_done = False


def qgis_libraries_are_global() -> bool:
    """Whether GDAL's C API is visible in the process's global symbol scope."""
    try:
        return hasattr(ctypes.CDLL(None), "GDALVersionInfo")
    except OSError:
        return False


def isolate_bundled_libraries() -> bool:
    """Load later extension modules with ``RTLD_DEEPBIND`` where needed; True if switched on."""
    global _done
    if _done:
        return bool(sys.getdlopenflags() & getattr(os, "RTLD_DEEPBIND", 0))
    _done = True
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)
    if not deepbind or not sys.platform.startswith("linux"):
        return False
    if os.environ.get("RADIOMAP_QGIS_DEEPBIND", "1") == "0" or not qgis_libraries_are_global():
        return False
    sys.setdlopenflags(sys.getdlopenflags() | deepbind)
    return True


_exit_hooks: list = []  # keeps the ctypes callback alive until the process ends


def finish_python_at_exit() -> bool:
    """Run Python's ``atexit`` callbacks, with the GIL held, when a QGIS executable exits (glibc).

    QGIS 3.22 embeds Python without ever finalising it and leaves the GIL released, so the
    ``atexit`` callbacks of native extensions never run: after a Sionna RT run, Dr.Jit/Mitsuba's
    thread pools are still alive when C++ static destructors run, and ``qgis_process`` aborts at
    exit ("PyThreadState_Get: ... the GIL is released", then "terminate called without an active
    exception"). Two C-level exit handlers, registered *after* those libraries loaded (exit
    handlers run last-in first-out), fix it: the first runs ``atexit._run_exitfuncs()``, the
    second takes the GIL for good so the remaining static destructors may touch Python.

    Registered once, only inside a QGIS executable on glibc. Returns whether it is registered.
    """
    if _exit_hooks:
        return True
    if not sys.platform.startswith("linux") or not qgis_libraries_are_global():
        return False
    if os.environ.get("RADIOMAP_QGIS_EXIT_HOOK", "1") == "0":
        return False
    try:
        register = getattr(ctypes.CDLL(None), "__cxa_atexit")
    except (AttributeError, OSError):
        return False
    import atexit

    def run_exit_functions(_arg) -> None:
        try:
            atexit._run_exitfuncs()
        except Exception as exc:  # never let an exit callback abort the exit itself
            sys.stderr.write(f"radiomap-geo: an exit callback failed: {exc!r}\n")

    take_gil = ctypes.cast(ctypes.pythonapi.PyGILState_Ensure, ctypes.c_void_p)
    callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(run_exit_functions)
    _exit_hooks.extend([take_gil, callback])
    register(take_gil, None, None)  # runs second
    register(callback, None, None)  # runs first
    return True
