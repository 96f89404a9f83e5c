"""`python -m autograder.demo --course DIR`: the whole instructor pipeline on a generated sample class.

release -> sample (an LMS zip) -> collect -> grade (--jobs = cores) -> feedback -> export (plain and
Canvas) -> report, each through `autograder.__main__.main([...])`; each step is announced with the whole
command (as it would be typed in a shell, to copy) and its time, and the demo stops with a clear message
at the first step that fails. At the end, a few rows of the grades CSV show scores with their autograded,
hand-graded and still-to-grade points. Works on a fresh clone and again on a second run: the sample is
deterministic for a seed (and replaced with --force), collect keeps unchanged submissions, and grade
re-grades the sample students (--force).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from pathlib import Path

from autograder.__main__ import main as autograder_main
from autograder.course import Course, CourseError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__.splitlines()[0])
    p.add_argument("--course", default=None, help="course folder (default: ./course)")
    p.add_argument("--db", default=None, metavar="URL", help="gradebook SQLAlchemy URL")
    p.add_argument("--students", type=int, default=12, help="size of the sample class (default 12)")
    p.add_argument("--seed", type=int, default=0, help="sample class seed (default 0)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel graders (default: cores)")
    p.add_argument("--cell-timeout", type=float, default=10.0,
                   help="per-cell limit while grading (default 10 s: the sample has infinite loops)")
    p.add_argument("--lms", choices=("canvas", "moodle"), default="canvas",
                   help="file names in the sample zip")
    return p


def run_demo(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    try:
        course = Course.open(args.course, args.db)
        assignments = course.assignments()
    except CourseError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if not assignments:
        print(f"demo: no assignments in {course.source}", file=sys.stderr)
        return 2
    base = ["--course", str(course.root)] + (["--db", args.db] if args.db else [])
    sample_dir = course.root / ".sample"
    zip_path = sample_dir / "submissions.zip"

    def students() -> list[str]:
        manifest = json.loads((sample_dir / "manifest.json").read_text())
        return sorted({s["student"] for s in manifest["submissions"]})

    steps = [
        ("release", lambda: ["release", "--quiet"]),
        ("sample", lambda: ["sample", "--students", str(args.students), "--seed", str(args.seed),
                            "--format", "zip", "--lms", args.lms, "--output", str(sample_dir), "--force"]),
        ("collect", lambda: ["collect", str(zip_path)]),
        ("grade", lambda: ["grade", "--jobs", str(max(1, args.jobs)),
                           "--cell-timeout", str(args.cell_timeout), "--force",
                           *[x for s in students() for x in ("--student", s)]]),
        ("feedback", lambda: ["feedback"]),
        ("export", lambda: ["export"]),
        ("export canvas", lambda: ["export", "--format", "canvas"]),
        ("report", lambda: ["report"]),
    ]
    print(f"demo: course {course.root} ({len(assignments)} assignments: {', '.join(assignments)})",
          file=out)
    timings = []
    start = time.perf_counter()
    for i, (name, make_argv) in enumerate(steps, 1):
        argv = make_argv()
        print(f"\n== [{i}/{len(steps)}] {name}: {command_line(base + argv)}", file=out, flush=True)
        t0 = time.perf_counter()
        try:
            code = autograder_main(base + argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
        elapsed = time.perf_counter() - t0
        timings.append((name, elapsed))
        if code != 0:
            print(f"\ndemo: step '{name}' failed (exit {code}) after {elapsed:.1f} s; stopping. "
                  f"Fix the problem above and run the demo again.", file=sys.stderr)
            return code or 1
        print(f"-- {name}: {elapsed:.1f} s", file=out, flush=True)

    total = time.perf_counter() - start
    print(f"\n== demo finished in {total:.1f} s", file=out)
    for name, elapsed in timings:
        print(f"   {name:<14} {elapsed:7.1f} s", file=out)
    print("\nResults:", file=out)
    print(f"   sample class       {zip_path} (manifest: {sample_dir / 'manifest.json'})", file=out)
    print(f"   submissions        {course.submitted}", file=out)
    print(f"   gradebook          {course.gradebook_url}", file=out)
    print(f"   feedback pages     {course.feedback / 'index.html'}", file=out)
    print(f"   grades CSV         {course.exports / 'grades.csv'}", file=out)
    print(f"   Canvas CSV         {course.exports / 'grades_canvas.csv'}", file=out)
    print(f"   class report       {course.reports / 'index.html'}", file=out)
    preview(course.exports / "grades.csv", assignments[0], out)
    return 0


def command_line(argv: list[str]) -> str:
    """The command a user would type for `autograder_main(argv)`: the venv's chainrule-grade (or this
    Python with -m autograder), paths relative to the current folder when they are inside it."""
    script = Path(sys.executable).with_name("chainrule-grade")
    prog = [_short_path(script)] if script.is_file() else [_short_path(Path(sys.executable)), "-m", "autograder"]
    return shlex.join(prog + [_short_path(Path(a)) if os.path.isabs(a) else a for a in argv])


def _short_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def preview(csv_path: Path, assignment: str, out, rows: int = 5) -> None:
    """A few rows of the grades CSV for one assignment: score, status, and its auto / manual / to-grade split."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
    except OSError:
        return
    cols = [assignment, f"{assignment} status", f"{assignment} auto", f"{assignment} manual",
            f"{assignment} to grade"]
    if not table or any(c not in table[0] for c in cols):
        return
    print(f"\nGrades CSV, {assignment} (first {min(rows, len(table))} of {len(table)} students):", file=out)
    print(f"   {'student':<16} {'score':>6} {'auto':>6} {'manual':>7} {'to grade':>9}  status", file=out)
    for r in table[:rows]:
        print(f"   {r['student'][:16]:<16} {r[cols[0]]:>6} {r[cols[2]]:>6} {r[cols[3]]:>7} {r[cols[4]]:>9}  "
              f"{r[cols[1]]}", file=out)


def main(argv: list[str] | None = None) -> int:
    return run_demo(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
