"""Grading speed against plain `nbgrader autograde` (the named baseline), measured in the same run.

On a temporary copy of one assignment (default: the first in course/source), a class of N submissions
(half the source solution, half the blank student copy) is graded by
  1. `nbgrader autograde ASSIGNMENT` (one CLI run over all students: a Jupyter kernel per notebook,
     test cells run in the student's kernel),
  2. `python -m autograder grade --jobs 1` and `--jobs 2` (sandboxes forked from a zygote; verdicts
     decided in the grader),
and the bare execution of the source notebook with nbclient gives the per-notebook floor.
Prints seconds, seconds per notebook and ratios (goal: --jobs 2 at least 1.7x faster than nbgrader).

    python bench/bench_grade.py [ASSIGNMENT] [--students N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"


def _run(cmd, cwd, env) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def make_class(root: Path, assignment: str, students: int) -> None:
    from autograder.course import Course
    from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook
    from autograder.student_copies import release

    (root / "source").mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / assignment, root / "source" / assignment)
    course = Course(root, f"sqlite:///{root / 'gradebook.db'}")
    leaks = release(course, assignment)
    if leaks:
        raise SystemExit(f"{assignment} leaks: {leaks[0]}")
    for src in course.source_notebooks(assignment):
        rel = read_notebook(course.release / assignment / src.name)
        solved = with_answers(rel, {k: v for k, v in solution_sources(read_notebook(src)).items()
                                    if any(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == k
                                           for c in rel.cells)})
        for i in range(students):
            write_notebook(solved if i % 2 == 0 else rel,
                           root / "submitted" / f"student{i:02d}" / assignment / src.name)


def bare_execution(assignment: str) -> float:
    import nbformat
    from nbclient import NotebookClient

    path = COURSE / "source" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                   ).execute()
    return time.perf_counter() - t0


def main() -> int:
    names = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", nargs="?", default=names[0] if names else None)
    ap.add_argument("--students", type=int, default=12)
    args = ap.parse_args()
    if not args.assignment:
        print("no assignment in course/source", file=sys.stderr)
        return 2
    a, n = args.assignment, args.students
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("CHAINRULE_DB_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix="chainrule-bench-"))
    try:
        base = tmp / "nbgrader"
        make_class(base, a, n)
        ours = tmp / "ours"
        shutil.copytree(base, ours)
        bare = bare_execution(a)
        t_nbgrader = _run([sys.executable, "-m", "nbgrader", "autograde", a, "--create", "--force"], base, env)
        grade = [sys.executable, "-m", "autograder", "--course", str(ours), "grade", a, "--force"]
        t_j1 = _run(grade + ["--jobs", "1"], REPO, env)
        from autograder.results import ResultsStore

        rows = ResultsStore(f"sqlite:///{ours / 'gradebook.db'}").submissions(a)
        sandbox_s = sum(r.duration_s or 0.0 for r in rows) / max(len(rows), 1)
        t_j2 = _run(grade + ["--jobs", "2"], REPO, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"assignment {a}, {n} submissions (half solved, half blank), {os.cpu_count()} CPU(s)")
    print(f"  bare nbclient run of the source notebook : {bare:7.2f} s")
    print(f"  nbgrader autograde (baseline)            : {t_nbgrader:7.2f} s  ({t_nbgrader / n:5.2f} s/notebook)")
    print(f"  autograder grade --jobs 1                : {t_j1:7.2f} s  ({t_j1 / n:5.2f} s/notebook)  "
          f"speed-up x{t_nbgrader / t_j1:4.2f}")
    print(f"  autograder grade --jobs 2                : {t_j2:7.2f} s  ({t_j2 / n:5.2f} s/notebook)  "
          f"speed-up x{t_nbgrader / t_j2:4.2f}  (goal >= 1.7)")
    print(f"  per-notebook cost vs bare execution: nbgrader x{t_nbgrader / n / bare:4.2f}, "
          f"ours (--jobs 1) x{t_j1 / n / bare:4.2f}; one sandbox run (fork to verdict data) "
          f"{sandbox_s:5.2f} s = x{sandbox_s / bare:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
