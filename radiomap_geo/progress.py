"""Progress reporting and cancellation as plain callables.

The core never imports tqdm, rich or QGIS: adapters pass a ``progress(done, total, message)``
callable and an ``is_cancelled()`` callable, and the core calls them between units of work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from radiomap_geo.errors import Cancelled

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


def _no_progress(done: int, total: int, message: str) -> None:
    return None


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True)
class Monitor:
    """Bundles the two callbacks so they travel as one argument through the core."""

    progress: ProgressFn = _no_progress
    is_cancelled: CancelFn = _never_cancelled

    def step(self, done: int, total: int, message: str = "") -> None:
        """Report progress, then raise :class:`Cancelled` if the caller asked to stop."""
        self.progress(done, total, message)
        self.check()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the caller asked to stop."""
        if self.is_cancelled():
            raise Cancelled("cancelled by the caller")


def as_monitor(progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None) -> Monitor:
    """Build a :class:`Monitor` from optional callbacks."""
    return Monitor(progress or _no_progress, is_cancelled or _never_cancelled)
