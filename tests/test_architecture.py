"""The core must not depend on its adapters (click, QGIS)."""

import ast
import subprocess
import sys
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


def test_the_command_line_starts_without_importing_torch():
    # `radiomap-geo --help` and every flag's default must not wait a second for torch: the
    # commands import it when they run
    code = (
        "import sys, radiomap_geo.cli.main; print(sorted(m for m in sys.modules if m == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_lazy_package_names_are_the_functions_not_the_submodules():
    import radiomap_geo.optimize as optimize
    from radiomap_geo.optimize.core import optimize_sites
    from radiomap_geo.optimize.verify import verify

    assert optimize.Tracer is not None  # imports optimize/verify.py first
    assert optimize.verify is verify and optimize.optimize_sites is optimize_sites
    assert "verify_result" in dir(optimize)
