"""Grading a class: which submissions to grade, their sandboxes (here or on a cluster), their judging
and the recording of each verdict as soon as it is decided (`Grader`; the `grade` command is
autograder/cmd_grade.py).

Per assignment: the source notebooks run once (reference answers at probes drawn now from a secret
seed); each submission runs in its own sandbox (N at a time); its answers are judged in a limited
worker process (autograder.judging_pool: CPU, memory and a judging budget per submission), and the
verdict is written at once (our tables + nbgrader's gradebook + autograded/<student>/<a>/).
Ctrl-C / SIGTERM kill the sandboxes and keep finished verdicts (`run` returns 130); a rerun grades the
rest. An assignment whose source cannot be graded is reported and skipped; the others are graded.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime

from autograder import sandbox
from autograder.classdata import hand_points
from autograder.cluster import ClusterLost
from autograder.course import Course, CourseError
from autograder.judging_pool import JudgeLimits
from autograder.textclean import clean, reason


class _Interrupted(Exception):
    pass


class Grader:
    def __init__(self, course: Course, limits: sandbox.Limits, jobs: int = 1, out=None, sandboxes=None,
                 judging: JudgeLimits | None = None):
        from autograder.judging_pool import JudgePool
        from autograder.results import ResultsStore

        self.judges = JudgePool(1, judging or JudgeLimits())   # one worker: _record judges one submission at a time
        self.course = course
        self.limits = limits
        self.jobs = jobs
        self.sandboxes = sandboxes   # None: sandboxes on this machine; else e.g. cluster.DaskSandboxes
        self.out = out or sys.stderr
        self.store = ResultsStore(course.gradebook_url)
        self.protect = [course.root]
        db = course.gradebook_url
        if db.startswith("sqlite:///"):
            self.protect.append(os.path.dirname(os.path.abspath(db[len("sqlite:///"):])))
        self.summary: list[tuple[str, str, str, str | None]] = []   # (assignment, student, status, reason)
        self.failed: list[str] = []   # assignments that could not be graded at all (why)
        self.hand_pending: dict[tuple[str, str], float] = {}   # (assignment, student) -> points to grade by hand

    # -- what to grade ---------------------------------------------------------------------------
    def todo(self, names: list[str], force: bool, students: list[str]) -> list[tuple[str, str]]:
        """(assignment, student) pairs to grade: never graded, or whose submission is no longer the
        version the stored verdict was given for (submissions.verdict_is_current)."""
        from autograder.submissions import verdict_is_current

        stored = {} if force else {(r.assignment, r.student): r.timestamp for r in self.store.submissions()}
        known = self.course.students()
        unknown = [s for s in students if s not in known]
        if unknown:
            who = ", ".join(unknown)
            raise CourseError(f"no submissions for student(s) {who} in {self.course.submitted}")
        out = []
        for a in names:
            stems = [p.stem for p in self.course.source_notebooks(a)]
            for s in known:
                if students and s not in students:
                    continue
                folder = self.course.submitted / s / a
                if not folder.is_dir():
                    continue
                if (a, s) not in stored or not verdict_is_current(stored[(a, s)], folder, stems):
                    out.append((a, s))
        return out

    def unknown_folders(self, students: list[str] = ()) -> list[str]:
        """submitted/<student>/<folder> whose folder is no assignment of the course (never graded)."""
        known = set(self.course.assignments())
        out = []
        for s in self.course.students():
            if students and s not in students:
                continue
            try:
                out += [f"{s}/{p.name}" for p in sorted((self.course.submitted / s).iterdir())
                        if p.is_dir() and p.name not in known and not p.name.startswith(".")]
            except OSError:
                continue
        return out

    def run(self, names: list[str], force: bool = False, students: list[str] = ()) -> int:
        unknown = self.unknown_folders(list(students))
        if unknown:
            shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            print(f"note: {len(unknown)} submission folder(s) named after no assignment of the course, not "
                  f"graded: {clean(shown)}", file=self.out)
        by_case: dict[str, list[str]] = {}
        for s in self.course.students():
            by_case.setdefault(s.casefold(), []).append(s)
        clashes = [" and ".join(v) for v in by_case.values() if len(v) > 1]
        if clashes:
            print(f"note: student ids that differ only in case are graded as different students: "
                  f"{clean('; '.join(clashes[:5]))}", file=self.out)
        todo = self.todo(names, force, list(students))
        if not todo:
            print("nothing to grade (use --force to regrade)", file=self.out)
            return 0
        old = signal.signal(signal.SIGTERM, _raise_interrupt) if _main_thread() else None
        try:
            self.judges.start()
            with _quiet_gradebook():
                self._grade(todo)
        except (KeyboardInterrupt, _Interrupted):
            sandbox.kill_all()
            kept = len(self.summary)
            print(f"\ninterrupted: {kept} verdict(s) kept; rerun to grade the rest", file=self.out)
            return 130
        except ClusterLost as exc:
            print(f"\nerror: {exc}; {len(self.summary)} verdict(s) kept; rerun to grade the rest", file=self.out)
            return 2
        finally:
            self.judges.close()
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        self._print_summary()
        for why in self.failed:
            print(f"NOT GRADED: {why}", file=self.out)
        return 2 if self.failed else 0

    # -- grading -----------------------------------------------------------------------------------
    def _grade(self, todo: list[tuple[str, str]]) -> None:
        from autograder.grading import GradingError, build_reference, load_plan
        from autograder.notebooks import NotebookError
        from autograder.progress import Progress
        from autograder.spec import SpecError

        plans, refs = {}, {}
        wanted = sorted({a for a, _ in todo})
        for a in wanted:
            try:
                self._ensure_released(a)
                try:
                    plans[a] = load_plan(self.course, a)
                except (SpecError, NotebookError) as exc:
                    raise CourseError(str(exc)) from None
                t0 = time.time()
                try:
                    refs[a] = build_reference(plans[a], limits=self.limits, protect=self.protect)
                except GradingError as exc:
                    raise CourseError(str(exc)) from None
            except CourseError as exc:  # this assignment cannot be graded; the others still are
                if len(wanted) == 1:
                    raise
                self.failed.append(f"{exc}")
                print(f"error: {exc}; its submissions are not graded", file=self.out)
                continue
            print(f"{a}: reference answers computed in {time.time() - t0:.1f} s", file=self.out)
        if len(self.failed) == len(wanted):
            raise CourseError(self.failed[0])
        todo = [(a, s) for a, s in todo if a in refs]
        progress = Progress(len(todo), self.out)
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            pending = {}
            for a, s in todo:
                pending[pool.submit(self._run_submission, plans[a], refs[a], s)] = (a, s)
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    a, s = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except ClusterLost:
                        raise
                    except Exception as exc:  # a bug or an OS failure: this submission only
                        outcome = {"notebooks": {}, "duration": 0.0,
                                   "ungraded": f"grader error: {type(exc).__name__}: {exc}"[:300]}
                    label = self._record(plans[a], refs[a], s, outcome)
                    progress.advance(label)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            sandbox.kill_all()
            if self.sandboxes is not None:
                self.sandboxes.cancel()
            raise
        finally:
            progress.close()
        pool.shutdown(wait=True)

    def _ensure_released(self, a: str) -> None:
        from autograder.student_copies import release

        sources = self.course.source_notebooks(a)
        missing = any(not (self.course.release / a / p.name).is_file() for p in sources)
        if missing or not self._in_gradebook(a):
            leaks = release(self.course, a, selfcheck=False)   # grading needs no self-check data
            if leaks:
                raise CourseError(f"{a}: the student copy leaks ({leaks[0]}); fix the source, release again")

    def _in_gradebook(self, a: str) -> bool:
        from autograder.nbgrader_api import gradebook

        try:
            with gradebook(self.course) as gb:
                gb.find_assignment(a)
            return True
        except Exception:
            return False

    def _run_submission(self, plan, ref, student: str) -> dict:
        """In a worker thread: parse and run every notebook of one submission (no judging)."""
        from autograder.grading import run_student, student_job
        from autograder.notebooks import NotebookError, read_notebook
        from autograder.safe_open import check_submission
        from autograder.submissions import timestamp_text, version

        folder = self.course.submitted / student / plan.name
        # the version graded is the one read now: a collect that replaces the folder while this runs must
        # leave a verdict that is stale (so the next grade takes the new submission), never a fresh one
        out = {"notebooks": {}, "ungraded": None, "duration": 0.0, "timestamp": timestamp_text(folder),
               "stamp": version(folder, [nb.stem for nb in plan.notebooks])}
        refused = check_submission(self.course.submitted, student, plan.name,
                                   [f"{nb.stem}.ipynb" for nb in plan.notebooks] + ["timestamp.txt"])
        if refused:
            out["ungraded"] = refused
            return out
        for nb in plan.notebooks:
            path = folder / f"{nb.stem}.ipynb"
            if not os.path.lexists(path):
                out["notebooks"][nb.stem] = None
                continue
            try:
                submitted = read_notebook(path, follow_symlinks=False)
            except NotebookError as exc:
                out["ungraded"] = f"not a valid notebook: {exc}"
                return out
            job = student_job(nb, ref[nb.stem], submitted)
            run = self.sandboxes.run_student if self.sandboxes is not None else run_student
            result = run(job, limits=self.limits, protect=self.protect)
            out["duration"] += result.duration
            if result.ungraded:
                out["ungraded"] = result.ungraded
                return out
            out["notebooks"][nb.stem] = (job, result)
        if all(v is None for v in out["notebooks"].values()):
            expected = " or ".join(f"{nb.stem}.ipynb" for nb in plan.notebooks)
            found = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(".ipynb"))
            out["ungraded"] = f"no notebook of the assignment was submitted (expected {expected}" + (
                f"; found {', '.join(found[:3])}{', ...' if len(found) > 3 else ''}: rename it and submit "
                "again)" if found else ")")
        return out

    def _record(self, plan, ref, student: str, outcome: dict) -> str:
        """In the main thread: judge, write the verdict (all stores) and the autograded notebook.

        If writing a verdict fails (an odd notebook the autograded copy cannot hold, a value the
        gradebook refuses), the submission is recorded as ungraded with the reason; only a gradebook
        that cannot record even that stops the batch."""
        try:
            return self._record_outcome(plan, ref, student, outcome)
        except Exception as exc:
            if outcome["ungraded"]:
                raise
            why = f"grader error while recording: {type(exc).__name__}: {' '.join(str(exc).split())}"
            fallback = {"notebooks": {}, "duration": outcome["duration"], "ungraded": why[:300]}
            return self._record_outcome(plan, ref, student, fallback)

    def _record_outcome(self, plan, ref, student: str, outcome: dict) -> str:
        from autograder.autograded_copy import add_verdicts
        from autograder.grading import judge_notebook
        from autograder.nbgradebook import record_nbgrader
        from autograder.notebooks import write_notebook
        from autograder.results import ResultRow, SubmissionRow
        from autograder.submissions import timestamp_text, version

        a = plan.name
        folder = self.course.submitted / student / a
        if "stamp" in outcome:      # read before the run (_run_submission)
            timestamp, stamp = outcome["timestamp"], outcome["stamp"]
        else:                       # a run that failed before it began
            timestamp, stamp = timestamp_text(folder), version(folder, [nb.stem for nb in plan.notebooks])
        now = datetime.now(UTC).isoformat(timespec="seconds")
        verdicts = {}
        budget = self.judges.budget()   # each answer judged in a limited worker process
        if not outcome["ungraded"]:
            try:
                for nb in plan.notebooks:
                    pair = outcome["notebooks"].get(nb.stem)
                    if pair is not None:
                        verdicts[nb.stem] = judge_notebook(pair[0], ref[nb.stem], pair[1], judge=budget.judge)
            except Exception as exc:  # never let one submission stop the batch
                outcome["ungraded"] = f"grader error while judging: {type(exc).__name__}: {exc}"[:300]
        if outcome["ungraded"]:
            outcome["ungraded"] = reason(outcome["ungraded"])  # sandbox text: one clean sentence
            record_nbgrader(self.course, a, student, None, timestamp)
            self.store.record(SubmissionRow(a, student, "ungraded", outcome["ungraded"], None,
                                            plan.max_points, now, outcome["duration"], stamp), [])
            self.summary.append((a, student, "ungraded", outcome["ungraded"]))
            return f"{a}/{student}: ungraded: {outcome['ungraded']}"
        rows, auto = [], {}
        for nb in plan.notebooks:
            pair = outcome["notebooks"].get(nb.stem)
            if pair is None:
                for ex in nb.exercises:
                    auto[ex.grade_id] = 0.0
                    rows.append(ResultRow(a, student, nb.stem, ex.grade_id, "auto", 0.0, ex.points, "missing",
                                          f"{nb.stem}.ipynb was not submitted.", {}))
                continue
            job, result = pair
            for ex in nb.exercises:
                v = verdicts[nb.stem][ex.grade_id]
                score = round(v.credit * ex.points, 6)
                auto[ex.grade_id] = score
                detail = dict(v.detail, cell=job.assembled.test_cells.get(ex.grade_id),
                              run=[round(result.started, 3), round(result.ended, 3)])
                if result.tampered:
                    detail["tampered_lines"] = result.tampered
                rows.append(ResultRow(a, student, nb.stem, ex.grade_id, "auto", score, ex.points, v.mistake,
                                      v.message, detail))
            out_dir = self.course.autograded / student / a
            add_verdicts(job.assembled, {r.grade_id: (r.score, r.max_score, r.mistake, r.message)
                                         for r in rows if r.notebook == nb.stem and r.kind == "auto"})
            write_notebook(job.assembled.notebook, out_dir / f"{nb.stem}.ipynb")
            if timestamp is not None:  # the text of the version graded (not the file as it is now)
                (out_dir / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")
        manual = record_nbgrader(self.course, a, student, auto, timestamp)
        for nb in plan.notebooks:
            for m in nb.manual:
                rows.append(ResultRow(a, student, nb.stem, m.grade_id, "manual", manual.get(m.grade_id),
                                      m.points, None, None, {}))
        score = sum(r.score for r in rows if r.score is not None)
        self.store.record(SubmissionRow(a, student, "graded", None, score, plan.max_points, now,
                                        outcome["duration"], stamp), rows)
        self.summary.append((a, student, "graded", None))
        unjudged = "".join(f"; {gid} ungraded: {clean(why)}" for gid, why in budget.ungraded)
        to_grade = sum(r.max_score for r in rows if r.kind == "manual" and r.score is None)
        if to_grade:
            self.hand_pending[(a, student)] = to_grade
            return (f"{a}/{student}: {score:g}/{plan.max_points:g}, {hand_points(to_grade)} awaiting hand "
                    f"grading{unjudged}")
        return f"{a}/{student}: {score:g}/{plan.max_points:g}{unjudged}"

    def _print_summary(self) -> None:
        graded = [x for x in self.summary if x[2] == "graded"]
        ungraded = [x for x in self.summary if x[2] == "ungraded"]
        print(f"graded {len(graded)}, ungraded {len(ungraded)}", file=self.out)
        for a, s, _, why in ungraded:
            print(f"  ungraded {a}/{s}: {reason(why)}", file=self.out)
        if self.hand_pending:
            points = sum(self.hand_pending.values())
            print(f"awaiting hand grading: {hand_points(points)} in {len(self.hand_pending)} graded "
                  "submission(s); their scores are incomplete until written answers are graded in "
                  "nbgrader's formgrader", file=self.out)


@contextmanager
def _quiet_gradebook():
    """Silence nbgrader's SQLAlchemy 2 warnings ("... not in session ...") around gradebook calls."""
    with warnings.catch_warnings():
        try:
            from sqlalchemy.exc import SAWarning
        except ImportError:
            SAWarning = Warning  # noqa: N806
        warnings.filterwarnings("ignore", message=r".*not in session.*", category=SAWarning)
        yield


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
