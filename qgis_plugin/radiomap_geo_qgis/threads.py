"""Make pyproj safe in QGIS's pooled worker threads.

pyproj keeps one PROJ context per thread in two places: the raw pointer in a native thread-local
slot (``PyThread_tss``, alive as long as the OS thread) and the object that destroys it
(``ContextManager``) in a Python ``threading.local`` (alive as long as the Python *thread
state*). Threads started by Python have one thread state for their whole life, so the two agree.
QGIS's task threads are C++ ``QThreadPool`` threads: every call into Python (``processAlgorithm``,
a feedback callback) makes a temporary thread state with ``PyGILState_Ensure`` and drops it at
the end, which clears the ``threading.local`` and so destroys the PROJ context while the native
slot still points at it. The next run on the same pooled thread (any rerun within the pool's 30 s
expiry) then uses freed memory inside PROJ: a segmentation fault, or CRSs and transforms that
silently come out wrong (an invalid CRS, an empty read of the buildings). ``CRS`` and
``Transformer`` objects are not the problem: pyproj rebuilds their PROJ objects per thread (also a
``threading.local``) from the same context, so once the context stays valid they may be cached and
shared across threads.

Measured with ``QgsProcessingAlgRunnerTask`` reruns in one ``QgsApplication`` (QGIS 3.22, pyproj
3.7.2, PROJ 9.5.1): without this the second quick rerun segfaults in ``CRS.__init__``; with it
every run succeeds (``tests/qgis_plugin/test_qgis_tasks.py``).

:func:`keep_proj_context` holds a reference to the current thread's ``ContextManager`` until that
OS thread ends (keyed by its native id, so a recycled id replaces the dead thread's entry), which
keeps the pointer in the native slot valid. The cost is one PROJ context per pool thread.
"""

from __future__ import annotations

import threading

_contexts: dict[int, object] = {}
_lock = threading.Lock()


def keep_proj_context() -> bool:
    """Create (or find) this thread's PROJ context and keep it alive; True if one was pinned now."""
    from pyproj import _context
    from pyproj.datadir import get_user_data_dir

    get_user_data_dir()  # creates this thread's context if it has none yet
    manager = _context.get_context_manager()
    if manager is None:
        # The native slot already holds a context made under an earlier thread state of this OS
        # thread: it is the one pinned below when that state made it.
        return False
    with _lock:
        _contexts[threading.get_native_id()] = manager
    return True
