"""Helpers for the autograder tests: a tiny nbgrader course written by the test itself (one assignment, every kind).

`make_tiny_course(root)` writes <root>/nbgrader_config.py (the real course's) and
source/00_tiny/00_tiny.ipynb with: a locked lesson cell defining h; a hand `function` exercise
(dh_dx, target h, 2 points); a hand `expression` exercise (d_expr); a `value` exercise (jac_shape);
a `chain_steps` exercise (derivation); and a manually graded written answer.

A uniquely named module (tests/ has more than one conftest.py, so `from conftest import` would pick
whichever was imported first).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TINY = "00_tiny"


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def code(source, **meta):
    cell = nbformat.v4.new_code_cell(source)
    if meta:
        cell.metadata = _meta(**meta)
    return cell


def md(source, **meta):
    cell = nbformat.v4.new_markdown_cell(source)
    if meta:
        cell.metadata = _meta(**meta)
    return cell


IMPORTS = """import numpy as np
import sympy as sp
from chainrule_utils import check_array, check_jacobian
from chainrule_utils.symbolic import check_expression
"""

LESSON = """def h(x):
    return np.sin(x) * x**2

x = sp.Symbol("x")
"""

JAC_ANSWER = '''def dh_dx(x):
    """Elementwise derivative of h at x: same shape as x."""
    ### BEGIN SOLUTION
    return np.cos(x) * x**2 + 2 * x * np.sin(x)
    ### END SOLUTION
'''

JAC_TEST = '''check_jacobian(h, lambda v: np.diag(dh_dx(v)), np.array([0.3, -1.2, 2.0])).assert_ok()
### BEGIN HIDDEN TESTS
grading = {
    "kind": "function",
    "answer": "dh_dx",
    "args": [{"shape": [3], "low": -2.0, "high": 2.0}],
    "points": [[[0.3, -1.2, 2.0]]],
    "hand": True,
    "target": "h",
    "wrong": [
        {"mistake": "product_rule_half", "message": "The product rule has two terms; you kept one.",
         "code": "def dh_dx(x):\\n    return np.cos(x) * x**2\\n"},
        {"mistake": "sign", "message": "Every term has the wrong sign.",
         "code": "def dh_dx(x):\\n    return -(np.cos(x) * x**2 + 2 * x * np.sin(x))\\n"},
    ],
}
### END HIDDEN TESTS
'''

EXPR_ANSWER = """### BEGIN SOLUTION
d_expr = 3 * x**2 * sp.cos(x**3)
### END SOLUTION
"""

EXPR_TEST = '''check_expression(d_expr, sp.diff(sp.sin(x**3), x), symbols=["x"]).assert_ok()
### BEGIN HIDDEN TESTS
grading = {
    "kind": "expression",
    "answer": "d_expr",
    "symbols": ["x"],
    "hand": True,
    "wrong": [
        {"mistake": "missing_inner", "message": "Multiply by the derivative of the inside, 3x^2.",
         "code": "d_expr = sp.cos(x**3)\\n"},
    ],
}
### END HIDDEN TESTS
'''

SHAPE_ANSWER = """### BEGIN SOLUTION
jac_shape = (2, 3)
### END SOLUTION
"""

SHAPE_TEST = '''assert isinstance(jac_shape, tuple), "give a tuple"
### BEGIN HIDDEN TESTS
grading = {
    "kind": "value",
    "answer": "jac_shape",
    "wrong": [
        {"mistake": "denominator_layout", "message": "That is the denominator-layout shape.",
         "code": "jac_shape = (3, 2)\\n"},
    ],
}
### END HIDDEN TESTS
'''

CHAIN_ANSWER = """### BEGIN SOLUTION
derivation = {
    "intermediates": {"u": "sin(x)", "y": "exp(u)"},
    "local": {"u": "cos(x)", "y": "exp(u)"},
    "product": "exp(u) * cos(x)",
    "result": "exp(sin(x)) * cos(x)",
}
### END SOLUTION
"""

CHAIN_TEST = '''assert isinstance(derivation, dict)
### BEGIN HIDDEN TESTS
grading = {
    "kind": "chain_steps",
    "answer": "derivation",
    "function": "exp(sin(x))",
    "variable": "x",
    "wrong": [
        {"mistake": "forgot_inner", "message": "The result lost the inner derivative cos(x).",
         "max_score": 0.75,
         "code": "derivation = {'intermediates': {'u': 'sin(x)', 'y': 'exp(u)'}, 'local': {'u': 'cos(x)', "
                 "'y': 'exp(u)'}, 'product': 'exp(u) * cos(x)', 'result': 'exp(sin(x))'}\\n"},
    ],
}
### END HIDDEN TESTS
'''


def tiny_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        md("# A tiny assignment"),
        code(IMPORTS),
        code(LESSON, grade_id="lesson_h", locked=True),
        md("### Exercise 1 (2 points)\nDerive this by hand."),
        code(JAC_ANSWER, grade_id="t_jac_answer", solution=True),
        code(JAC_TEST, grade_id="t_jac", grade=True, locked=True, points=2),
        code(EXPR_ANSWER, grade_id="t_expr_answer", solution=True),
        code(EXPR_TEST, grade_id="t_expr", grade=True, locked=True, points=1),
        code(SHAPE_ANSWER, grade_id="t_shape_answer", solution=True),
        code(SHAPE_TEST, grade_id="t_shape", grade=True, locked=True, points=1),
        code(CHAIN_ANSWER, grade_id="t_chain_answer", solution=True),
        code(CHAIN_TEST, grade_id="t_chain", grade=True, locked=True, points=2),
        md("Explain numerator layout in one sentence.\n\nModel answer: outputs index the rows of the Jacobian.",
           grade_id="t_written", grade=True, solution=True, points=1),
    ]
    return nb


def make_tiny_course(root: Path, notebook: nbformat.NotebookNode | None = None) -> Path:
    root = Path(root)
    (root / "source" / TINY).mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "course" / "nbgrader_config.py", root / "nbgrader_config.py")
    nbformat.write(notebook or tiny_notebook(), str(root / "source" / TINY / f"{TINY}.ipynb"))
    return root


def graded_rows(course: Path, assignment: str) -> tuple[dict, dict]:
    """After `grade`: ({student: SubmissionRow}, {student: {grade_id: ResultRow}}) from the course's gradebook."""
    from autograder.results import ResultsStore

    store = ResultsStore(f"sqlite:///{Path(course) / 'gradebook.db'}")
    try:
        subs = {s.student: s for s in store.submissions(assignment)}
        rows: dict = {}
        for r in store.results(assignment):
            rows.setdefault(r.student, {})[r.grade_id] = r
        return subs, rows
    finally:
        store.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def chromium():
    """Debian's headless chromium driven by Playwright (no browser download); the test is skipped, saying
    why, when it is not installed (tools/install_browser.sh installs it)."""
    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (tools/install_browser.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
