"""Judging outside the grader's main process: a small pool of limited worker processes.

Threat: a student's answer is data, but evaluating it (parsing an expression, comparing it, matching it
against the catalogue, checking a chain of steps) can cost unbounded CPU or memory inside sympy or
Python's big-integer code, often in one long C call that no timer interrupts; done in the grader's
own process it could stop the whole grade run (issue 11: `log(Float(2.1, 1000000000))`). Here every
`autograder.judge.judge(ex, ref, answer)` of a grade run runs in a worker process:

- workers are forked from a forkserver that preloaded sympy, the judge and every kind (milliseconds to
  replace one), and reused across exercises and submissions;
- RLIMIT_AS (`JudgeLimits.memory_mb`): a huge value is a MemoryError in the worker;
- RLIMIT_CPU, set before each request to the CPU seconds that request may use: the kernel ends a
  worker that overruns, even inside one C call (SIGXCPU); the grader measures nothing itself;
- a wall-clock backstop (`WALL_FACTOR` x the CPU limit + `WALL_GRACE` s; a busy machine slows a worker
  but never costs it CPU time, so this only catches a worker that is stuck without computing);
- a judging budget per submission (`Budget`): CPU seconds for all of a submission's exercises, at most
  `exercise_cpu_s` for one. A worker that hits a limit or dies is replaced; the exercise it was judging
  is recorded as "ungraded" (score 0, mistake "ungraded", the reason in its message and detail), so a
  pathological answer costs that exercise of that student, never the run or another student.

Requests go to the worker pickled (the grader's own objects); verdicts come back as JSON only, so a
worker subverted by hostile data could still not make the grader run anything.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue
import resource
import signal
import threading
from dataclasses import dataclass

from autograder.kinds.base import Verdict

WALL_FACTOR = 4.0
WALL_GRACE = 30.0
PRELOAD = ["sympy", "numpy", "autograder.judge", "autograder.kinds.chain_steps", "autograder.kinds.expression",
           "autograder.kinds.function", "autograder.kinds.value", "chainrule_utils.symbolic"]


@dataclass(frozen=True)
class JudgeLimits:
    budget_cpu_s: float = 30.0     # CPU seconds to judge one submission (all its exercises)
    exercise_cpu_s: float = 15.0   # CPU seconds to judge one exercise (within the budget)
    memory_mb: int = 2048          # address space of a worker


def ungraded(reason: str) -> Verdict:
    """The verdict of an exercise that could not be judged within the limits (not silently 0)."""
    return Verdict(0.0, "ungraded", f"This exercise could not be judged ({reason}); it scores 0 until your "
                                    "instructor looks at it.", {"ungraded": reason})


class Budget:
    """The judging budget of one submission; `judge(ex, ref, answer)` has the signature of
    autograder.judge.judge and spends from it."""

    def __init__(self, pool: JudgePool, limits: JudgeLimits):
        self.pool = pool
        self.limits = limits
        self.left = float(limits.budget_cpu_s)
        self.ungraded: list[tuple[str, str]] = []   # (grade_id, reason)

    def judge(self, ex, ref, answer) -> Verdict:
        if self.left < 0.5:
            v = ungraded(f"the judging budget of {self.limits.budget_cpu_s:g} s of CPU time for this "
                         "submission is used up")
        else:
            v, used = self.pool.judge(ex, ref, answer, min(self.limits.exercise_cpu_s, self.left))
            self.left -= used
        if v.mistake == "ungraded":
            self.ungraded.append((ex.grade_id, v.detail.get("ungraded", "")))
        return v


class JudgePool:
    """`size` worker processes; `judge` may be called from several threads at once (one request per
    worker at a time). `close()` ends the workers."""

    def __init__(self, size: int = 1, limits: JudgeLimits = JudgeLimits()):
        self.size = max(1, int(size))
        self.limits = limits
        self._idle: queue.Queue = queue.Queue()
        self._lock = threading.Lock()          # guards _live
        self._start_lock = threading.Lock()    # held while the first workers start
        self._live: list[_Worker] = []
        self._ctx = None
        self._closed = False

    def budget(self) -> Budget:
        return Budget(self, self.limits)

    def start(self) -> None:
        """Start the workers in the background (the forkserver imports sympy once: ~2 s that overlap
        with the reference runs); `judge` waits for them."""
        threading.Thread(target=self._ensure, kwargs={"quiet": True}, daemon=True).start()

    def _ensure(self, quiet: bool = False) -> None:
        with self._start_lock:
            if self._ctx is not None:
                return
            try:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(PRELOAD)
                self._ctx = ctx
                for _ in range(self.size):
                    self._idle.put(self._spawn())
            except Exception:
                self._ctx = None
                if not quiet:
                    raise

    def judge(self, ex, ref, answer, cpu_s: float) -> tuple[Verdict, float]:
        """(the verdict, CPU seconds used) of judge(ex, ref, answer) in a worker, with at most `cpu_s`
        seconds of CPU time; a limit or a dead worker gives an "ungraded" verdict."""
        self._ensure()
        worker = self._idle.get()
        try:
            outcome, used = worker.request((ex, ref, answer), cpu_s, self.limits.memory_mb)
        except BaseException:
            self._replace(worker)
            raise
        if isinstance(outcome, Verdict):
            self._idle.put(worker)
            return outcome, used
        self._replace(worker)
        return ungraded(outcome), used

    def _replace(self, worker: _Worker) -> None:
        """End `worker` and put a fresh one in its place."""
        worker.kill()
        with self._lock:
            self._live = [w for w in self._live if w is not worker]
        if not self._closed:
            try:
                self._idle.put(self._spawn())
            except BaseException:
                # no worker in its place: the next judge() starts the pool again, never waiting on an
                # empty queue (that would stop the whole run)
                with self._start_lock:
                    self._ctx = None
                raise

    def _spawn(self) -> _Worker:
        w = _Worker(self._ctx, self.limits.memory_mb)
        with self._lock:
            self._live.append(w)
        return w

    def close(self) -> None:
        self._closed = True
        with self._start_lock, self._lock:
            workers, self._live = self._live, []
        for w in workers:
            w.close()


class _Worker:
    """One worker process and its pipe (grader side)."""

    def __init__(self, ctx, memory_mb: int):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child, memory_mb), daemon=True, name="chainrule-judge")
        self.proc.start()
        child.close()

    def request(self, job, cpu_s: float, memory_mb: int):
        """(Verdict or a reason text, CPU seconds used)."""
        cpu_s = max(float(cpu_s), 0.5)
        try:
            self.conn.send((job, cpu_s))
            if not self.conn.poll(cpu_s * WALL_FACTOR + WALL_GRACE):
                return f"judging took more than {cpu_s * WALL_FACTOR + WALL_GRACE:g} s of wall-clock time", cpu_s
            data = self.conn.recv_bytes(1 << 22)
        except (EOFError, OSError):
            return self._death(cpu_s, memory_mb), cpu_s
        try:
            reply = json.loads(data)
            used = float(reply["cpu"])
            used = used if math.isfinite(used) and used >= 0 else cpu_s
            if isinstance(reply.get("failed"), str):
                return reply["failed"][:200], used
            return _verdict(reply["verdict"]), used
        except (ValueError, TypeError, KeyError):
            return "the judging worker sent a malformed verdict", cpu_s

    def _death(self, cpu_s: float, memory_mb: int) -> str:
        self.proc.join(5)
        code = self.proc.exitcode
        if code == -signal.SIGXCPU:
            return f"judging took more than {cpu_s:.3g} s of CPU time"
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
            return f"the judging worker died ({name}; memory limit {memory_mb} MB?)"
        return f"the judging worker exited (code {code})"

    def kill(self) -> None:
        try:
            self.proc.kill()
        except (OSError, ValueError, AttributeError):
            pass
        self.proc.join(5)
        self.conn.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.kill()


def _verdict(d) -> Verdict:
    """A Verdict from the worker's JSON, checked field by field (ValueError when malformed)."""
    if not isinstance(d, dict):
        raise ValueError("not a verdict")
    credit, mistake, message, detail = d.get("credit"), d.get("mistake"), d.get("message"), d.get("detail")
    if isinstance(credit, bool) or not isinstance(credit, (int, float)) or not 0.0 <= credit <= 1.0:
        raise ValueError("bad credit")
    if not (mistake is None or isinstance(mistake, str)) or not (message is None or isinstance(message, str)):
        raise ValueError("bad text")
    if not isinstance(detail, dict):
        raise ValueError("bad detail")
    return Verdict(float(credit), mistake, message, detail)


