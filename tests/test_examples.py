"""The example notebooks run from top to bottom in a fresh kernel and show what they promise."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel", reason="the notebook needs a Python kernel (ipykernel)")
pytest.importorskip("rioxarray")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_quickstart_notebook_runs_and_predicts_with_the_default_network(tmp_path):
    from radiomap_geo.models.registry import default_model

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
    assert not list(EXAMPLES.glob("*.tif"))  # the notebook writes nothing beside itself
