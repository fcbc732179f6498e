"""Ray-traced coverage with Sionna RT (optional extra: ``pip install radiomap-geo[rt]``).

Nothing here imports Sionna, Mitsuba or Dr.Jit at import time: they are loaded on first use by
:func:`~radiomap_geo.rt.llvm.import_sionna_rt`, which first points Dr.Jit at libLLVM 19.
"""

from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available
from radiomap_geo.rt.scene import Materials, RTScene, build_scene
from radiomap_geo.rt.simulate import simulate_coverage

__all__ = [
    "Materials",
    "RTScene",
    "build_scene",
    "import_sionna_rt",
    "libllvm_available",
    "simulate_coverage",
]
