"""A sample class of submissions of varied quality, made from the RELEASED student copies.

Per student and assignment one profile:
- "correct": every answer cell holds the source notebook's solution;
- "blank": the student copy as released;
- "wrong": each exercise gets the solution, a catalogued wrong answer (WrongAnswer.code from the
  grading spec) or nothing, at least one of them a catalogued mistake;
- "broken:<kind>": malformed_json (truncated file), infinite_loop (first answer cell loops forever, the
  rest correct), deleted_test_cell (first test cell deleted, all answers correct), os_exit
  (`os._exit(1)` before any answer), sigkill (the kernel kills itself with SIGKILL before any answer).
Student 0 is correct everywhere, student 1 blank everywhere, a few students are broken on each
assignment, the last student (from 6 students on) misses the last assignment, and one student
resubmits the first assignment (an older, blank submission is in the zip too).

The output is deterministic for a seed: an LMS-style zip (Canvas or Moodle file names) or an nbgrader
`submitted/` tree, with timestamps, plus manifest.json saying what each student got and what a correct
grader must give (per exercise: credit bounds as fractions of the points; per submission: status).
"""
from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import zipfile
from pathlib import Path

import nbformat

from autograder.cmd_collect import format_timestamp, safe_student_id
from autograder.course import Course, CourseError
from autograder.nbmeta import nbgrader_meta
from autograder.notebooks import NotebookError, read_notebook, solution_sources, with_answers
from autograder.spec import SpecError, load_exercises, load_manual_cells

BROKEN_KINDS = ("malformed_json", "infinite_loop", "deleted_test_cell", "os_exit", "sigkill")
NAMES = [
    ("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Emmy", "Noether"), ("Carl", "Gauss"),
    ("Sofia", "Kovalevskaya"), ("Leonhard", "Euler"), ("Mary", "Somerville"), ("Srinivasa", "Ramanujan"),
    ("Katherine", "Johnson"), ("John", "Neumann"), ("Hypatia", "Alexandria"), ("Pierre", "Laplace"),
    ("Maryam", "Mirzakhani"), ("Joseph", "Fourier"), ("Sophie", "Germain"), ("Bernhard", "Riemann"),
    ("Olga", "Ladyzhenskaya"), ("Henri", "Poincare"), ("Dorothy", "Vaughan"), ("Kurt", "Godel"),
    ("Ingrid", "Daubechies"), ("Niels", "Abel"), ("Julia", "Robinson"),
]
WRITTEN_ANSWER = "Each row of the Jacobian belongs to one output, each column to one input."
START = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.UTC)


def _strip_markers(source: str) -> str:
    """A solution as a student would write it: without nbgrader's BEGIN/END SOLUTION lines."""
    return "\n".join(line for line in source.splitlines() if not re.search(r"(BEGIN|END) SOLUTION", line))


class Student:
    def __init__(self, index: int, user_id: int):
        first, last = NAMES[index % len(NAMES)]
        round_ = index // len(NAMES)
        self.name = f"{first} {last}" + (f" {round_ + 1}" if round_ else "")
        self.canvas = safe_student_id(f"{last}{first[0]}" + (str(round_ + 1) if round_ else ""))
        self.user_id = user_id  # the LMS account number: collect's identity, so never shared

    def student_id(self, lms: str) -> str:
        """The id that `collect` derives from this student's file names."""
        return safe_student_id(self.name) if lms == "moodle" else self.canvas

    def file_name(self, lms: str, notebook: str, submission_id: int, counter: int = 0) -> str:
        suffix = f"-{counter}" if counter else ""
        stem = Path(notebook).stem
        if lms == "moodle":
            return f"{self.name}_{self.user_id}_assignsubmission_file_{stem}{suffix}.ipynb"
        return f"{self.canvas}_{self.user_id}_{submission_id}_{stem}{suffix}.ipynb"


class AssignmentMaterial:
    """What the generator needs of one assignment: its released notebook, solutions and catalogues."""

    def __init__(self, course: Course, assignment: str):
        sources = course.source_notebooks(assignment)
        if len(sources) != 1:
            raise CourseError(f"{assignment}: the sample class needs exactly one notebook per assignment")
        source = sources[0]
        release = course.release / assignment / source.name
        if not release.is_file():
            raise CourseError(f"{release} is missing: run `python -m autograder release {assignment}` first")
        try:
            self.exercises = load_exercises(source)
            self.manual = load_manual_cells(source)
            self.release_nb = read_notebook(release)
            solutions = solution_sources(read_notebook(source))
        except (SpecError, NotebookError) as exc:
            raise CourseError(str(exc)) from None
        self.name = assignment
        self.notebook = source.name
        self.solutions = {e.answer_cell: _strip_markers(solutions[e.answer_cell]) for e in self.exercises}


