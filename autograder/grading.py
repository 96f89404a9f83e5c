"""Grading one assignment: the reference run of the source, student runs, verdicts (shared by grade/verify).

1. `load_plan`: the exercises of every notebook of the assignment (source) and the released copies.
2. `build_reference`: run the SOURCE notebooks in the sandbox with inputs each exercise's kind draws
   now from a secret seed (a function's probe points); record the reference answer and every
   catalogued wrong answer at the same inputs ("drawn" is kept for the student runs).
3. `student_job`: assemble a submitted notebook (released locked cells put back) into runner steps;
   `sandbox.run` executes it; `judge_notebook` decides every exercise in this process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import sandbox
from autograder.assemble import Assembled, assemble, assemble_source, steps_for
from autograder.forbidden import answer_taint, taint, target_taint, top_level_bindings
from autograder.judge import Verdict, judge
from autograder.kinds import kind_of
from autograder.notebooks import nbformat, read_notebook
from autograder.spec import Exercise, ManualCell, load_exercises, load_manual_cells


class GradingError(Exception):
    """The assignment itself cannot be graded (its source fails); one line."""


@dataclass
class NotebookPlan:
    stem: str
    source_path: Path
    source_nb: nbformat.NotebookNode
    release_nb: nbformat.NotebookNode
    exercises: list[Exercise]
    manual: list[ManualCell]
    source_files: list[Path]
    release_files: list[Path]

    @property
    def auto_points(self) -> float:
        return sum(ex.points for ex in self.exercises)

    @property
    def max_points(self) -> float:
        return self.auto_points + sum(m.points for m in self.manual)


@dataclass
class AssignmentPlan:
    name: str
    notebooks: list[NotebookPlan]

    @property
    def max_points(self) -> float:
        return sum(nb.max_points for nb in self.notebooks)


@dataclass
class NotebookReference:
    entries: dict                          # grade_id -> {"drawn", "expected", "wrong": [...]}
    cell_errors: dict = field(default_factory=dict)
    duration: float = 0.0


def load_plan(course, assignment: str) -> AssignmentPlan:
    """The plan of `assignment`; needs its released copy (run `release` first)."""
    from autograder.course import CourseError

    notebooks = []
    for src in course.source_notebooks(assignment):
        rel = course.release / assignment / src.name
        if not rel.is_file():
            raise CourseError(f"{assignment}: no released copy {rel}; run `release {assignment}` first")
        notebooks.append(NotebookPlan(
            stem=src.stem, source_path=src, source_nb=read_notebook(src), release_nb=read_notebook(rel),
            exercises=load_exercises(src), manual=load_manual_cells(src),
            source_files=_extra_files(src.parent), release_files=_extra_files(rel.parent),
        ))
    if not notebooks:
        raise CourseError(f"{assignment}: no source notebook")
    return AssignmentPlan(assignment, notebooks)


def _extra_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix != ".ipynb" and not p.name.startswith(".")
                  and p.name not in ("__pycache__", "timestamp.txt"))


def secret_rng() -> np.random.Generator:
    """A generator seeded from os.urandom: students cannot predict what is drawn from it."""
    return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))


def _payload(ex: Exercise, drawn: dict, wrong: bool) -> dict:
    """The runner's description of `ex`: common fields, its kind's (from `drawn`, grade_id -> what the
    kind drew), and the catalogued wrong answers' code in a reference run."""
    p = {"grade_id": ex.grade_id, "kind": ex.kind, "answer": ex.answer, "hand": ex.hand, "target": ex.target}
    p.update(kind_of(ex.kind).payload(ex, drawn.get(ex.grade_id)))
    if wrong:
        p["wrong_codes"] = [w.code for w in ex.wrong]
    return p


def build_reference(plan: AssignmentPlan, *, limits: sandbox.Limits, protect: list,
                    rng=None) -> dict[str, NotebookReference]:
    """Reference answers of every exercise at inputs (probes) drawn now (secret seed unless `rng` given)."""
    rng = rng or secret_rng()
    refs = {}
    for nb in plan.notebooks:
        drawn = {ex.grade_id: kind_of(ex.kind).draw(ex, rng) for ex in nb.exercises}
        asm = assemble_source(nb.source_nb)
        steps = steps_for(asm, nb.exercises, lambda ex, drawn=drawn: _payload(ex, drawn, wrong=True))
        run = sandbox.run(steps, limits=limits, files=nb.source_files, protect=protect, tripwire=False)
        if run.ungraded:
            raise GradingError(f"{plan.name}/{nb.stem}: the source notebook cannot be graded: {run.ungraded}")
        entries = {}
        for ex in nb.exercises:
            entries[ex.grade_id] = {
                "drawn": drawn[ex.grade_id],
                "expected": run.answers.get((ex.grade_id, None)),
                "wrong": [run.answers.get((ex.grade_id, k)) for k in range(len(ex.wrong))],
            }
        refs[nb.stem] = NotebookReference(entries, dict(run.cell_errors), run.duration)
    return refs


