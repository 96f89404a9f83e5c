"""`verify`: passes on a sound assignment, lists every violation of a broken one, touches nothing real."""
from __future__ import annotations

import subprocess

import pytest
from coursekit import PYTHON, TINY, make_tiny_course, tiny_notebook

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("core_verify")]


def _verify(course):
    return subprocess.run([PYTHON, "-m", "autograder", "--course", str(course), "verify", TINY, "--jobs", "2"],
                          capture_output=True, text=True, timeout=900)


def test_verify_passes_on_the_tiny_course_and_leaves_the_course_untouched(tmp_path):
    course = make_tiny_course(tmp_path / "c")
    before = sorted(p.relative_to(course) for p in course.rglob("*"))
    proc = _verify(course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify passed: 00_tiny" in proc.stdout
    for line in ("t_jac", "t_expr", "t_shape", "t_chain"):
        assert line in proc.stdout
    assert "2/2 lose points, 2 recognised" in proc.stdout
    assert sorted(p.relative_to(course) for p in course.rglob("*")) == before  # no release, no gradebook


def test_verify_lists_every_violation(tmp_path):
    nb = tiny_notebook()
    # the solution evaluates the function it differentiates next to the point (a finite-difference step:
    # the trap counts it in a student copy)
    nb.cells[4].source = nb.cells[4].source.replace("return np.cos(x) * x**2 + 2 * x * np.sin(x)",
                                                    "return np.cos(x) * x**2 + 2 * x * np.sin(x) + 0 * h(x + 1e-6)")
    # a "wrong" answer that is right
    nb.cells[5].source = nb.cells[5].source.replace("return -(np.cos(x) * x**2 + 2 * x * np.sin(x))",
                                                    "return np.cos(x) * x**2 + 2 * x * np.sin(x)")
    # the lesson defines the answer, so the blank copy scores
    nb.cells[2].source += "jac_shape = tuple([2, 3])\n"
    # a catalogued wrong answer that cannot even run
    nb.cells[7].source = nb.cells[7].source.replace('"d_expr = sp.cos(x**3)\\n"', '"d_expr = undefined_name\\n"')
    course = make_tiny_course(tmp_path / "c", nb)
    proc = _verify(course)
    assert proc.returncode == 1
    out = proc.stdout
    assert "t_jac: the source solution scores 0/2" in out and "evaluated h" in out
    assert "t_jac: catalogued wrong answer 1 (sign) scores 2/2" in out
    assert "t_shape: the blank student copy scores 1/1" in out
    assert "t_expr: catalogued wrong answer 0 (missing_inner) raises in the source notebook" in out
    assert "verify FAILED for 00_tiny" in proc.stderr


def test_verify_reports_a_bad_spec(tmp_path):
    nb = tiny_notebook()
    nb.cells[9].source = nb.cells[9].source.replace('"kind": "value"', '"kind": "vlaue"')
    proc = _verify(make_tiny_course(tmp_path / "c", nb))
    assert proc.returncode == 1 and "`kind` must be one of" in proc.stdout and "'t_shape'" in proc.stdout
