"""Import Sionna RT safely: find libLLVM 19 for Dr.Jit's CPU backend and pick a Mitsuba variant.

Dr.Jit reads ``DRJIT_LIBLLVM_PATH`` when its LLVM backend starts; with the LLVM 14-16 that Debian
ships by default every ray-tracing kernel aborts (``Cannot select ... fmaximum``). So the path must
be set *before* ``mitsuba``, ``drjit`` or ``sionna.rt`` is first used, which
:func:`import_sionna_rt` does.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from types import ModuleType

from radiomap_geo.errors import DependencyError

LLVM_ENV = "DRJIT_LIBLLVM_PATH"
LLVM_MAJOR = 19
CUDA_VARIANT = "cuda_ad_mono_polarized"
LLVM_VARIANT = "llvm_ad_mono_polarized"
LLVM_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    f"/usr/lib/llvm-{LLVM_MAJOR}/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/opt/homebrew/opt/llvm/lib",
    "/usr/local/opt/llvm/lib",
)
_LLVM_NAME = re.compile(rf"libLLVM(\.so\.|-){LLVM_MAJOR}(\.|$)")
INSTALL_HINT = (
    "Sionna RT's CPU backend needs libLLVM 19: run `apt-get install libllvm19` (Debian/Ubuntu), "
    f"or set {LLVM_ENV} to the path of libLLVM.so.19, or run on a machine with an NVIDIA GPU (CUDA)"
)


def _is_llvm19(path: str) -> bool:
    return bool(_LLVM_NAME.search(os.path.basename(path))) and os.path.isfile(path)


def _ldconfig_candidates() -> list[str]:
    try:
        out = subprocess.run(
            ["ldconfig", "-p"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.rsplit("=>", 1)[-1].strip() for line in out.splitlines() if "=>" in line]


def find_libllvm(extra_dirs: tuple[str, ...] = ()) -> str | None:
    """Path of a libLLVM 19 shared library, or ``None``.

    An existing ``DRJIT_LIBLLVM_PATH`` that points at a file wins (whatever its version); then
    the usual library folders are searched, then ``ldconfig -p``.

    Args:
        extra_dirs: Folders searched before the standard ones.
    """
    preset = os.environ.get(LLVM_ENV)
    if preset and os.path.isfile(preset):
        return preset
    for folder in (*extra_dirs, *LLVM_DIRS):
        for pattern in (f"libLLVM.so.{LLVM_MAJOR}*", f"libLLVM-{LLVM_MAJOR}*.so*"):
            hits = sorted(p for p in glob.glob(os.path.join(folder, pattern)) if _is_llvm19(p))
            if hits:
                return hits[0]
    hits = sorted(p for p in _ldconfig_candidates() if _is_llvm19(p))
    return hits[0] if hits else None


def configure_llvm() -> str | None:
    """Set ``DRJIT_LIBLLVM_PATH`` to libLLVM 19 if found (without importing Dr.Jit).

    Returns:
        The path set, or ``None`` when no libLLVM 19 was found.
    """
    path = find_libllvm()
    if path:
        os.environ[LLVM_ENV] = path
    return path


def _has_cuda() -> bool:
    import drjit as dr

    try:
        return bool(dr.has_backend(dr.JitBackend.CUDA))
    except Exception:  # a broken driver is "no CUDA" for our purposes
        return False


def choose_variant(mi: ModuleType, llvm_path: str | None) -> str:
    """Set the Mitsuba variant: CUDA when a GPU works, else the LLVM (CPU) variant.

    Args:
        mi: The imported ``mitsuba`` module.
        llvm_path: The libLLVM 19 found, or ``None``.

    Returns:
        The active variant.

    Raises:
        DependencyError: Neither a GPU nor libLLVM 19 is available.
    """
    current = mi.variant()
    if current in (CUDA_VARIANT, LLVM_VARIANT):
        return current
    if CUDA_VARIANT in mi.variants() and _has_cuda():
        mi.set_variant(CUDA_VARIANT)
    elif llvm_path is None:
        raise DependencyError(f"no CUDA GPU and no libLLVM 19 found. {INSTALL_HINT}")
    else:
        mi.set_variant(LLVM_VARIANT)
    return mi.variant()


def import_sionna_rt() -> ModuleType:
    """Import and return ``sionna.rt`` with libLLVM and the Mitsuba variant set up.

    Raises:
        DependencyError: Sionna RT is not installed, or it has no backend to run on.
    """
    if "sionna.rt" in sys.modules:
        return sys.modules["sionna.rt"]
    if "drjit" not in sys.modules:
        llvm_path = configure_llvm()
    else:  # too late to change the library: report what is configured
        llvm_path = os.environ.get(LLVM_ENV) or find_libllvm()
    try:
        import mitsuba as mi
    except ImportError as exc:
        raise DependencyError(
            f"Sionna RT is not installed ({exc}): run `pip install radiomap-geo[rt]` "
            "(installs sionna-rt, mitsuba and drjit)"
        ) from exc
    choose_variant(mi, llvm_path)
    from radiomap_geo.io.preview import quiet_matplotlib

    try:
        with quiet_matplotlib():
            import sionna.rt as rt
    except ImportError as exc:
        raise DependencyError(
            f"Sionna RT is not installed ({exc}): run `pip install radiomap-geo[rt]`"
        ) from exc
    return rt


def backend_info() -> dict[str, str]:
    """Versions and the active variant, for result metadata (imports Sionna RT)."""
    rt = import_sionna_rt()
    import drjit as dr
    import mitsuba as mi

    return {
        "sionna_rt_version": str(getattr(rt, "__version__", "unknown")),
        "mitsuba_version": str(mi.__version__),
        "drjit_version": str(dr.__version__),
        "mitsuba_variant": str(mi.variant()),
        "libllvm": os.environ.get(LLVM_ENV, "") if "llvm" in str(mi.variant()) else "",
    }


def libllvm_available() -> bool:
    """True when libLLVM 19 (or a preset ``DRJIT_LIBLLVM_PATH``) is on this machine."""
    return find_libllvm() is not None


__all__ = [
    "LLVM_ENV",
    "backend_info",
    "choose_variant",
    "configure_llvm",
    "find_libllvm",
    "import_sionna_rt",
    "libllvm_available",
]
