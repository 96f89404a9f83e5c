"""`grade [ASSIGNMENT...]`: grade submissions in parallel sandboxes; verdicts decided outside them.

Per assignment: the source notebooks run once (reference answers at probes drawn now from a secret
seed); each submission runs in its own sandbox (N at a time); its answers are judged in a limited
worker process (autograder.judging_pool: CPU, memory and a judging budget per submission), and the
verdict is written at once (our tables + nbgrader's gradebook + autograded/<student>/<a>/).
Ctrl-C / SIGTERM kill the sandboxes, keep finished verdicts and exit 130; a rerun grades the rest.
Exit 0 even when some submissions are ungraded (they are listed), 2 on usage/course errors (an
assignment whose source cannot be graded is reported and skipped; the others are graded).
"""
from __future__ import annotations

import os
import sys

from autograder import sandbox
from autograder.class_grading import Grader
from autograder.course import Course
from autograder.judging_pool import JudgeLimits


def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel sandboxes (default: the number of CPU cores, %(default)s here)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="time limit per notebook: CPU seconds of its whole sandbox (wall clock without a "
                             "cgroup; a wall-clock backstop of 3x; default: %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=30.0, help="limit per cell, in seconds (default: %(default)s)")
    parser.add_argument("--memory", type=int, default=2048, metavar="MB", help="memory limit per notebook, in MB (default: %(default)s)")
    parser.add_argument("--judge-budget", type=float, default=JudgeLimits.budget_cpu_s, metavar="S",
                        help="CPU seconds to judge one submission's answers (an exercise gets at most half; default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="regrade those already graded")
    parser.add_argument("--student", action="append", default=[], metavar="ID", help="only these students")
    parser.add_argument("--cluster", metavar="ADDRESS", default=None,
                        help="run the sandboxes on a Dask cluster: tcp://host:8786 (a running scheduler) or "
                             "local:N (N worker processes here); --jobs is then the cluster's size "
                             "(docs/large-class.md)")


def run(args) -> int:
    if args.jobs < 1 or not (0 < args.timeout < 1e6) or not (0 < args.cell_timeout < 1e6) or args.memory < 64 \
            or not (1 <= args.judge_budget < 1e6):
        print("error: --jobs must be >= 1, timeouts > 0, --memory >= 64 and --judge-budget >= 1", file=sys.stderr)
        return 2
    course = Course.open(args.course, args.db)
    names = course.resolve_assignments(args.assignments)
    limits = sandbox.Limits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory_mb=args.memory)
    judging = JudgeLimits(budget_cpu_s=args.judge_budget, exercise_cpu_s=args.judge_budget / 2)
    grader = Grader(course, limits, jobs=args.jobs, judging=judging)
    if args.cluster:  # the gradebook opened first: a bad --db fails before a cluster is started
        from autograder.cluster import DaskSandboxes

        grader.sandboxes = DaskSandboxes(args.cluster, out=grader.out)
        grader.jobs = grader.sandboxes.slots
    try:
        return grader.run(names, force=args.force, students=args.student)
    finally:
        if grader.sandboxes is not None:
            grader.sandboxes.close()
