"""A student who finished an assignment and runs `nbgrader validate` in the assignment folder (as
released: the notebook, selfcheck.json, nbgrader_config.py) sees it pass with no warning and nothing on
stderr: every self-check cell prints one line and returns nothing (nbgrader reads a returned value as
partial credit and warns when it is not a number), and no timeout leaks an "Exception ignored" line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (REPO / "course" / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("validate_finished")]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = tmp_path_factory.mktemp("validate") / "course"
    shutil.copytree(REPO / "course" / "source", course / "source")
    shutil.copy2(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "release", "--quiet"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_validate_on_a_finished_notebook_passes_without_a_warning(released, tmp_path, a):
    folder = tmp_path / a
    shutil.copytree(released / "release" / a, folder)
    sols = solution_sources(read_notebook(released / "source" / a / f"{a}.ipynb"))
    write_notebook(with_answers(read_notebook(folder / f"{a}.ipynb"), sols), folder / f"{a}.ipynb")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(BIN / "nbgrader"), "validate", f"{a}.ipynb"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "Success! Your notebook passes all the tests." in out, out[-3000:]
    assert "WARNING" not in out and "Exception ignored" not in out, out[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{a}.ipynb", "nbgrader_config.py",
                                                               "selfcheck.json"])
