"""The example notebooks run from top to bottom in a fresh kernel and show what they promise."""

import importlib.util
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel", reason="the notebook needs a Python kernel (ipykernel)")
pytest.importorskip("rioxarray")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _ray_tracing_or_skip() -> None:
    """The notebook's measurement section ray-traces its reference with Sionna RT."""
    from radiomap_geo.rt.llvm import libllvm_available

    if importlib.util.find_spec("sionna") is None:
        pytest.skip("the notebook ray-traces with Sionna RT: pip install 'radiomap-geo[rt]'")
    import torch

    if not (libllvm_available() or torch.cuda.is_available()):
        pytest.skip("Sionna RT needs libLLVM 19 (apt-get install libllvm19) or a CUDA GPU")


def _numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", line)]


def _line(text: str, prefix: str) -> str:
    """The printed line starting with ``prefix``, what follows its first colon."""
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, (prefix, text)
    return found[0].split(":", 1)[1]


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_quickstart_notebook_runs_and_predicts_with_the_default_network(tmp_path):
    from radiomap_geo.models.registry import default_model

    _ray_tracing_or_skip()
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [_text(cell) for cell in code]
    default = default_model()
    assert f"model used: {default}+3gpp-uma" in outputs[2]
    assert "'rsrp_dbm', 'best_server', 'sinr_db'" in outputs[2]
    assert any("image/png" in o.get("data", {}) for o in code[3].outputs)  # the map
    assert "EPSG:32635 True" in outputs[4] and "rsrp_dbm" in outputs[4]  # CRS, transform kept
    rsrp_line, covered_line = outputs[5].splitlines()
    rsrp = float(rsrp_line.split(":")[1].split()[0])
    covered = float(covered_line.split(":")[1].strip().rstrip("%"))
    assert -110 < rsrp < -40  # outdoors within 100 m of a macro site
    assert 10 <= covered <= 100

    # exposure: four 43 dBm macro sites give a fraction of a V/m to a few V/m outdoors
    e_max, percent_of_limit = _numbers(_line(outputs[6], "max field"))[:2]
    above_1, above_01 = _numbers(_line(outputs[6], "cells above 1 V/m"))[::2]
    assert 0.1 < e_max < 20 and abs(percent_of_limit - 100 * e_max / 61) < 0.1
    assert 0 <= above_1 <= above_01 <= 100

    # maps from measurements: the drive test lowers the error on the cells it did not measure
    assert "100 measurements" in outputs[8]
    assert f"{default}+3gpp-uma | {default}+3gpp-uma+" in _line(outputs[9], "models")
    geometry_rmse = _numbers(_line(outputs[9], "held-out RMSE, geometry alone"))[0]
    measured_rmse = _numbers(_line(outputs[9], "held-out RMSE, with measurements"))[0]
    assert 0 < measured_rmse < geometry_rmse < 40, (geometry_rmse, measured_rmse)

    # antenna optimisation: no method ends below its start; angles stay inside the domain
    for method in ("gradient", "random"):
        start, best = _numbers(_line(outputs[10], method))
        assert best >= start, (method, start, best)
    for site in ("hel-01", "hel-02"):
        az0, az1, _, tilt1 = _numbers(_line(outputs[10], site))
        assert abs((az1 - az0 + 180) % 360 - 180) <= 60 + 1e-6  # the default azimuth span
        assert 0 <= tilt1 <= 12  # the default tilt range
    assert not list(EXAMPLES.glob("*.tif"))  # the notebook writes nothing beside itself