def _profiles(n_students: int, n_assignments: int, rng: random.Random,
              broken_per_assignment: int | None) -> dict[tuple[int, int], str]:
    profiles: dict[tuple[int, int], str] = {}
    kinds = list(BROKEN_KINDS)
    rng.shuffle(kinds)
    counter = 0
    for ai in range(n_assignments):
        for si in range(n_students):
            if si == 0:
                p = "correct"
            elif si == 1:
                p = "blank"
            elif si >= 3 and (
                (si - 3) < broken_per_assignment if broken_per_assignment is not None
                else (si + 2 * ai) % 5 == 3
            ):
                p = "broken:" + kinds[counter % len(kinds)]
                counter += 1
            else:
                p = "correct" if rng.random() < 0.2 else "wrong"
            profiles[si, ai] = p
    return profiles


def _answers_for(profile: str, material: AssignmentMaterial, rng: random.Random):
    """({answer_cell: code}, {grade_id: {"given", "min", "max"}}) for one submission."""
    answers: dict[str, str] = {}
    given: dict[str, dict] = {}
    exercises = material.exercises
    if profile == "wrong":
        choices = []
        for e in exercises:
            r = rng.random()
            choices.append("wrong" if (r < 0.45 and e.wrong) else "blank" if r < 0.55 else "solution")
        if exercises and "wrong" not in choices:
            with_catalogue = [i for i, e in enumerate(exercises) if e.wrong]
            if with_catalogue:
                choices[rng.choice(with_catalogue)] = "wrong"
    else:
        choices = ["blank" if profile == "blank" else "solution"] * len(exercises)
    for e, choice in zip(exercises, choices, strict=True):
        if choice == "solution":
            answers[e.answer_cell] = material.solutions[e.answer_cell]
            given[e.grade_id] = {"given": "solution", "min": 1.0, "max": 1.0}
        elif choice == "wrong":
            w = rng.choice(e.wrong)
            answers[e.answer_cell] = w.code
            given[e.grade_id] = {"given": f"wrong:{w.mistake}", "min": 0.0, "max": w.max_score,
                                 "message": w.message}
        else:
            given[e.grade_id] = {"given": "blank", "min": 0.0, "max": 0.0}
    return answers, given


def _break(nb, kind: str, material: AssignmentMaterial, given: dict) -> str:
    """Apply a broken kind to `nb` (in place); returns the expected status ("ungraded" or "any")."""
    exercises = material.exercises
    if kind == "infinite_loop" and exercises:
        first = exercises[0]
        cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == first.answer_cell)
        cell.source = "while True:\n    pass\n\n" + cell.source
        given[first.grade_id].update(given="infinite_loop", min=0.0, max=0.0)
        for e in exercises[1:]:
            given[e.grade_id]["min"] = 0.0  # a grader may stop the whole notebook instead
        return "any"
    if kind == "deleted_test_cell" and exercises:
        first = exercises[0]
        nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") != first.grade_id]
        given[first.grade_id]["given"] = "solution, test cell deleted"
        return "graded"
    if kind in ("os_exit", "sigkill"):
        code = ("import os\nos._exit(1)\n" if kind == "os_exit"
                else "import os\nimport signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), -1)
        nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(code, id=f"sample-{kind.replace('_', '-')}"))
        for g in given.values():
            g.update(min=0.0, max=0.0)
            g["given"] += f", not reached ({kind})"
        return "any"
    # malformed_json: handled when writing; nothing in the notebook can be graded
    for g in given.values():
        g.update(min=0.0, max=0.0)
    return "ungraded"


def existing_sample(output: Path) -> str | None:
    """What a sample folder already holds, in words ("12 students, seed 0, zip"), or None if nothing a
    sample would replace is there (manifest.json, submissions.zip or submitted/)."""
    output = Path(output)
    if not any((output / name).exists() for name in ("manifest.json", "submissions.zip", "submitted")):
        return None
    try:
        m = json.loads((output / "manifest.json").read_text())
        return f"{m['students']} students, seed {m['seed']}, {m['format']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "files not described by a manifest"


