"""The CLI's progress bar around the core's ``progress(done, total, message)`` callable."""

from __future__ import annotations

import pytest
from rich.console import Console

from radiomap_geo.cli.running import RichProgress


def _console() -> Console:
    """A console like a redirected stderr: only the final state of a bar is printed."""
    return Console(record=True, width=100, force_terminal=False)


def test_reported_steps_are_drawn():
    console = _console()
    with RichProgress("predict", console=console) as bar:
        bar(2, 4, "tile (0, 0)")
    text = console.export_text()
    assert "predict" in text and "2/4" in text and "tile (0, 0)" in text


def test_an_error_before_any_step_leaves_no_empty_bar():
    console = _console()
    with pytest.raises(ValueError), RichProgress("predict", console=console):
        raise ValueError("bad input, refused before any work")
    assert "None" not in console.export_text()
    assert "predict" not in console.export_text()