@dataclass
class StudentJob:
    notebook: NotebookPlan
    assembled: Assembled
    steps: list


def student_job(nb: NotebookPlan, ref: NotebookReference, submitted) -> StudentJob:
    """Runner steps for a submitted notebook (an nbformat notebook)."""
    asm = assemble(submitted, nb.release_nb)
    drawn = {gid: e["drawn"] for gid, e in ref.entries.items()}
    steps = steps_for(asm, nb.exercises, lambda ex: _payload(ex, drawn, wrong=False))
    return StudentJob(nb, asm, steps)


def run_student(job: StudentJob, *, limits: sandbox.Limits, protect: list) -> sandbox.RunResult:
    return sandbox.run(job.steps, limits=limits, files=job.notebook.release_files, protect=protect)


def forbidden_reasons(asm: Assembled, exercises: list[Exercise]) -> dict[str, str]:
    """grade_id -> why a hand exercise's answer depends on a forbidden routine (absent when clean).

    Only what the answer can reach counts (autograder.forbidden, statement by statement over every
    student cell, so an added or copied cell that rebinds the answer counts too): a scratch cell that
    calls `sp.diff` taints the names it binds or fills, and an answer that reads one of them
    (transitively) is tainted; a statement that can bind anything (eval, globals, setattr, ...) taints
    every hand exercise. An answer computed from values of the exercise's
    `target` (samples then a fit, a spline, a difference) is tainted too."""
    cells = [(n, src) for n, src, student, _ in asm.code_cells if student]
    protected = frozenset().union(*[top_level_bindings(src) for _, src, student, _ in asm.code_cells
                                    if not student])
    dirty, everything = taint(cells, protected)
    reasons = {}
    for ex in exercises:
        if not ex.hand:
            continue
        why = answer_taint(ex.answer, cells, everything, protected) if dirty else None
        if not why and ex.target:  # computed from samples of the function it differentiates
            why = target_taint(cells, ex.target, ex.answer)
        if why:
            reasons[ex.grade_id] = why
    return reasons


def judge_notebook(job: StudentJob, ref: NotebookReference, run: sandbox.RunResult) -> dict[str, Verdict]:
    """grade_id -> Verdict for every exercise of the notebook (run already finished, not ungraded)."""
    tainted = forbidden_reasons(job.assembled, job.notebook.exercises)
    verdicts = {}
    for ex in job.notebook.exercises:
        cell = job.assembled.test_cells.get(ex.grade_id)
        answer = run.answers.get((ex.grade_id, None))
        if ex.grade_id in tainted:
            verdicts[ex.grade_id] = Verdict(0.0, "forbidden", (
                f"This exercise is a hand derivation, but your answer depends on something it may not use: "
                f"{tainted[ex.grade_id]}. Answers that call a differentiation routine (or hide one), or that "
                f"are computed from values of the function being differentiated, score 0."),
                {"reason": tainted[ex.grade_id]})
            continue
        if answer is None and run.stopped_at is not None:
            verdicts[ex.grade_id] = Verdict(0.0, "stopped", f"The notebook stopped at cell {run.stopped_at}, "
                                                            "before this exercise was reached.",
                                            {"cell": run.stopped_at})
            continue
        v = judge(ex, ref.entries[ex.grade_id], answer)
        if v.mistake in ("missing", "error") and cell is not None:
            errs = {c: e for c, e in run.cell_errors.items() if isinstance(c, int) and c < cell}
            cells = job.assembled.code_cells
            answer_cell = next((n for n, _, _, gid in cells if gid == ex.answer_cell), None)
            if answer_cell in errs and errs[answer_cell].startswith("NotImplementedError"):
                v = Verdict(0.0, "unanswered", f"Not answered yet: your answer cell (cell {answer_cell}) "
                                               "still raises NotImplementedError.", v.detail)
            elif answer_cell in errs:
                v.message += f" (your answer cell, cell {answer_cell}, raised {errs[answer_cell][:150]})"
            elif answer_cell is None:
                v.message += _why_no_answer_cell(job.assembled.notebook, ex.answer_cell)
        verdicts[ex.grade_id] = v
    return verdicts


def _why_no_answer_cell(notebook, answer_cell: str) -> str:
    """A hint when the exercise's answer cell did not run: it was turned into Markdown/Raw, or deleted."""
    from autograder.notebooks import grade_id

    kinds = [c.cell_type for c in notebook.cells if grade_id(c) == answer_cell]
    if kinds:
        return (f" (your answer cell was changed into a {kinds[0]} cell, so it never ran: change it back "
                "to a Code cell)")
    return " (your notebook has no answer cell for this exercise: it was deleted or its metadata was changed)"
