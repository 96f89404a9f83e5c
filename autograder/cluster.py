"""Student runs on a Dask distributed cluster: `grade --cluster tcp://host:8786` (or `local:N`).

The unit that leaves the grader's machine is one sandbox run of one submitted notebook. The grader
(coordinator) reads and assembles the submission, then sends a task of plain data: the runner steps
(the student's cells with the released locked cells put back, the names to extract and the probe
points drawn for this grading), the released copy's extra files (bytes), the limits, the paths to
protect and the coordinator's version fingerprint. A worker runs it with the same sandbox as local
grading (`autograder.sandbox.run`, in the worker process) and returns the RunResult as a dict. The
coordinator rebuilds the RunResult, judges it in its own process exactly as for a local run, and alone
writes the gradebook. Workers never receive solutions, hidden tests or reference answers: the
reference (source) notebooks run on the coordinator.

Threats and failures answered here:
- a worker with another chainrule (a different version or source of `autograder`/`chainrule_utils`)
  would judge-relevant code differently: it is refused (checked when grading starts and again by every
  task on the worker itself), with a message naming both fingerprints; tasks go to the others;
- a worker that dies while running a task: the scheduler gives the task to another worker (at most
  `distributed.scheduler.allowed-failures` times, then KilledWorker: that submission is recorded
  ungraded with the reason, never as a zero); an exception in a task is retried RETRIES times;
- the scheduler going away: ClusterLost stops the batch (verdicts already written stay; a rerun grades
  the rest, as after Ctrl-C), instead of recording infrastructure failures as verdicts.

`DaskSandboxes.run_student(job, limits=, protect=)` has the signature of `grading.run_student`, so
`grade` only picks one of the two.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from autograder import sandbox
from autograder.course import CourseError

RETRIES = 2              # an exception inside a task (an OS failure on the worker): retried this often
REFRESH_EVERY = 5.0      # seconds between checks of the scheduler's workers
MAX_REFUSALS = 20        # refusals of one task by workers that changed since they were checked
MAX_FILES_BYTES = 64 * 2**20


class ClusterLost(Exception):
    """The cluster can no longer run tasks (scheduler gone, all workers refused): stop the batch."""


# -- what a worker must agree on ---------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """'chainrule <version> (<hash of the .py sources of autograder and chainrule_utils>)'."""
    import autograder
    import chainrule_utils

    digest = source_hash([Path(autograder.__file__).parent, Path(chainrule_utils.__file__).parent])
    try:
        from importlib.metadata import version

        ver = version("chainrule")
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        ver = "unknown"
    return f"chainrule {ver} ({digest[:12]})"


def source_hash(packages: list[Path]) -> str:
    """sha256 over the relative paths and bytes of every .py file of the package folders."""
    digest = hashlib.sha256()
    for root in packages:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _refusal(worker: str, theirs: str, ours: str) -> str:
    return (f"refusing Dask worker {worker}: it runs {theirs}, this grader runs {ours}; install the same "
            "chainrule on every worker (same commit, `pip install -e .` in its environment) and restart it")


# -- the task, as plain data both ways ---------------------------------------------------------------

def file_bundle(paths) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of the released copy's extra files (folders walked), for a task."""
    out, total = [], 0
    for p in map(Path, paths):
        items = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
        for q in items:
            data = q.read_bytes()
            total += len(data)
            out.append((str(q.relative_to(p.parent)), data))
    if total > MAX_FILES_BYTES:
        raise CourseError(f"the released extra files are {total >> 20} MB; a cluster task carries at most "
                          f"{MAX_FILES_BYTES >> 20} MB (keep data files small)")
    return out


def result_to_dict(res: sandbox.RunResult) -> dict:
    d = dataclasses.asdict(res)
    d["answers"] = [[gid, variant, answer] for (gid, variant), answer in res.answers.items()]
    d["cell_errors"] = [[cell, text] for cell, text in res.cell_errors.items()]
    return d


def result_from_dict(d: dict) -> sandbox.RunResult:
    d = dict(d)
    d["answers"] = {(gid, variant): answer for gid, variant, answer in d["answers"]}
    d["cell_errors"] = {cell: text for cell, text in d["cell_errors"]}
    fields = {f.name for f in dataclasses.fields(sandbox.RunResult)}
    return sandbox.RunResult(**{k: v for k, v in d.items() if k in fields})


