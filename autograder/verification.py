"""Verifying an assignment: prove its tests are strong, in a temp copy of the course (the `verify`
command is autograder/cmd_verify.py).

In a temporary copy (the real release/ and gradebook are never touched, so runs are parallel-safe):
release, then check (1) the source's solutions score full marks on every autograded exercise;
(2) the blank student copy scores 0 on each; (3) every catalogued wrong answer scores at most its
max_score (variant k puts the k-th wrong answer of every exercise in at once, the other exercises
keep their solutions, so the number of runs is the longest catalogue plus two); (4) points add up
(grade cells = nbgrader's gradebook; specs, ids and answer names checked when specs load);
(5) nothing of the solutions or hidden tests leaks into the student copy; (6) the self-check data
builds (autograder.selfchecks: the source passes its self-check, every catalogued answer is named).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import sandbox
from autograder.course import Course, CourseError


def temp_course(course: Course, assignment: str) -> Course:
    """A private copy of the course with just this assignment's source and its own gradebook."""
    tmp = Path(tempfile.mkdtemp(prefix=f"chainrule-verify-{assignment}-"))
    shutil.copy2(course.root / "nbgrader_config.py", tmp / "nbgrader_config.py")
    (tmp / "source").mkdir()
    shutil.copytree(course.source / assignment, tmp / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return Course(tmp, f"sqlite:///{tmp / 'gradebook.db'}")


def verify_assignment(course: Course, name: str, *, limits: sandbox.Limits, jobs: int = 1,
                      keep: bool = False, out=None) -> list[str]:
    """Run every check on one assignment; print a table to `out` (default: sys.stdout as it is at the
    call, not at import); return the violations (empty when fine)."""
    out = out or sys.stdout
    t0 = time.time()
    tmp = temp_course(course, name)
    try:
        problems, lines = _verify(tmp, name, limits, jobs)
    except CourseError as exc:
        problems, lines = [str(exc)], []
    finally:
        if keep:
            print(f"(temporary course kept at {tmp.root})", file=out)
        else:
            shutil.rmtree(tmp.root, ignore_errors=True)
    print(f"== {name}  ({time.time() - t0:.1f} s)", file=out)
    for line in lines:
        print(line, file=out)
    if problems:
        print(f"{len(problems)} violation(s):", file=out)
        for p in problems:
            print(f"  - {p}", file=out)
    else:
        print("ok: solution = full marks, blank = 0, every catalogued wrong answer loses its points, "
              "points add up, no leak", file=out)
    out.flush()
    return problems


def _verify(tmp: Course, name: str, limits: sandbox.Limits, jobs: int):
    from autograder.grading import (
        GradingError,
        build_reference,
        judge_notebook,
        load_plan,
        run_student,
        student_job,
    )
    from autograder.kinds import kind_of
    from autograder.notebooks import NotebookError, solution_sources, with_answers
    from autograder.spec import SpecError
    from autograder.student_copies import release

    problems: list[str] = []
    leaks = release(tmp, name, selfcheck=False)
    if leaks:
        return [f"leak in the student copy: {x}" for x in leaks], []
    try:
        plan = load_plan(tmp, name)
    except (SpecError, NotebookError) as exc:
        return [str(exc)], []
    problems += _check_points(tmp, plan)
    protect = [tmp.root]
    try:
        refs = build_reference(plan, limits=limits, protect=protect)
    except GradingError as exc:
        return problems + [str(exc)], []
    warnings = []
    for nb in plan.notebooks:
        ref = refs[nb.stem]
        for cell, err in sorted(ref.cell_errors.items(), key=lambda kv: (kv[0] is None, kv[0])):
            warnings.append(f"warning: {nb.stem} source cell {cell} raised {err}")
        for ex in nb.exercises:
            entry = ref.entries[ex.grade_id]
            kind = kind_of(ex.kind)
            why = kind.unusable(entry["expected"])
            if why is not None:
                problems.append(f"{ex.grade_id}: the source's answer `{ex.answer}` cannot be evaluated ({why})")
            for k, w in enumerate(ex.wrong):
                why = kind.unusable(entry["wrong"][k])
                if why is not None:
                    problems.append(f"{ex.grade_id}: catalogued wrong answer {k} ({w.mistake}) raises in the "
                                    f"source notebook, so it can never be recognised ({why})")
    # the variants: solution, blank, wrong k
    jobs_list = []
    for nb in plan.notebooks:
        sols = {gid: src for gid, src in solution_sources(nb.source_nb).items()
                if any(_gid(c) == gid for c in nb.release_nb.cells)}
        variants = {"solution": with_answers(nb.release_nb, sols), "blank": nb.release_nb}
        longest = max((len(ex.wrong) for ex in nb.exercises), default=0)
        for k in range(longest):
            answers = dict(sols)
            for ex in nb.exercises:
                if k < len(ex.wrong):
                    answers[ex.answer_cell] = ex.wrong[k].code
            variants[f"wrong {k}"] = with_answers(nb.release_nb, answers)
        for label, nbk in variants.items():
            jobs_list.append((nb, label, student_job(nb, refs[nb.stem], nbk)))
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(lambda j: run_student(j[2], limits=limits, protect=protect), jobs_list))
    run_time = time.time() - t0
    table: dict[str, dict] = {}
    for (nb, label, job), run in zip(jobs_list, runs, strict=True):
        if run.ungraded:
            problems.append(f"{nb.stem}: the {label} copy could not be graded: {run.ungraded}")
            continue
        verdicts = judge_notebook(job, refs[nb.stem], run)
        for ex in nb.exercises:
            v = verdicts[ex.grade_id]
            row = table.setdefault(ex.grade_id, {"ex": ex, "wrong_ok": 0, "recognised": 0})
            say = f"{v.mistake}: {v.message}" if v.mistake else "correct"
            if label == "solution":
                row["solution"] = v.credit
                if v.credit < 1.0:
                    problems.append(f"{ex.grade_id}: the source solution scores {v.credit * ex.points:g}/"
                                    f"{ex.points:g} ({say})")
            elif label == "blank":
                row["blank"] = v.credit
                if v.credit > 0.0:
                    problems.append(f"{ex.grade_id}: the blank student copy scores {v.credit * ex.points:g}/"
                                    f"{ex.points:g}")
            else:
                k = int(label.split()[1])
                if k >= len(ex.wrong):
                    continue
                w = ex.wrong[k]
                if v.credit <= w.max_score + 1e-12:
                    row["wrong_ok"] += 1
                    row["recognised"] += v.mistake == w.mistake
                else:
                    problems.append(f"{ex.grade_id}: catalogued wrong answer {k} ({w.mistake}) scores "
                                    f"{v.credit * ex.points:g}/{ex.points:g}, more than its max_score "
                                    f"{w.max_score * ex.points:g}")
    problems += _check_selfcheck(tmp, name)
    ref_time = sum(r.duration for r in refs.values())
    lines = [f"{len(jobs_list)} sandbox runs + reference: {run_time:.1f} s (reference {ref_time:.1f} s)",
             f"  {'exercise':<26} {'kind':<12} {'pts':>4}  {'solution':>8}  {'blank':>5}  wrong answers",
             ]
    for nb in plan.notebooks:
        for ex in nb.exercises:
            row = table.get(ex.grade_id, {})
            sol = row.get("solution")
            blank = row.get("blank")
            wrong = (f"{row.get('wrong_ok', 0)}/{len(ex.wrong)} lose points, "
                     f"{row.get('recognised', 0)} recognised") if ex.wrong else "none catalogued"
            lines.append(f"  {ex.grade_id:<26} {ex.kind:<12} {ex.points:>4g}  "
                         f"{_fmt(sol, ex.points):>8}  {_fmt(blank, ex.points):>5}  {wrong}")
        for m in nb.manual:
            lines.append(f"  {m.grade_id:<26} {'manual':<12} {m.points:>4g}  {'-':>8}  {'-':>5}  "
                         "graded by hand")
    lines += warnings
    return problems, lines


def _check_selfcheck(tmp: Course, name: str) -> list[str]:
    """The self-check data builds on the source (what `release` writes beside the student copy)."""
    from autograder import selfchecks

    try:
        selfchecks.write(tmp, name)
    except CourseError as exc:
        return [str(exc)]
    return []


def _gid(cell):
    from autograder.notebooks import grade_id

    return grade_id(cell)


def _fmt(credit, points) -> str:
    return "?" if credit is None else f"{credit * points:g}"


def _check_points(tmp: Course, plan) -> list[str]:
    """Points in the source's grade cells equal the max score nbgrader's gradebook computed."""
    from autograder import nbgrader_api

    total = plan.max_points
    try:
        with nbgrader_api.gradebook(tmp) as gb:
            db_total = float(gb.find_assignment(plan.name).max_score)
    except Exception as exc:  # nbgrader raises MissingEntry and friends
        return [f"points: cannot read the gradebook ({type(exc).__name__}: {exc})"]
    if abs(db_total - total) > 1e-9:
        return [f"points: the grade cells add up to {total:g} but nbgrader's gradebook says {db_total:g}"]
    return []
