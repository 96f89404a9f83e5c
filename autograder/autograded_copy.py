"""The autograded copy of a submission as the instructor sees it in nbgrader's formgrader.

Two jobs, both on the assembled notebook (autograder/assemble.py) before it is written to
autograded/<student>/<assignment>/:

- `student_cell(cell, released_meta, instructor_markdown)`: a cell taken from the submission, safe to
  render in the instructor's browser. Its nbgrader metadata is the released cell's (by grade_id; a
  student cannot change the points, the kind or the grade_id that formgrader writes into its page) or
  none; other metadata is dropped; markdown the student wrote and the outputs the student's kernel saved
  are rebuilt by autograder/htmlclean.py (markdown identical to a released cell is the instructor's and
  stays as it is; attachments are dropped, images show their alt text); raw cells lose their format
  (nothing renders them as HTML).
- `add_verdicts(assembled, verdicts)`: each exercise's test cell gets the grader's verdict as its output
  ("chainrule grader: 1 / 2 points, mistake 'transpose': <message>"): stdout for full marks, stderr
  otherwise. Only the score, the mistake's name and the student-facing message are shown (they never
  hold expected values); the test cell itself is the released one, so no hidden test is in the copy.
"""
from __future__ import annotations

import copy

import nbformat

from autograder import htmlclean
from autograder.textclean import clean


def student_cell(cell, released_meta: dict | None, instructor_markdown: set[str]):
    """A copy of a submitted cell that is safe to render (see the module docstring)."""
    c = copy.deepcopy(cell)
    c.metadata = nbformat.NotebookNode()
    if released_meta:
        c.metadata["nbgrader"] = copy.deepcopy(released_meta)
    c.pop("attachments", None)
    if c.cell_type == "code":
        c.outputs = htmlclean.outputs(cell.get("outputs"))
        c.execution_count = None
    elif c.cell_type == "markdown" and c.source not in instructor_markdown:
        c.source = htmlclean.markdown(c.source, htmlclean.attachments(cell.get("attachments")))
    return c


def verdict_text(score: float, points: float, mistake: str | None, message: str | None) -> str:
    """One line: the score and, when points were lost, the mistake's name and the message."""
    head = f"chainrule grader: {score:g} / {points:g} points"
    if score >= points - 1e-9:
        return f"{head}, correct."
    what = f", mistake '{clean(mistake, 80)}'" if mistake else ""
    return f"{head}{what}: {clean(message, 2000) or 'no message.'}"


def add_verdicts(assembled, verdicts: dict[str, tuple[float, float, str | None, str | None]]) -> None:
    """Put {grade_id: (score, points, mistake, message)} as the output of each exercise's test cell."""
    for gid, (score, points, mistake, message) in verdicts.items():
        n = assembled.test_cells.get(gid)
        if n is None:
            continue
        cell = assembled.notebook.cells[n - 1]
        name = "stdout" if score >= points - 1e-9 else "stderr"
        cell.outputs = [nbformat.v4.new_output("stream", name=name,
                                               text=verdict_text(score, points, mistake, message) + "\n")]
