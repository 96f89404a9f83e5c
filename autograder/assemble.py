"""Put a submitted notebook back together for grading, and turn it into the runner's steps.

Code cells are taken from the submission in order (a duplicated answer cell runs as a plain cell, as
it did for the student); locked cells (nbgrader `locked` or test cells) are replaced by their RELEASED
version by grade_id, once; locked cells the student deleted are put back
after the nearest earlier released cell that is present (a test cell lands after its answer cell),
or before the nearest later one.
The result is the autograded notebook (released test cells, no hidden tests). Test cells are not
run: each is an extraction point for its exercise. Each code cell is marked student-written (answer
cells, added cells, changed lesson cells) or not (locked cells and unchanged lesson cells, the
instructor's code: a differentiation routine that runs there never counts against an answer).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from autograder.nbmeta import grade_id, is_test_cell, nbgrader_meta
from autograder.notebooks import nbformat
from autograder.spec import Exercise


@dataclass
class Assembled:
    notebook: nbformat.NotebookNode              # the autograded notebook (cells numbered from 1)
    test_cells: dict = field(default_factory=dict)   # exercise grade_id -> cell number
    code_cells: list = field(default_factory=list)   # (cell number, source, student_written, grade_id)


def is_locked(cell) -> bool:
    m = nbgrader_meta(cell)
    return bool(m.get("locked")) or is_test_cell(cell)


def assemble(submitted, released) -> Assembled:
    """The autograded notebook for `submitted`, given the released student copy."""
    rel_order = [grade_id(c) for c in released.cells if grade_id(c)]
    locked = {grade_id(c): c for c in released.cells if grade_id(c) and is_locked(c)}
    unlocked_sources = {c.source.strip() for c in released.cells
                        if c.cell_type == "code" and not is_locked(c)}
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(released.metadata))
    cells: list = []
    seen: set[str] = set()
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid in locked:
            if gid in seen:
                continue  # a duplicated locked cell counts once
            seen.add(gid)
            cells.append(_clean(locked[gid]))
            continue
        duplicate = gid is not None and gid in seen
        if gid:
            seen.add(gid)
        new = _clean(cell)
        if (gid is None or duplicate) and new.get("metadata", {}).get("nbgrader"):
            del new.metadata["nbgrader"]  # a copy of an answer cell still runs, as in the student's kernel
        cells.append(new)
    # restore deleted locked cells
    for i, gid in enumerate(rel_order):
        if gid not in locked or gid in seen:
            continue
        cells.insert(_restore_position(cells, rel_order, i), _clean(locked[gid]))
        seen.add(gid)
    out.cells = cells
    result = Assembled(out)
    for n, cell in enumerate(cells, start=1):
        gid = grade_id(cell)
        if is_test_cell(cell) and gid in locked:
            result.test_cells[gid] = n
        elif cell.cell_type == "code":
            student = gid not in locked and cell.source.strip() not in unlocked_sources
            result.code_cells.append((n, cell.source, student, gid))
    return result


def assemble_source(source) -> Assembled:
    """The source notebook as it is (trusted): test cells are extraction points, the rest runs."""
    out = copy.deepcopy(source)
    result = Assembled(out)
    for n, cell in enumerate(out.cells, start=1):
        gid = grade_id(cell)
        if is_test_cell(cell) and gid:
            result.test_cells[gid] = n
        elif cell.cell_type == "code":
            result.code_cells.append((n, cell.source, False, gid))
    return result


def steps_for(assembled: Assembled, exercises: list[Exercise], extract_payload) -> list[dict]:
    """Runner steps: code cells in order, an extraction step at each exercise's test cell.

    `extract_payload(ex)` gives the runner's description of the exercise (probes etc.).
    """
    by_id = {ex.grade_id: ex for ex in exercises}
    at_cell = {n: gid for gid, n in assembled.test_cells.items()}
    steps = []
    code = {n: (src, student) for n, src, student, _ in assembled.code_cells}
    for n in sorted(set(code) | set(at_cell)):
        if n in code:
            steps.append({"code": code[n][0], "cell": n, "student": code[n][1]})
        elif at_cell[n] in by_id:
            steps.append({"extract": [extract_payload(by_id[at_cell[n]])], "cell": n})
    return steps


def _restore_position(cells: list, rel_order: list[str], i: int) -> int:
    """Where released cell rel_order[i] goes back: after the nearest earlier released cell present,
    else before the nearest later one, else at the end."""
    where = {grade_id(c): k for k, c in enumerate(cells) if grade_id(c)}
    for prev in reversed(rel_order[:i]):
        if prev in where:
            return where[prev] + 1
    for nxt in rel_order[i + 1:]:
        if nxt in where:
            return where[nxt]
    return len(cells)


def _clean(cell):
    c = copy.deepcopy(cell)
    if c.cell_type == "code":
        c.outputs = []
        c.execution_count = None
    c.pop("attachments", None) if c.cell_type == "code" else None
    return c
