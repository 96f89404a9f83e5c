"""Check a student copy against its source: no solution, no hidden test, no grading spec.

A leak is a marker (BEGIN/END SOLUTION, BEGIN/END HIDDEN TESTS), a `grading =` assignment, or any
non-trivial line of a solution region or hidden-test region of the source (a markdown answer cell
without markers counts as all solution) that appears in the student copy.
"""
from __future__ import annotations

import re

from autograder.nbmeta import nbgrader_meta

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_GRADING = re.compile(r"^\s*grading\s*=", re.M)
_TRIVIAL = re.compile(r"^[\W_]*(return|pass|else|try|finally|break|continue|None|True|False)?[\W_]*$")
MIN_CHARS = 8


def trivial(line: str) -> bool:
    s = line.strip()
    return len(s.replace(" ", "")) < MIN_CHARS or bool(_TRIVIAL.match(s)) or s.startswith("#")


def secret_lines(source_nb) -> set[str]:
    """Stripped non-trivial lines of every solution and hidden-test region of the source."""
    out: set[str] = set()
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        lines = cell.source.splitlines()
        regions = _regions(lines, "BEGIN SOLUTION", "END SOLUTION") + _regions(lines, "BEGIN HIDDEN TESTS",
                                                                                 "END HIDDEN TESTS")
        marked = any("BEGIN SOLUTION" in x for x in lines)
        if meta.get("solution") and cell.cell_type == "markdown" and not marked:
            regions.append(lines)
        for region in regions:
            out.update(x.strip() for x in region if not trivial(x))
    return out


def _regions(lines: list[str], begin: str, end: str) -> list[list[str]]:
    regions, current = [], None
    for line in lines:
        if begin in line:
            current = []
        elif end in line and current is not None:
            regions.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        regions.append(current)
    return regions


def find_leaks(source_nb, student_nb) -> list[str]:
    """One line per leak found in the student copy (empty when clean)."""
    secrets = secret_lines(source_nb)
    leaks = []
    for i, cell in enumerate(student_nb.cells, start=1):
        src = cell.source
        for m in MARKERS:
            if m in src:
                leaks.append(f"cell {i}: marker {m!r}")
        if cell.cell_type == "code" and _GRADING.search(src):
            leaks.append(f"cell {i}: a `grading =` spec")
        for line in src.splitlines():
            if line.strip() in secrets:
                leaks.append(f"cell {i}: source line {line.strip()[:60]!r}")
    return leaks
