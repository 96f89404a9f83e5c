"""Grading one assignment: the reference run of the source, student runs, verdicts (shared by grade/verify).

1. `load_plan`: the exercises of every notebook of the assignment (source) and the released copies.
2. `build_reference`: run the SOURCE notebooks in the sandbox with inputs each exercise's kind draws
   now from a secret seed (a function's probe points); record the reference answer and every
   catalogued wrong answer at the same inputs ("drawn" is kept for the student runs).
3. `student_job`: assemble a submitted notebook (released locked cells put back) into runner steps;
   `sandbox.run` executes it; `judge_notebook` decides every exercise (`grade` passes the judge of an
   autograder.judging_pool budget: evaluated in a limited worker process, never the grader's own).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import sandbox
from autograder.assemble import Assembled, assemble, assemble_source, steps_for
from autograder.judge import Verdict, judge
from autograder.kinds import kind_of
from autograder.notebooks import nbformat, read_notebook
from autograder.spec import Exercise, ManualCell, load_exercises, load_manual_cells
from autograder.trap import describe


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
        run = sandbox.run(steps, limits=limits, files=nb.source_files, protect=protect, trap=False)
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


def trap_reason(ex: Exercise, answer) -> str | None:
    """For a hand derivation: why its answer counts as computed by a routine, from the trap's report in
    the sandbox's answer (autograder.trap), as one clause; None when nothing counts against it.
    The report is data from the sandbox: only its known fields, as short plain text, are used."""
    why = answer.get("trap") if ex.hand and isinstance(answer, dict) else None
    if not isinstance(why, dict):
        return None
    clean = {}
    for key in ("routine", "how"):
        value = why.get(key)
        if isinstance(value, str):
            clean[key] = "".join(ch for ch in value if ch.isprintable())[:120]
    cell = why.get("cell")
    if isinstance(cell, int) and not isinstance(cell, bool):
        clean["cell"] = cell
    return describe(clean)


def judge_notebook(job: StudentJob, ref: NotebookReference, run: sandbox.RunResult, *,
                   judge=judge) -> dict[str, Verdict]:
    """grade_id -> Verdict for every exercise of the notebook (run already finished, not ungraded);
    `judge(ex, ref_entry, answer)` decides one exercise (default: in this process)."""
    verdicts = {}
    for ex in job.notebook.exercises:
        cell = job.assembled.test_cells.get(ex.grade_id)
        answer = run.answers.get((ex.grade_id, None))
        why = trap_reason(ex, answer)
        if why:
            verdicts[ex.grade_id] = Verdict(0.0, "forbidden", (
                f"This exercise asks for a derivative worked out by hand, but {why}. An answer computed "
                "with a differentiation routine scores 0."), {"reason": why})
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