# ---------------------------------------------------------------------------------------------
# the worker


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _plain(obj):
    """JSON for what a verdict's detail may hold besides plain types (numpy scalars, sympy objects)."""
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:  # noqa: BLE001
            pass
    return str(obj)[:500]


def _serve(conn, memory_mb: int) -> None:
    """Worker loop: one (job, cpu_s) request at a time, each under RLIMIT_CPU; ends at EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the grader's to handle
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)    # over the CPU limit: the kernel ends the worker
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (ValueError, OSError):
        pass
    from autograder.judge import judge

    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        try:
            (ex, ref, answer), cpu_s = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        start = _cpu()
        cap = int(start + cpu_s) + 1
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
        except (ValueError, OSError):
            pass
        try:
            v = judge(ex, ref, answer)
            reply = {"verdict": {"credit": v.credit, "mistake": v.mistake, "message": v.message,
                                 "detail": v.detail}}
        except BaseException as exc:  # noqa: BLE001  (judge() raises only what it cannot handle)
            reply = {"failed": f"judging failed ({type(exc).__name__})"}
        reply["cpu"] = _cpu() - start
        try:
            conn.send_bytes(json.dumps(reply, default=_plain, allow_nan=False).encode())
        except ValueError:  # a NaN or infinity in a detail
            reply["verdict"]["detail"] = {}
            conn.send_bytes(json.dumps(reply).encode())
