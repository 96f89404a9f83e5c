"""A tiny nbgrader course for the pipeline tests (collect, sample, feedback, export, report, demo).

`make_course(tmp_path)` writes <tmp>/course with the real nbgrader_config.py and two assignments that
follow course/AUTHORING.md: 01_tiny (expression, function, value exercises and a written answer) and
02_small (one value exercise). Other test_pipe_* modules import it: `from test_pipe_fixture import ...`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]

# Lines of solutions and hidden tests that must never reach a student-facing page.
SECRET_LINES = [
    "d_cube = 3 * x**2",
    "return np.array([[x[1], x[0], 0.0], [0.0, 1.0, 1.0]])",
    "jac_shape = (2, 3)",
    "grading = {",
    "A model answer: the rows hold the outputs.",
    "size_answer = 12",
]


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text, **nbgrader):
    cell = nbformat.v4.new_code_cell(text)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def _answer(gid, text):
    return _code(text, grade=False, solution=True, locked=False, grade_id=gid)


def _test(gid, points, visible, spec):
    return _code(f"{visible}\n### BEGIN HIDDEN TESTS\ngrading = {spec}\n### END HIDDEN TESTS\n",
                 grade=True, solution=False, locked=True, points=points, grade_id=gid)


def tiny_notebook():
    """01_tiny: expression (1 pt, hand), function (2 pts), value (1 pt), written answer (1 pt, manual)."""
    cube_spec = """{
    "kind": "expression", "answer": "d_cube", "symbols": ["x"], "hand": True,
    "wrong": [{"mistake": "power_not_lowered", "message": "Lower the power by one: d/dx x^3 = 3 x^2.",
               "code": "d_cube = 3 * x**3\\n"}],
}"""
    jac_spec = """{
    "kind": "function", "answer": "jac_h", "args": [{"shape": [3], "low": -2.0, "high": 2.0}],
    "points": [[[0.5, -1.0, 2.0]]],
    "wrong": [{"mistake": "transpose",
               "message": "Your matrix is the transpose of the Jacobian: numerator layout puts the outputs of h on rows.",
               "code": "def jac_h(x):\\n    return np.array([[x[1], x[0], 0.0], [0.0, 1.0, 1.0]]).T\\n"}],
}"""
    shape_spec = """{
    "kind": "value", "answer": "jac_shape",
    "wrong": [{"mistake": "transpose", "message": "Outputs on rows: the Jacobian of h is 2 by 3, not 3 by 2.",
               "code": "jac_shape = (3, 2)\\n"}],
}"""
    cells = [
        _md("# Tiny assignment\n\nA fixture for the pipeline tests. Math: $J_{ij} = \\partial h_i / \\partial x_j$."),
        _code("import numpy as np\nimport sympy as sp\n\nx = sp.Symbol('x')"),
        _md("## Exercises\n\nIntro text.\n\n### Exercise 1.1 — Derivative of a cube (1 point)\n\n"
            "Set `d_cube` to $\\frac{d}{dx} x^3$ as a sympy expression.\n\n"
            "*Derive this by hand: answers that call a differentiation routine score 0.*"),
        _answer("01_cube_answer", "### BEGIN SOLUTION\nd_cube = 3 * x**2\n### END SOLUTION"),
        _test("01_cube", 1, "print('d_cube is', d_cube)", cube_spec),
        _md("### Exercise 1.2 — A Jacobian (2 points)\n\nFor $h(x) = (x_0 x_1,\\; x_1 + x_2)$ write "
            "`jac_h(x)` returning the $2 \\times 3$ Jacobian.\n\n<details><summary>Hint</summary>"
            "Rows are outputs.</details>"),
        _answer("01_jac_answer", "def jac_h(x):\n    ### BEGIN SOLUTION\n"
                "    return np.array([[x[1], x[0], 0.0], [0.0, 1.0, 1.0]])\n    ### END SOLUTION"),
        _test("01_jac", 2, "print(np.shape(jac_h(np.array([0.5, -1.0, 2.0]))))", jac_spec),
        _md("### Exercise 1.3 — Shape (1 point)\n\nSet `jac_shape` to the shape of the Jacobian of $h$."),
        _answer("01_shape_answer", "### BEGIN SOLUTION\njac_shape = (2, 3)\n### END SOLUTION"),
        _test("01_shape", 1, "print('shape', jac_shape)", shape_spec),
        _md("### Exercise 1.4 — Explain (1 point)\n\nWhy are outputs on rows?"),
        nbformat.v4.new_markdown_cell("A model answer: the rows hold the outputs."),
    ]
    cells[-1].metadata["nbgrader"] = {"schema_version": 3, "grade": True, "solution": True, "locked": False,
                                      "points": 1, "grade_id": "01_explain_written"}
    return _notebook(cells)


def small_notebook():
    """02_small: one value exercise (2 pts)."""
    spec = """{
    "kind": "value", "answer": "size_answer",
    "wrong": [{"mistake": "factor", "message": "Count every entry: 3 rows times 4 columns.", "code": "size_answer = 7\\n"}],
}"""
    cells = [
        _md("# Small assignment"),
        _code("import numpy as np"),
        _md("### Exercise 2.1 — Count (2 points)\n\nSet `size_answer` to the number of entries of a $3 \\times 4$ matrix."),
        _answer("02_size_answer", "### BEGIN SOLUTION\nsize_answer = 12\n### END SOLUTION"),
        _test("02_size", 2, "print(size_answer)", spec),
    ]
    return _notebook(cells)


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def make_course(root: Path, assignments=("01_tiny", "02_small")) -> Path:
    """Write a fixture course under root/course and return its path."""
    course = Path(root) / "course"
    course.mkdir(parents=True)
    shutil.copy(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    makers = {"01_tiny": tiny_notebook, "02_small": small_notebook}
    for name in assignments:
        (course / "source" / name).mkdir(parents=True)
        nbformat.write(makers[name](), str(course / "source" / name / f"{name}.ipynb"))
    return course


@pytest.fixture
def course_dir(tmp_path):
    return make_course(tmp_path)


def test_fixture_course_has_the_exercises_the_pipeline_tests_expect(course_dir):
    from autograder.spec import load_exercises, load_manual_cells

    tiny = course_dir / "source" / "01_tiny" / "01_tiny.ipynb"
    exercises = load_exercises(tiny)
    assert [e.grade_id for e in exercises] == ["01_cube", "01_jac", "01_shape"]
    assert [e.points for e in exercises] == [1, 2, 1]
    assert all(len(e.wrong) == 1 for e in exercises)
    assert [m.grade_id for m in load_manual_cells(tiny)] == ["01_explain_written"]


def release(course: Path, *assignments: str) -> None:
    """Student copies in course/release/ through `python -m autograder release` (nbgrader underneath).

    Until the release command exists, nbgrader's own preprocessors make the copy.
    """
    import importlib.util

    names = list(assignments) or sorted(p.name for p in (course / "source").iterdir())
    if importlib.util.find_spec("autograder.cmd_release") is not None:
        from autograder.__main__ import main

        assert main(["--course", str(course), "release", "--quiet", *names]) == 0
        return
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    for name in names:
        nb = nbformat.read(str(course / "source" / name / f"{name}.ipynb"), 4)
        for pre in (ClearSolutions, ClearHiddenTests, ClearOutput):
            nb, _ = pre().preprocess(nb, {})
        (course / "release" / name).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(course / "release" / name / f"{name}.ipynb"))


def record(course: Path, assignment: str, student: str, rows=(), *, status="graded", reason=None,
           max_score=None):
    """Store a verdict directly (as `grade` would). rows: (grade_id, kind, score, max, mistake, message)."""
    from autograder.results import ResultRow, ResultsStore, SubmissionRow

    store = ResultsStore(f"sqlite:///{course / 'gradebook.db'}")
    results = [ResultRow(assignment, student, assignment, gid, kind, score, mx, mistake, message, {})
               for gid, kind, score, mx, mistake, message in rows]
    total = sum(r.score for r in results if r.score is not None) if status == "graded" else None
    store.record(SubmissionRow(assignment, student, status, reason, total,
                               max_score if max_score is not None else sum(r.max_score for r in results),
                               "2026-02-10T10:00:00+00:00", 1.5, "2026-02-01 10:00:00.000000 UTC"),
                 results if status == "graded" else [])
    store.close()


def submit(course: Path, assignment: str, student: str, answers: dict[str, str] | None = None) -> Path:
    """Put a submission in submitted/: the source notebook with `answers` in its answer cells
    (the rest as in the source: tests only use this for feedback's 'your answer')."""
    from autograder.notebooks import read_notebook, with_answers

    nb = read_notebook(course / "source" / assignment / f"{assignment}.ipynb")
    stub = "# YOUR CODE HERE\nraise NotImplementedError()"
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
           if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    nb = with_answers(nb, {gid: stub for gid in ids} | (answers or {}))
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    (folder / "timestamp.txt").write_text("2026-02-01 10:00:00.000000 UTC\n")
    return folder
