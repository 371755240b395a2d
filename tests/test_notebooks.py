"""The notebooks a newcomer runs first execute top to bottom without an error."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["quickstart.ipynb", "custom_method.ipynb", "audits.ipynb"])
def test_notebook_runs_without_error_output(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MUCOMP_HOME", str(tmp_path / "home"))  # the kernel inherits it
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    problems = [
        (i, out.get("ename") or out.get("text", "")[:300])
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr")
    ]
    assert not problems, problems
    # The quickstart ends with the widget.
    last = [c for c in nb.cells if c.cell_type == "code"][-2 if name == "quickstart.ipynb" else -1]
    assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in last.outputs)
    if name == "audits.ipynb":  # every method under three seeds, U-LiRA on two runs
        text = "\n".join(out.get("data", {}).get("text/plain", "") + out.get("text", "")
                         for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
        import mucomp_widget as mu
        assert "UA_mean" in text and all(f" {m} " in text for m in mu.methods.available())
        assert text.count("<ULiraResult run=") == 2 and "Retrain after" in text


def test_cifar10_notebook_is_valid_and_installs_in_colab():
    nb = nbformat.read(NOTEBOOKS / "cifar10.ipynb", as_version=4)
    nbformat.validate(nb)
    first = next(c for c in nb.cells if c.cell_type == "code").source
    assert "google.colab" in first and "pip install" in first and "enable_custom_widget_manager" in first
