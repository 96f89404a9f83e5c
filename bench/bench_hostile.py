"""A CPU hog in a class costs its neighbours nothing: the same class graded with and without it.

A class of N submissions of one assignment (default: the first in course/source; a third solved, a third
blank, a third half-solved) is graded by `python -m autograder grade --jobs J` twice per round:
  1. baseline: the N submissions as they are;
  2. hostile: the same, except that one student's first answer cell also starts 120 busy processes,
     each in its own session, and leaves them running (issue 11's CPU hog);
rounds alternate (baseline, hostile, baseline, ...) so that the machine's other load falls on both alike,
and each run's wall time is the fastest of its rounds. Prints both wall times and their ratio (goal:
< 1.25), the innocent students' scores in both (goal: identical), their sandbox durations, the hog's
outcome, and the machine's load average before and after. Exit status 1 when a goal is missed.

    python bench/bench_hostile.py [ASSIGNMENT] [--students 20] [--jobs 2] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
HOG = """import os
for _i in range(120):
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
"""


def make_class(root: Path, assignment: str, students: int, hog: str | None) -> list[str]:
    """A course at `root` with `students` submissions; student `hog` (if any) is the CPU hog."""
    from autograder.cmd_release import release
    from autograder.course import Course
    from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook

    (root / "source").mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / assignment, root / "source" / assignment)
    course = Course(root, f"sqlite:///{root / 'gradebook.db'}")
    if release(course, assignment):
        raise SystemExit(f"{assignment}: the student copy leaks")
    names = [f"student{i:02d}" for i in range(students)]
    for src in course.source_notebooks(assignment):
        rel = read_notebook(course.release / assignment / src.name)
        released_ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in rel.cells}
        sols = {k: v for k, v in solution_sources(read_notebook(src)).items() if k in released_ids}
        half = dict(list(sols.items())[: len(sols) // 2])
        for i, name in enumerate(names):
            answers = (sols, {}, half)[i % 3]
            if name == hog:
                first = next(iter(answers))
                answers = {**answers, first: HOG + answers[first]}
            write_notebook(with_answers(rel, answers), root / "submitted" / name / assignment / src.name)
    return names


def grade(root: Path, assignment: str, jobs: int, env: dict) -> float:
    cmd = [sys.executable, "-m", "autograder", "--course", str(root), "grade", assignment, "--force",
           "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"grade failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def verdicts(root: Path, assignment: str) -> dict:
    """student -> (status, score, sandbox seconds)."""
    from autograder.results import ResultsStore

    rows = ResultsStore(f"sqlite:///{root / 'gradebook.db'}").submissions(assignment)
    return {r.student: (r.status, r.score, r.duration_s or 0.0) for r in rows}


def main() -> int:
    names = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", nargs="?", default=names[0] if names else None)
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    a, n = args.assignment, args.students
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("CHAINRULE_DB_URL", None)
    hog = f"student{n // 2 // 3 * 3:02d}"   # a solved one: the same answers in both classes
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="chainrule-bench-hostile-"))
    try:
        base, hostile = tmp / "baseline", tmp / "hostile"
        make_class(base, a, n, None)
        make_class(hostile, a, n, hog)
        walls = {"baseline": [], "hostile": []}
        for _ in range(args.rounds):
            walls["baseline"].append(grade(base, a, args.jobs, env))
            walls["hostile"].append(grade(hostile, a, args.jobs, env))
        v_base, v_host = verdicts(base, a), verdicts(hostile, a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    t_base, t_host = min(walls["baseline"]), min(walls["hostile"])
    innocents = [s for s in v_base if s != hog]
    changed = [s for s in innocents if v_base[s][:2] != v_host[s][:2]]
    dur_base = [v_base[s][2] for s in innocents]
    dur_host = [v_host[s][2] for s in innocents]
    ratio = t_host / t_base
    print(f"assignment {a}: {n} submissions, grade --jobs {args.jobs}, {os.cpu_count()} CPU(s), "
          f"fastest of {args.rounds} round(s)")
    print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"  baseline (no hog)            : {t_base:7.2f} s  (rounds: {', '.join(f'{t:.1f}' for t in walls['baseline'])})")
    print(f"  with a 120-process CPU hog   : {t_host:7.2f} s  (rounds: {', '.join(f'{t:.1f}' for t in walls['hostile'])})")
    print(f"  wall-time ratio hostile/baseline: x{ratio:4.2f}  (goal < 1.25)")
    print(f"  innocent sandboxes: median {statistics.median(dur_base):.2f} s / max {max(dur_base):.2f} s "
          f"without the hog, median {statistics.median(dur_host):.2f} s / max {max(dur_host):.2f} s with it")
    print(f"  the hog ({hog}): {v_host[hog][0]}, score {v_host[hog][1]}, sandbox {v_host[hog][2]:.2f} s "
          f"(as an honest student: score {v_base[hog][1]}, {v_base[hog][2]:.2f} s)")
    print(f"  innocent scores changed: {len(changed)} of {len(innocents)}  (goal 0)"
          + (f": {', '.join(changed)}" if changed else ""))
    return 0 if not changed and ratio < 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
