"""`release`: nbgrader student copies with no solution, no hidden test, no grading spec; leaks refused."""
from __future__ import annotations

import subprocess

from coursekit import PYTHON, TINY, make_tiny_course, tiny_notebook

from autograder.leaks import find_leaks, secret_lines
from autograder.notebooks import read_notebook


def _release(course, *extra):
    return subprocess.run([PYTHON, "-m", "autograder", "--course", str(course), "release", *extra],
                          capture_output=True, text=True, timeout=300)


def test_release_strips_solutions_hidden_tests_and_specs_and_is_idempotent(tmp_path):
    course = make_tiny_course(tmp_path / "c")
    for _ in range(2):  # re-running overwrites
        proc = _release(course, TINY)
        assert proc.returncode == 0, proc.stderr
    rel = read_notebook(course / "release" / TINY / f"{TINY}.ipynb")
    text = "\n".join(c.source for c in rel.cells)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "grading =", "np.cos(x) * x**2 + 2 * x * np.sin(x)",
                   "3 * x**2 * sp.cos(x**3)", "jac_shape = (2, 3)", "outputs index the rows", "product_rule_half"):
        assert secret not in text, secret
    assert "raise NotImplementedError()" in text and "YOUR ANSWER HERE" in text
    assert "check_jacobian(h, lambda v: np.diag(dh_dx(v))" in text  # the visible self-check stays
    assert find_leaks(read_notebook(course / "source" / TINY / f"{TINY}.ipynb"), rel) == []


def test_release_refuses_a_leak_deletes_the_copy_and_lists_it(tmp_path):
    nb = tiny_notebook()
    # a lesson cell that repeats a line of the solution region: the copy would give the answer away
    nb.cells[2].source += "\nexample = 3 * x**2 * sp.cos(x**3)\n"
    nb.cells[6].source = "### BEGIN SOLUTION\nexample = 3 * x**2 * sp.cos(x**3)\nd_expr = example\n### END SOLUTION\n"
    course = make_tiny_course(tmp_path / "c", nb)
    proc = _release(course)
    assert proc.returncode == 1
    assert "LEAK" in proc.stderr and "example = 3 * x**2 * sp.cos(x**3)" in proc.stderr
    assert not (course / "release" / TINY).exists()


def test_leak_detector_catches_markers_specs_and_trivial_lines_are_ignored():
    src = tiny_notebook()
    lines = secret_lines(src)
    assert "return np.cos(x) * x**2 + 2 * x * np.sin(x)" in lines
    assert "### END SOLUTION" not in lines and "}" not in lines and "return" not in lines
    student = tiny_notebook()
    student.cells = [student.cells[5]]  # a test cell with its hidden part: markers, grading, wrong answers
    leaks = find_leaks(src, student)
    assert any("BEGIN HIDDEN TESTS" in x for x in leaks)
    assert any("`grading =`" in x for x in leaks)


def test_release_writes_the_self_check_data_and_a_student_config(tmp_path):
    import json

    course = make_tiny_course(tmp_path / "c")
    assert _release(course, TINY).returncode == 0
    folder = course / "release" / TINY
    data = json.loads((folder / "selfcheck.json").read_text())
    assert set(data["exercises"]) == {"t_jac", "t_expr", "t_shape", "t_chain"}
    assert {e["probe"] for e in data["exercises"].values()} == {"call", "evaluate", "value", "derivation"}
    text = (folder / "selfcheck.json").read_text()
    for secret in ("x**2*cos(x)", "3*x**2*cos(x**3)", "(2, 3)", "[2, 3]", "exp(sin(x))*cos(x)", "exp(u)*cos(x)"):
        assert secret not in text, secret
    assert "The product rule has two terms; you kept one." in text  # the grader's own sentence
    assert "get_config()" in (folder / "nbgrader_config.py").read_text()
    again = tmp_path / "again"
    make_tiny_course(again)
    assert _release(again, TINY).returncode == 0
    assert (again / "release" / TINY / "selfcheck.json").read_text() == text  # fixed points: the same data


def test_release_fails_loudly_when_the_self_check_data_cannot_be_built(tmp_path):
    nb = tiny_notebook()
    nb.cells[8].source = "### BEGIN SOLUTION\njac_shape = {'rows': 2}\n### END SOLUTION\n"
    course = make_tiny_course(tmp_path / "c", nb)
    proc = _release(course)
    assert proc.returncode != 0
    assert "self-check data cannot be built" in proc.stderr and "t_shape" in proc.stderr
    assert not (course / "release" / TINY).exists()

