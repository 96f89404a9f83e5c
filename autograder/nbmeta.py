"""nbgrader's metadata on one notebook cell (`cell.metadata.nbgrader`), read defensively.

A student's notebook may carry any JSON there: every helper returns a plain value and never raises.
Kept apart from reading notebooks (autograder.notebooks) and grading specs (autograder.spec), which
both need it.
"""
from __future__ import annotations


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata ({} when absent or not a dict)."""
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, not a solution, code."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def is_manual_cell(cell) -> bool:
    """A hand-graded cell (a written explanation): graded and a solution."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution"))