def run_task(task: dict) -> dict:
    """On a worker: run one notebook's steps in a sandbox; {"result": RunResult dict, "worker": address}
    or {"refused": why} when this worker's chainrule differs from the coordinator's."""
    worker = _worker_address()
    mine = fingerprint()
    if task["fingerprint"] != mine:
        return {"refused": _refusal(worker, mine, task["fingerprint"]), "worker": worker}
    with tempfile.TemporaryDirectory(prefix="chainrule-task-") as tmp:
        tops = []
        for rel, data in task["files"]:
            target = Path(tmp, rel).resolve()
            if not target.is_relative_to(Path(tmp).resolve()) or target == Path(tmp).resolve():
                raise ValueError(f"a task file outside its folder: {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            top = Path(tmp, Path(rel).parts[0])
            if top not in tops:
                tops.append(top)
        res = sandbox.run(task["steps"], limits=sandbox.Limits(**task["limits"]), files=tops,
                          protect=task["protect"])
    return {"result": result_to_dict(res), "worker": worker}


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:  # called outside a worker (tests, a local fallback)
        return f"pid {os.getpid()}"


# -- the coordinator's side --------------------------------------------------------------------------

class DaskSandboxes:
    """Sandboxed runs on a Dask cluster, with the interface of `grading.run_student`.

    `address`: "tcp://host:8786" (a running scheduler) or "local:N" (a LocalCluster of N
    single-threaded worker processes on this machine, closed with this object); `timeout`: seconds
    to wait for the scheduler."""

    def __init__(self, address: str, out=None, timeout: float = 30.0):
        try:
            import distributed
        except ImportError:
            raise CourseError("--cluster needs dask and distributed: pip install 'chainrule[cluster]' "
                              "(`make setup` installs them)") from None
        self.out = out or sys.stderr
        self.address = address
        self.cluster = None
        self.ours = fingerprint()
        self._lock = threading.RLock()
        self._futures: set = set()
        self._accepted: set[str] = set()
        self._refused: dict[str, str] = {}
        self._checked_at = 0.0
        self._warned: set[str] = set()
        self._files: dict[tuple, list] = {}   # release files -> their bundle (read once per notebook)
        self._closed = False
        if address.startswith("local:"):
            try:
                n = int(address.split(":", 1)[1])
            except ValueError:
                n = 0
            if n < 1:
                raise CourseError(f"--cluster {address}: local:N needs a number of workers N >= 1")
            import logging

            self.cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                    dashboard_address=None, silence_logs=logging.ERROR)
            target = self.cluster
        elif "://" in address or ":" in address:
            target = address
        else:
            raise CourseError(f"--cluster {address!r}: give a scheduler address (tcp://host:8786) or local:N")
        try:
            self.client = distributed.Client(target, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise CourseError(f"--cluster {address}: cannot reach a Dask scheduler there ({exc})") from None
        self._refresh(force=True)
        if not self._accepted:
            why = "; ".join(self._refused.values()) or "the scheduler has no workers (start `dask worker ADDRESS`)"
            self.close()
            raise CourseError(f"--cluster {address}: no worker can grade: {why}")
        threads = self.client.nthreads()
        self.threads = sum(threads.get(w, 1) for w in self._accepted)
        print(f"grading on Dask cluster {self.client.scheduler.address}: {len(self._accepted)} worker(s), "
              f"{self.threads} thread(s); {self.ours}", file=self.out)

    @property
    def slots(self) -> int:
        """How many runs the coordinator keeps in flight: two per worker thread (one running, one
        queued on the cluster, so that a worker never waits for the coordinator)."""
        return max(2, 2 * self.threads)

    # -- workers -----------------------------------------------------------------------------------
    def _refresh(self, force: bool = False) -> None:
        """Check workers that joined since the last look (at most every REFRESH_EVERY seconds)."""
        now = time.time()
        if not force and now - self._checked_at < REFRESH_EVERY:
            return
        self._checked_at = now
        try:
            current = set(self.client.nthreads())
        except Exception as exc:
            raise ClusterLost(f"lost the Dask scheduler at {self.address} ({type(exc).__name__}: {exc})") from None
        self._accepted &= current       # gone workers: no task may be restricted to them
        for w in set(self._refused) - current:
            del self._refused[w]
        new = sorted(current - self._accepted - set(self._refused))
        if not new:
            return
        answers = self.client.run(fingerprint, workers=new, on_error="return")
        for w in new:
            theirs = answers.get(w)
            if isinstance(theirs, str) and theirs == self.ours:
                self._accepted.add(w)
            else:
                shown = theirs if isinstance(theirs, str) else f"no usable chainrule ({type(theirs).__name__}: {theirs})"
                self._refuse(w, _refusal(w, shown, self.ours))

    def _refuse(self, worker: str, why: str) -> None:
        with self._lock:
            self._accepted.discard(worker)
            if worker in self._refused:
                return
            self._refused[worker] = why
        print(f"warning: {why}", file=self.out)

    # -- one run -------------------------------------------------------------------------------------
    def run_student(self, job, *, limits: sandbox.Limits, protect) -> sandbox.RunResult:
        """Run `job` (a grading.StudentJob) on the cluster; the RunResult as a local run gives it."""
        files = tuple(job.notebook.release_files)
        if files not in self._files:
            self._files[files] = file_bundle(files)
        task = {"steps": job.steps, "files": self._files[files],
                "limits": dataclasses.asdict(limits), "protect": [str(p) for p in protect],
                "fingerprint": self.ours}
        refusals = 0
        while True:
            if self._closed:
                raise ClusterLost("grading was stopped")
            with self._lock:
                self._refresh()
                restrict = sorted(self._accepted) if self._refused else None
            if restrict == []:
                raise ClusterLost("no worker left that runs this grader's chainrule")
            fut = self.client.submit(run_task, task, key=f"grade-{job.notebook.stem}-{uuid.uuid4().hex}",
                                     retries=RETRIES, pure=False, workers=restrict)
            with self._lock:
                self._futures.add(fut)
            try:
                reply = self._wait(fut, restrict)
            finally:
                with self._lock:
                    self._futures.discard(fut)
            if reply is None:              # the only workers it could go to left: submit it again
                continue
            if "refused" in reply:         # a worker that changed since it was checked
                self._refuse(reply["worker"], reply["refused"])
                refusals += 1
                if refusals > MAX_REFUSALS:
                    raise ClusterLost("the workers keep refusing tasks (another chainrule)")
                continue
            if "killed" in reply:
                now = time.time()
                return sandbox.RunResult(ungraded=f"the Dask workers running this notebook died repeatedly "
                                                  f"({reply['killed']})", started=now, ended=now)
            res = result_from_dict(reply["result"])
            if res.warning and res.warning not in self._warned:
                self._warned.add(res.warning)
                print(f"worker {reply['worker']}: {res.warning}", file=self.out)
            return res

    def _wait(self, fut, restrict) -> dict | None:
        """The task's reply; {"killed": why} after KilledWorker; None when it was restricted to
        workers that have all gone (cancelled: the caller submits it again).

        Waits on a done-callback, not on `fut.result(timeout=)`: a result() timeout that races the
        task's completion can surface as an UnboundLocalError from inside distributed."""
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        done = threading.Event()
        fut.add_done_callback(lambda _: done.set())   # also called when cancelled or lost
        while not done.wait(REFRESH_EVERY):
            if restrict is None:
                continue
            with self._lock:
                self._refresh()
                gone = not set(restrict) & self._accepted
            if gone:
                fut.cancel()
                return None
        try:
            return fut.result()
        except KilledWorker as exc:
            return {"killed": _one_line(exc)}
        except Exception as exc:
            if fut.status == "error" and not isinstance(exc, FutureCancelledError):
                raise              # the task itself failed 1 + RETRIES times: this submission only
            raise ClusterLost(f"lost the Dask cluster at {self.address} ({_one_line(exc)})") from None

    # -- stopping ------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel every run still queued or running (Ctrl-C): waiting threads get ClusterLost."""
        self._closed = True
        with self._lock:
            futures = list(self._futures)
        if futures:
            try:
                self.client.cancel(futures, force=True)
            except Exception:  # the scheduler is already gone
                pass

    def close(self) -> None:
        self.cancel()
        try:
            self.client.close(timeout=10)
        except Exception:
            pass
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=20)
            except Exception:
                pass
            self.cluster = None


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
