"""notebooks/compare.ipynb runs top to bottom: its code cells, executed in an IPython shell started in the
notebook's folder of a project with a small MLflow store, load the charts and tables through the Kedro
extension and the catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, make_project

NOTEBOOK = REPO / "notebooks" / "compare.ipynb"

# In a fresh interpreter: the Kedro extension re-imports the project package, which must not happen inside
# the test process.
RUNNER = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell

cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
shell = InteractiveShell.instance()
for i, cell in enumerate(cells):
    result = shell.run_cell("".join(cell["source"]))
    if not result.success:
        sys.exit(f"code cell {i} failed: {result.error_before_exec or result.error_in_exec!r}")
ns = shell.user_ns
print("RESULT " + json.dumps({"frontier": int((ns["frontier"]["status"] == "drawn").sum()),
                             "da": int((ns["da"]["status"] == "drawn").sum()), "cwd": __import__("os").getcwd()}))
"""


def test_notebook_is_committed_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    source = "".join("".join(c["source"]) for c in code)
    assert "%load_ext kedro.ipython" in source and 'catalog.load("compare.' in source
    assert "read_csv" not in source and "MlflowClient" not in source and "import mlflow" not in source


def test_notebook_cells_run_in_a_project(fake_store: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    shutil.copy(fake_store.removeprefix("sqlite:///"), project / "mlflow.db")  # artifact paths are absolute
    (project / "notebooks").mkdir()
    (project / "notebooks" / "compare.ipynb").write_text(NOTEBOOK.read_text())
    runner = tmp_path / "run_notebook.py"
    runner.write_text(RUNNER)
    proc = subprocess.run(
        [sys.executable, str(runner), "compare.ipynb"],
        cwd=project / "notebooks",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert result == {"frontier": 13, "da": 6, "cwd": str(project)}
    assert (project / "data" / "08_reporting" / "compare" / "frontier.png").is_file()
    assert not (project / "notebooks" / "mlflow.db").exists()  # the store is the project's