def generate(course: Course, n_students: int, *, seed: int = 0, output: Path | None = None,
             fmt: str = "zip", lms: str = "canvas", assignments: list[str] | None = None,
             broken_per_assignment: int | None = None, release_missing: bool = True) -> dict:
    """Write the sample class to `output` (default <course>/.sample) and return the manifest.

    fmt "zip": output/submissions.zip with LMS file names; fmt "tree": output/submitted/<student>/<a>/.
    Both write output/manifest.json.
    """
    if n_students < 1:
        raise CourseError("--students must be at least 1")
    if fmt not in ("zip", "tree") or lms not in ("canvas", "moodle"):
        raise CourseError(f"unknown format {fmt!r} / LMS {lms!r}")
    names = course.resolve_assignments(assignments)
    if release_missing:
        missing = [a for a in names if not (course.release / a).is_dir() or not course.release_notebooks(a)]
        if missing:
            from autograder.__main__ import main

            db = ["--db", course.db_url] if course.db_url else []   # the same gradebook as the caller's
            if main(["--course", str(course.root), *db, "release", "--quiet", *missing]) != 0:
                raise CourseError(f"release of {', '.join(missing)} failed; cannot make a sample class")
    materials = [AssignmentMaterial(course, a) for a in names]
    output = Path(output) if output else course.root / ".sample"
    rng = random.Random(seed)
    ids = rng.sample(range(10000, 100000), n_students)
    students = [Student(i, ids[i]) for i in range(n_students)]
    profiles = _profiles(n_students, len(materials), rng, broken_per_assignment)

    submissions, files = [], []  # files: (name inside zip or tree path, bytes, timestamp)
    missing_rows = []
    for ai, material in enumerate(materials):
        deadline = START + dt.timedelta(days=7 * ai)
        for si, student in enumerate(students):
            sid = student.student_id(lms)
            if si == n_students - 1 and n_students >= 6 and ai == len(materials) - 1:
                missing_rows.append({"student": sid, "assignment": material.name})
                continue
            profile = profiles[si, ai]
            answers, given = _answers_for(profile, material, rng)
            nb = with_answers(material.release_nb, answers)
            for m in material.manual:
                if profile != "blank":
                    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == m.grade_id)
                    cell.source = WRITTEN_ANSWER
            status = "graded"
            if profile.startswith("broken:"):
                status = _break(nb, profile.split(":", 1)[1], material, given)
            text = nbformat.writes(nb)
            if profile == "broken:malformed_json":
                text = text[: len(text) // 2]
            when = deadline - dt.timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
            sub_id = 100000 + rng.randrange(900000)
            resubmits = si == 2 and ai == 0
            if fmt == "zip":
                path = student.file_name(lms, material.notebook, sub_id, counter=1 if resubmits else 0)
            else:
                path = f"submitted/{sid}/{material.name}/{material.notebook}"
            if resubmits and fmt == "zip":
                # an earlier, blank attempt that the newer one must replace
                early = nbformat.writes(material.release_nb)
                files.append((student.file_name(lms, material.notebook, sub_id - 1), early,
                              when - dt.timedelta(days=1)))
            files.append((path, text, when))
            submissions.append({
                "student": sid, "name": student.name, "assignment": material.name,
                "notebook": material.notebook, "profile": profile, "file": path,
                "timestamp": format_timestamp(when), "expect_status": status,
                "points": {e.grade_id: e.points for e in material.exercises},
                "exercises": given,
            })

    _write(output, fmt, files)
    manifest = {
        "seed": seed, "students": n_students, "format": fmt, "lms": lms if fmt == "zip" else None,
        "assignments": names,
        "path": str((output / ("submissions.zip" if fmt == "zip" else "submitted")).resolve()),
        "submissions": submissions, "missing": missing_rows,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _write(output: Path, fmt: str, files: list[tuple[str, str, dt.datetime]]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    if fmt == "zip":
        target = output / "submissions.zip"
        tmp = output / "submissions.zip.part"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text, when in files:
                info = zipfile.ZipInfo(name, date_time=when.astimezone(dt.UTC).timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, text.encode("utf-8"))
        tmp.replace(target)
        return
    tree = output / "submitted"
    if tree.exists():
        if not (output / "manifest.json").exists():
            raise CourseError(f"{tree} exists and was not made by `sample`; choose another --output")
        shutil.rmtree(tree)
    for name, text, when in files:
        path = output / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        (path.parent / "timestamp.txt").write_text(format_timestamp(when) + "\n")
