"""Every assignment of the real course: its source runs top to bottom, and `autograder verify` passes
(solution = full marks, blank = 0, every catalogued wrong answer loses its points, points add up, no
leak). A missing expected assignment is a failure.

The run-time budget of a source notebook is 10 s of cell execution (kernel start-up excluded);
CHAINRULE_NOTEBOOK_SECONDS overrides it on a slow or busy machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
EXPECTED = ["01_scalar_rules", "02_jacobians", "03_elementwise", "04_chain_rules", "05_neuron_gradient",
            "06_backprop"]
BUDGET = float(os.environ.get("CHAINRULE_NOTEBOOK_SECONDS", "10"))

pytestmark = pytest.mark.slow


def _source(name: str) -> Path:
    path = COURSE / "source" / name / f"{name}.ipynb"
    if not path.is_file():
        pytest.fail(f"assignment {name} is missing: no {path.relative_to(REPO)}")
    return path


def test_the_course_has_exactly_the_expected_assignments():
    found = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    assert found == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_source_notebook_runs_top_to_bottom(name):
    import nbformat
    from nbclient import NotebookClient

    path = _source(name)
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=60, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    spent = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            spent += (_when(end) - _when(start)).total_seconds()
    assert spent <= BUDGET, f"{name}: cells took {spent:.1f} s (budget {BUDGET:g} s)"


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("name", EXPECTED)
def test_verify_passes(name):
    _source(name)
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(COURSE), "verify", name,
                           "--jobs", "1"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"verify {name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
