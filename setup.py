"""Build hook: put the shipped weights into the wheel as package data.

The trained networks live in ``weights/`` at the repository root (the source of truth, kept out of
the Python package so that training runs and reviews see them as plain files). A wheel must carry
them all the same, so ``build_py`` copies ``weights/index.json``, every file it names and the model
cards into ``radiomap_geo/_weights/`` of the build; :func:`radiomap_geo.models.registry.weights_dir`
finds them there through :mod:`importlib.resources`. Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEIGHTS = ROOT / "weights"
PACKAGED = ("radiomap_geo", "_weights")


def shipped_weight_files(folder: Path = WEIGHTS) -> list[Path]:
    """``index.json``, the weights files it names and their model cards (``<name>.md``)."""
    index_path = folder / "index.json"
    if not index_path.is_file():
        return []
    index = json.loads(index_path.read_text(encoding="utf-8"))
    files = [index_path]
    for name, entry in index.items():
        weights = folder / entry["file"]
        if not weights.is_file():
            raise FileNotFoundError(f"{index_path}: entry {name!r} names missing {weights}")
        files.append(weights)
        card = folder / f"{name}.md"
        if card.is_file():
            files.append(card)
    return files


class BuildPyWithWeights(build_py):
    """``build_py`` plus the shipped weights under ``radiomap_geo/_weights/``."""

    def run(self) -> None:
        """Build the package as usual, then copy the weights (not for editable installs)."""
        super().run()
        if self.editable_mode:  # an editable install reads weights/ of the checkout directly
            return
        target = Path(self.build_lib, *PACKAGED)
        if target.exists():  # never carry files of an earlier build that the index dropped
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for path in shipped_weight_files():
            shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithWeights})
