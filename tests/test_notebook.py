"""notebooks/scaling_analysis.ipynb runs headless on a quick sweep's output (slow)."""
from pathlib import Path

import nbformat
import pytest
from nbconvert.preprocessors import ExecutePreprocessor

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "scaling_analysis.ipynb"


@pytest.mark.slow
def test_notebook_fits_plots_and_allocates_a_budget(joint_sweep, monkeypatch):
    monkeypatch.setenv("SWEEP_DIR", str(joint_sweep))
    monkeypatch.setenv("BOOTSTRAP", "5")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    ExecutePreprocessor(timeout=600, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(NOTEBOOK.parent)}})
    text = "\n".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "9 runs from" in text and "joint " in text
    assert text.count("N*=") == 8  # 4 budgets x with/without inference on the one joint fit
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
