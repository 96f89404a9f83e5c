"""Grading time against notebook size: linear, with the run-time trap of hand derivations on.

A submission of 01_scalar_rules (every answer solved) gets one extra cell of N chained statements
(N = 1k, 10k, 100k; `a1 = a0 + 1`, ..., with a sympy self-check in the middle). For each N this prints
- the baseline: IPython running the same extra cell in this process (no sandbox, no trap);
- grading: the whole submission in the sandbox (trap on, every hand exercise) and judged;
and the ratios. Linear grading shows as a per-statement cost that stays flat as N grows x10 and x100
(before the trap, a whole-notebook static scan took 2 min 45 s at 6,000 statements).

    .venv/bin/python bench/bench_hand_scale.py [--sizes 1000 10000 100000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
A = "01_scalar_rules"


def big_cell(n: int) -> str:
    half = n // 2
    lines = ["a0 = 0"] + [f"a{i} = a{i - 1} + 1" for i in range(1, half)]
    lines.append("chk = sp.diff(x**3, x)")  # a self-check that differentiates: costs nothing
    lines += [f"a{i} = a{i - 1} + 1" for i in range(half, n)]
    return "\n".join(lines) + "\n"


def baseline(cell: str) -> float:
    """IPython alone, in this process: what running the cell costs anyway."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("import sympy as sp\nx = sp.Symbol('x')", store_history=False)
    t0 = time.perf_counter()
    shell.run_cell(cell, store_history=False)
    return time.perf_counter() - t0


def grade_once(course, plan, ref, submitted, limits) -> tuple[float, dict]:
    from autograder.grading import judge_notebook, run_student, student_job

    nb = plan.notebooks[0]
    t0 = time.perf_counter()
    job = student_job(nb, ref[nb.stem], submitted)
    run = run_student(job, limits=limits, protect=[course.root])
    verdicts = judge_notebook(job, ref[nb.stem], run) if run.ungraded is None else {}
    return time.perf_counter() - t0, {"ungraded": run.ungraded, "verdicts": verdicts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement (the fastest is kept)")
    args = ap.parse_args()

    from autograder import sandbox
    from autograder.course import Course
    from autograder.grading import build_reference, load_plan
    from autograder.notebooks import nbformat, read_notebook, solution_sources, with_answers

    tmp = Path(tempfile.mkdtemp(prefix="bench-hand-"))
    try:
        course_dir = tmp / "course"
        shutil.copytree(REPO / "course" / "source" / A, course_dir / "source" / A)
        shutil.copy2(REPO / "course" / "nbgrader_config.py", course_dir / "nbgrader_config.py")
        course = Course.open(str(course_dir), None)
        from autograder.cmd_release import release

        release(course, A)
        plan = load_plan(course, A)
        limits = sandbox.Limits(timeout=3600, cell_timeout=3600)
        ref = build_reference(plan, limits=limits, protect=[course.root])
        released = read_notebook(course.release / A / f"{A}.ipynb")
        solved = with_answers(released, solution_sources(read_notebook(plan.notebooks[0].source_path)))
        t_empty = min(grade_once(course, plan, ref, solved, limits)[0] for _ in range(args.repeat))
        print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
        print(f"grading the solved notebook alone: {t_empty:.2f} s\n")
        print(f"{'statements':>10} {'IPython alone':>14} {'grading':>9} {'grading - alone':>16} "
              f"{'per statement':>14} {'grading/IPython':>16}")
        rows = []
        for n in args.sizes:
            cell = big_cell(n)
            base = min(baseline(cell) for _ in range(args.repeat))
            sub = nbformat.v4.new_notebook(metadata=solved.metadata)
            sub.cells = list(solved.cells) + [nbformat.v4.new_code_cell(cell)]
            took, out = min((grade_once(course, plan, ref, sub, limits) for _ in range(args.repeat)),
                            key=lambda r: r[0])
            full = sum(v.credit for v in out["verdicts"].values())
            assert out["ungraded"] is None and full == len(out["verdicts"]), out
            extra = took - t_empty
            rows.append((n, base, took, extra))
            print(f"{n:>10} {base:>13.2f}s {took:>8.2f}s {extra:>15.2f}s {extra / n * 1e6:>11.1f} us "
                  f"{took / base:>15.2f}x")
        if len(rows) > 1:
            (n0, _, t0, _), (n1, _, t1, _) = rows[-2], rows[-1]
            slope = (t1 - t0) / (n1 - n0)
            print(f"\nfrom {n0} to {n1} statements each one costs grading {slope * 1e6:.0f} us; IPython alone "
                  f"{(rows[-1][1] - rows[-2][1]) / (n1 - n0) * 1e6:.0f} us (linear: flat cost per statement, "
                  "grading within a small factor of IPython's own)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
