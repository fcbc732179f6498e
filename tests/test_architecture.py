"""The core must not depend on its adapters (click, QGIS)."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "radiomap_geo"
ADAPTERS = {"click", "qgis", "rich", "tqdm", "PyQt5"}


def test_core_imports_no_adapter_library():
    offenders = []
    for path in CORE.rglob("*.py"):
        if "cli" in path.relative_to(CORE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ADAPTERS]
    assert not offenders
