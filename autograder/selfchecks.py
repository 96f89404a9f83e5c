"""What a release puts beside the student copy for the student's own checks: the self-check data,
release/<assignment>/selfcheck.json, and a minimal nbgrader_config.py for `nbgrader validate`.

A student's test cell calls ``chainrule_utils.selfcheck.check("<grade_id>", answer)``; that function
reads this file from the notebook's folder. It travels with the assignment: the release folder is
what nbgrader's exchange hands out and what the course site zips.

Built from the SOURCE notebook, run in the sandbox like a grading run's reference
(autograder.grading.build_reference) but with inputs drawn from a fixed seed, so the data is the same
on every release of the same source. Each exercise's kind writes its part (``Kind.selfcheck_data``):
fingerprints of the reference answer, of every catalogued wrong answer (with the grader's mistake id
and sentence) and of the transforms the diagnoses need; no expected value and no formula. Before the
file is written, the self-check is run on the source's own answers (``Kind.observed``): the
reference must pass and every catalogued wrong answer must be named as the grader names it. Any
failure raises CourseError: a release never ships without working self-checks.

The student's nbgrader_config.py only makes `nbgrader validate`, run in the assignment folder, quiet
on a finished notebook: it is found (no "No nbgrader_config.py file found"), and kernels talk over local
sockets where the system has them (no "Kernel is running over TCP without encryption").
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from autograder import sandbox
from autograder.course import Course, CourseError

DATA_FILE = "selfcheck.json"   # chainrule_utils.selfcheck.DATA_FILE
STUDENT_CONFIG = '''"""nbgrader settings for your copy of the assignment (written by the course's release; used by
`nbgrader validate` run in this folder)."""
import os

c = get_config()  # noqa: F821  (injected by nbgrader)
if os.name == "posix":
    c.KernelManager.transport = "ipc"  # local sockets: the kernel has nothing to warn about
'''
BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError)


def seed_of(assignment: str) -> int:
    return int.from_bytes(hashlib.sha256(f"chainrule self-check {assignment}".encode()).digest()[:8], "little")


def salt_of(assignment: str, ex) -> str:
    """Per exercise; changes when the exercise's spec changes."""
    text = f"{assignment}/{ex.grade_id}/{json.dumps(ex.spec, sort_keys=True, default=str)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build(course: Course, assignment: str, *, limits: sandbox.Limits | None = None) -> dict:
    """The self-check data of `assignment` (its release must exist); CourseError when it cannot be built."""
    from autograder.grading import GradingError, build_reference, load_plan
    from autograder.kinds import kind_of
    from autograder.kinds.base import ReferenceError_
    from autograder.notebooks import NotebookError
    from autograder.spec import SpecError
    from autograder.wire import WireError
    from chainrule_utils.selfcheck import FORMAT

    try:
        plan = load_plan(course, assignment)
    except (SpecError, NotebookError) as exc:
        raise CourseError(str(exc)) from None
    try:
        refs = build_reference(plan, limits=limits or sandbox.Limits(), protect=[course.root],
                               rng=np.random.default_rng(seed_of(assignment)))
    except GradingError as exc:
        raise CourseError(f"{assignment}: the self-check data cannot be built: {exc}") from None
    exercises: dict = {}
    problems: list[str] = []
    for nb in plan.notebooks:
        for ex in nb.exercises:
            if ex.grade_id in exercises:
                problems.append(f"{ex.grade_id}: used by two notebooks")
                continue
            kind = kind_of(ex.kind)
            entry = refs[nb.stem].entries[ex.grade_id]
            try:
                data = kind.selfcheck_data(ex, entry, salt_of(assignment, ex))
                json.dumps(data, allow_nan=False)
            except (ReferenceError_, WireError, *BUILD_ERRORS) as exc:
                problems.append(f"{ex.grade_id}: {type(exc).__name__}: {exc}")
                continue
            problems += [f"{ex.grade_id}: {p}" for p in self_test(ex, kind, data, entry)]
            exercises[ex.grade_id] = data
    if problems:
        raise CourseError(f"{assignment}: the self-check data cannot be built: {'; '.join(problems)}")
    return {"format": FORMAT, "assignment": assignment, "exercises": exercises}


def self_test(ex, kind, data: dict, entry: dict) -> list[str]:
    """Problems of `data` on the source's own answers: the reference must pass its self-check and each
    usable catalogued wrong answer must be named as the grader names it (the first catalogued answer
    with the same values, like the grader's catalogue loop)."""
    from chainrule_utils.selfcheck import judge

    problems = []
    try:
        found = judge(data, kind.observed(entry["expected"]))
    except Exception as exc:  # noqa: BLE001  (a bug here must stop the release, with its reason)
        return [f"the self-check fails on the source's answer ({type(exc).__name__}: {exc})"]
    if not found.right:
        problems.append(f"the self-check rejects the source's own answer ({found.mistake}: {found.message})")
    for k, w in enumerate(ex.wrong):
        wrong = (entry.get("wrong") or [])[k] if k < len(entry.get("wrong") or []) else None
        if kind.unusable(wrong) is not None:
            continue  # verify reports a catalogued answer that cannot be evaluated
        try:
            found = judge(data, kind.observed(wrong))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"the self-check fails on catalogued answer {w.mistake} ({type(exc).__name__}: {exc})")
            continue
        earlier = {v.mistake for v in ex.wrong[:k]}
        if found.right or (found.mistake != w.mistake and found.mistake not in earlier):
            said = "passes it" if found.right else f"says {found.mistake}: {found.message}"
            problems.append(f"the self-check does not name catalogued mistake {w.mistake} (it {said})")
    return problems


def write(course: Course, assignment: str, *, limits: sandbox.Limits | None = None) -> Path:
    """Build and write release/<assignment>/selfcheck.json, and the student's nbgrader_config.py unless
    the source folder brings its own; the data file's path."""
    data = build(course, assignment, limits=limits)
    folder = course.release / assignment
    target = folder / DATA_FILE
    _write_atomically(target, json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n")
    if not (course.source / assignment / "nbgrader_config.py").exists():
        _write_atomically(folder / "nbgrader_config.py", STUDENT_CONFIG)
    return target


def _write_atomically(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".release-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # readable by students and nbgrader's exchange, like the notebook
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
