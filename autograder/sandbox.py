"""Run a notebook job in a sandboxed subprocess (autograder.runner) and collect its messages.

The child gets: a fresh private temp dir (also HOME, TMPDIR, IPYTHONDIR; a tmpfs of Limits.disk_mb
in its own mount namespace), a scrubbed environment, MPLBACKEND=Agg, its own session (the whole process
group is killed at the end), its own cgroup when the grader may create one (processes, memory and CPU
of the whole sandbox: at most Limits.cpus cores at the weight of one process, however many it starts;
whatever is left in it is killed at the end), rlimits (memory, CPU, file size,
processes), a per-cell timeout (SIGALRM in the runner), new network, IPC and (where possible) user
namespaces (no UDP or any other traffic, no System V IPC or keyring shared with the host or the next
sandbox; a warning line when they cannot be created), an unprivileged uid/gid of its own when the
grader is root (autograder.identity: files only root may read stay unreadable), and Landlock:
read-only access to the Python installation and system folders and to its own /proc/<pid> only,
read-write only to its temp dir, no TCP, no signals to the outside. The notebook's time limit is
enforced here (kill -9 of the group): CPU time of the whole sandbox's cgroup, so a busy machine or a
hostile neighbour costs a student nothing, with a wall-clock backstop of WALL_FACTOR times it (without
a cgroup: wall clock). Every line from the child is checked (HMAC with a per-run key, sequence
numbers, and the order of messages the runner sends: see MessageOrder) and kept as data.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import messages
from autograder.textclean import clean

MAX_CHANNEL_BYTES = 256 * 2**20
WALL_FACTOR = 3.0    # wall-clock backstop: this many times the CPU time limit
POLL = 0.25          # seconds between checks of a running sandbox's cgroup
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()
_WARNED: set[str] = set()
_ZYGOTE = None
_ZYGOTE_LOCK = threading.Lock()


def use_zygote() -> bool:
    """Fork sandboxes from a pre-loaded zygote (default on Linux); CHAINRULE_SANDBOX=subprocess to
    start a fresh interpreter per run instead."""
    return os.environ.get("CHAINRULE_SANDBOX", "zygote") != "subprocess" and hasattr(socket, "send_fds") \
        and hasattr(os, "fork")


def _zygote():
    global _ZYGOTE
    from autograder.zygote import Zygote

    with _ZYGOTE_LOCK:
        if _ZYGOTE is None or _ZYGOTE.dead:
            home = tempfile.mkdtemp(prefix="chainrule-zygote-")
            z = Zygote()
            z.start(scrubbed_env(home))
            atexit.register(z.close)
            atexit.register(shutil.rmtree, home, True)
            _ZYGOTE = z
        return _ZYGOTE


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0       # CPU seconds of the whole sandbox (wall clock without a cgroup)
    cell_timeout: float = 30.0   # per cell (SIGALRM in the runner)
    memory_mb: int = 2048        # address space
    fsize_mb: int = 64           # largest file the notebook may write
    nproc: int = 0               # RLIMIT_NPROC (0: not set; it counts every process of the user)
    disk_mb: int = 256           # all files in its folder (a tmpfs of this size; 0: not limited)
    procs: int = 128             # processes and threads of the whole sandbox (its own cgroup; 0: not limited)
    cpus: float = 1.0            # cores the whole sandbox may use at once (its cgroup; 0: not limited)

    def job_limits(self) -> dict:
        return {"memory_mb": self.memory_mb, "cpu_s": int(self.timeout) + 5, "fsize_mb": self.fsize_mb,
                "nproc": self.nproc, "disk_mb": self.disk_mb, "procs": self.procs, "cpus": self.cpus}


@dataclass
class RunResult:
    """What a sandbox run produced; `ungraded` is set when the run cannot be judged."""

    answers: dict = field(default_factory=dict)       # (grade_id, variant) -> answer dict
    cell_errors: dict = field(default_factory=dict)   # cell -> error text
    last_cell: int | None = None
    stopped_at: int | None = None                     # the notebook stopped itself (SystemExit / exit)
    ungraded: str | None = None
    warning: str | None = None
    tampered: int = 0                                 # lines that failed authentication
    started: float = 0.0
    ended: float = 0.0
    ready_at: float | None = None
    pid: int | None = None                            # the sandbox's process (its cgroup is named after it)

    @property
    def duration(self) -> float:
        return self.ended - self.started


def kill_all() -> None:
    """Kill every live sandbox process group (on Ctrl-C / SIGTERM)."""
    with _LIVE_LOCK:
        pids = list(_LIVE)
    for pid in pids:
        _killpg(pid)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def protected_default() -> list[Path]:
    return []


def fs_policy(workdir: str, protect: list) -> dict:
    """Landlock paths: read-only Python/system folders that contain none of `protect`; rw workdir.

    No /proc here: landlock.restrict adds the sandbox's own /proc/<pid> and a few global files only."""
    import autograder
    import chainrule_utils

    protect = [Path(p).resolve() for p in protect]
    prefixes = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
    # sys.path entries of an isolated interpreter (-I): the installation and site directories, never
    # the grader's working directory
    paths = [p for p in sys.path if p and os.path.isabs(p) and (
        any(Path(p).resolve().is_relative_to(pre) for pre in prefixes)
        or "site-packages" in p or "dist-packages" in p)]
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *paths,
                  os.path.dirname(chainrule_utils.__file__), os.path.dirname(autograder.__file__),
                  "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys", "/dev",
                  str(mpl_cache_dir())]
    ro: list[str] = []
    for c in candidates:
        if not c or not os.path.isabs(c) or not os.path.exists(c):
            continue
        rc = Path(c).resolve()
        if any(p == rc or p.is_relative_to(rc) for p in protect):
            continue
        if str(rc) not in ro:
            ro.append(str(rc))
    return {"read_only": ro, "read_write": [workdir, "/dev/null"]}


def mpl_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "chainrule" / "mpl"
    d.mkdir(parents=True, exist_ok=True)
    return d


def scrubbed_env(workdir: str) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "IPYTHONDIR": os.path.join(workdir, ".ipython"),
        "MPLCONFIGDIR": str(mpl_cache_dir()),
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }


def run(steps: list[dict], *, limits: Limits = Limits(), files: list[Path] = (), protect: list = (),
        trap: bool = True, landlock: bool = True) -> RunResult:
    """Run `steps` (see autograder.runner) in a fresh sandbox; `files` are copied into its folder; `trap`:
    install the trap on differentiation routines for hand derivations (off for the trusted source)."""
    res = RunResult(started=time.time())
    workdir = tempfile.mkdtemp(prefix="chainrule-sbx-")
    proc = None
    try:
        for f in files:
            f = Path(f)
            if f.is_file():
                shutil.copy2(f, os.path.join(workdir, f.name))
            elif f.is_dir():
                shutil.copytree(f, os.path.join(workdir, f.name))
        key = os.urandom(32)
        policy = fs_policy(workdir, list(protect))
        job = {"steps": steps, "key": key.hex(), "workdir": workdir, "cell_timeout": limits.cell_timeout,
               "limits": limits.job_limits(), "trap": trap, "landlock": policy if landlock else None,
               "reachable": policy["read_only"] + policy["read_write"]}
        r, w = os.pipe()
        stderr = tempfile.TemporaryFile()
        try:
            if use_zygote():
                proc = _zygote().spawn(job, scrubbed_env(workdir), w)
            else:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-m", "autograder.runner", str(w)],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, cwd=workdir,
                    env=scrubbed_env(workdir), pass_fds=(w,), start_new_session=True, close_fds=True,
                )
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        res.pid = proc.pid
        with _LIVE_LOCK:
            _LIVE.add(proc.pid)
        if isinstance(proc, subprocess.Popen):
            writer = threading.Thread(target=_feed, args=(proc, json.dumps(job).encode()), daemon=True)
            writer.start()
        _collect(proc, r, key, limits, res, MessageOrder(steps))
        os.close(r)
        if res.ungraded is None and proc.returncode is not None and proc.returncode != 0 \
                and res.ready_at is None:
            stderr.seek(0, os.SEEK_END)
            size = stderr.tell()
            stderr.seek(max(0, size - 1500))
            tail = stderr.read().decode("utf-8", "replace").strip().splitlines()
            res.ungraded = f"sandbox failed to start: {tail[-1] if tail else f'exit code {proc.returncode}'}"
        stderr.close()
    finally:
        if proc is not None:
            _killpg(proc.pid)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            from autograder.isolation import remove_cgroup

            remove_cgroup(proc.pid)
            with _LIVE_LOCK:
                _LIVE.discard(proc.pid)
        shutil.rmtree(workdir, ignore_errors=True)
        res.ended = time.time()
    if res.warning and res.warning not in _WARNED:
        _WARNED.add(res.warning)
        print(res.warning, file=sys.stderr)
    return res


def _feed(proc, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _collect(proc, fd: int, key: bytes, limits: Limits, res: RunResult, protocol: MessageOrder) -> None:
    """Read signed lines until EOF, the time limit or the end of the run; fill `res`. Every
    POLL seconds: the sandbox's CPU time against its limit, and what the notebook started moved below
    the notebook itself (autograder.isolation.SandboxGroup)."""
    from autograder.isolation import SandboxGroup

    group = SandboxGroup(proc.pid)
    clock = _SandboxClock(limits, res.started, group)
    reader = LineReader()
    total = 0
    seq = 0
    done = False
    killed_for_time = False
    quiet_after_exit = 0
    while True:
        group.demote_spawned()
        left = clock.left()
        if left <= 0:
            killed_for_time = True
            _killpg(proc.pid)
            break
        ready, _, _ = select.select([fd], [], [], min(left, POLL))
        if not ready:
            if proc.poll() is not None:
                if done:
                    break
                # the notebook's process has ended but something it left (a child in its own session)
                # keeps the pipe open: stop waiting for it (it would hold the run until the time limit)
                quiet_after_exit += 1
                if quiet_after_exit >= 2:
                    break
            continue
        quiet_after_exit = 0
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_CHANNEL_BYTES:
            _killpg(proc.pid)
            res.ungraded = "the notebook sent too much data"
            return
        for line in reader.feed(chunk):
            msg = _verify(line, key) if line is not None else None
            if msg is None or msg.get("seq") != seq:
                res.tampered += 1
                continue
            seq += 1
            try:
                done = _apply(msg, res, protocol) or done
            except (TypeError, ValueError, AttributeError, KeyError):
                res.tampered += 1
        if done:
            break
    if done:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return
    if killed_for_time:
        res.ungraded = clock.exceeded(_at(res.last_cell))
        _reap_killed(proc)
        return
    try:
        rc = proc.wait(timeout=max(1.0, clock.wall_deadline - time.time()))
    except subprocess.TimeoutExpired:
        _killpg(proc.pid)
        _reap_killed(proc)
        res.ungraded = clock.exceeded(_at(res.last_cell))
        return
    if res.ungraded is not None or res.stopped_at is not None:
        return
    # the kernel ended without finishing and without the notebook asking to stop (SystemExit): a
    # signal, or a process exit that skips Python's own (os._exit) end the same way, as ungraded
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else f"signal {-rc}"
        hint = ", memory limit?" if -rc in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS) else ""
        res.ungraded = f"kernel died ({name}{hint}) at {_at(res.last_cell)}"
    elif res.ready_at is not None:
        res.ungraded = f"kernel exited (code {rc}, os._exit?) at {_at(res.last_cell)}"


class _SandboxClock:
    """The notebook's time limit: `limits.timeout` seconds of CPU time of the sandbox's cgroup (`group`, an
    autograder.isolation.SandboxGroup) with a wall-clock backstop of WALL_FACTOR times it; while the
    cgroup's CPU time cannot be read (no cgroup), `limits.timeout` of wall clock."""

    def __init__(self, limits: Limits, started: float, group):
        self.limits = limits
        self.started = started
        self.group = group
        self.cpu = None          # CPU seconds used, once the cgroup could be read
        self.by = None           # what ran out: "cpu" or "wall"

    @property
    def wall_deadline(self) -> float:
        factor = WALL_FACTOR if self.cpu is not None else 1.0
        return self.started + self.limits.timeout * factor

    def left(self) -> float:
        """Seconds until the wall-clock backstop; <= 0 when a limit is reached."""
        cpu = self.group.cpu_seconds()
        if cpu is not None:
            self.cpu = cpu
            if cpu >= self.limits.timeout:
                self.by = "cpu"
                return 0.0
        left = self.wall_deadline - time.time()
        if left <= 0:
            self.by = "wall"
        return left

    def exceeded(self, where: str) -> str:
        if self.by == "wall" and self.cpu is not None:
            return (f"time limit {self.limits.timeout:g} s exceeded at {where} (wall-clock backstop "
                    f"{self.limits.timeout * WALL_FACTOR:g} s; {self.cpu:.1f} s of CPU time used)")
        return f"time limit {self.limits.timeout:g} s exceeded at {where}"


MAX_LINE_BYTES = 64 * 2**20


class LineReader:
    """Splits the results stream into lines in linear time. A line longer than `max_line` bytes is
    dropped as it arrives (never held whole) and reported once as None: the runner never sends one,
    and a notebook writing hundreds of MB without a newline must not cost the grader quadratic time."""

    def __init__(self, max_line: int = MAX_LINE_BYTES):
        self.max_line = max_line
        self._buf = bytearray()
        self._skipping = False

    def feed(self, chunk: bytes) -> list:
        out = []
        start = 0
        while True:
            i = chunk.find(b"\n", start)
            if i < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                self._buf += chunk[start:i]
                out.append(bytes(self._buf) if len(self._buf) <= self.max_line else None)
            self._buf.clear()
            start = i + 1
        if not self._skipping:
            self._buf += chunk[start:]
            if len(self._buf) > self.max_line:
                out.append(None)
                self._buf.clear()
                self._skipping = True
        return out


def _reap_killed(proc) -> None:
    """Wait for a killed sandbox, without ever hanging the grader on it."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def _at(cell) -> str:
    return f"cell {cell}" if cell is not None else "start-up"


def _verify(line: bytes, key: bytes) -> dict | None:
    try:
        outer = json.loads(line)
        body = outer["body"]
        mac = outer["mac"]
        if not isinstance(body, str) or not isinstance(mac, str):
            return None
        good = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, mac):
            return None
        msg = json.loads(body)
        return msg if isinstance(msg, dict) else None
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


class MessageOrder:
    """The order of messages the runner sends for `steps`: for each step a Cell marker (with
    extract=True for an extraction step), and after an extraction marker exactly one Answer per
    (grade_id, variant) in payload order (variant None, then each catalogued wrong answer).

    Student code runs inside the sandbox and can find the signing key, so a signature alone proves
    little: a marker or answer out of this order, or a second answer for the same id, is rejected
    (counted as tampered) instead of overwriting the runner's own."""

    def __init__(self, steps: list[dict]):
        self._steps = []
        for step in steps:
            answers = []
            if "extract" in step:
                for ex in step["extract"]:
                    answers.append((ex["grade_id"], None))
                    answers += [(ex["grade_id"], k) for k in range(len(ex.get("wrong_codes", [])))]
            self._steps.append((step.get("cell"), "extract" in step, answers))
        self._next = 0
        self._queue: list = []
        self._seen: set = set()

    def cell(self, cell, extract: bool) -> bool:
        """Accept the marker of the next step (and only that one)."""
        if self._next >= len(self._steps):
            return False
        want_cell, want_extract, answers = self._steps[self._next]
        if cell != want_cell or extract != want_extract:
            return False
        self._next += 1
        self._queue = [a for a in answers if a not in self._seen]
        return True

    def answer(self, grade_id, variant) -> bool:
        """Accept the answer the current extraction step owes next, once."""
        key = (grade_id, variant)
        if not self._queue or self._queue[0] != key:
            return False
        self._queue.pop(0)
        self._seen.add(key)
        return True


def _apply(body: dict, res: RunResult, protocol: MessageOrder) -> bool:
    """Record one authenticated message; True when the run is done. Raises ValueError for a message
    that does not fit the protocol (the caller counts it as tampered)."""
    msg = messages.parse(body)
    if isinstance(msg, messages.Ready):
        if res.ready_at is not None:
            raise ValueError("a second ready message")
        res.ready_at = time.time()
        res.warning = clean(msg.warning) if msg.warning else None
    elif isinstance(msg, messages.Cell):
        if not protocol.cell(msg.cell, msg.extract):
            raise ValueError("a cell marker out of order")
        res.last_cell = msg.cell
    elif isinstance(msg, messages.CellError):
        res.cell_errors[msg.cell] = clean(msg.error)
    elif isinstance(msg, messages.Answer):
        if not protocol.answer(msg.grade_id, msg.variant):
            raise ValueError("an answer out of order or a duplicate")
        res.answers[(msg.grade_id, msg.variant)] = _plain_answer_texts(msg.answer)
    elif isinstance(msg, messages.Stopped):
        res.stopped_at = msg.cell if msg.cell is not None else (res.last_cell or 0)
    elif isinstance(msg, messages.Fatal):
        res.ungraded = f"sandbox error: {clean(msg.error)}"
        return True
    elif isinstance(msg, messages.Done):
        return True
    return False


# Text written in the sandbox is made one plain line (textclean.clean) where it enters the grader's
# records (issue 11: a reason with ANSI escapes and newlines was printed and stored raw).

_ANSWER_TEXTS = ("error", "type")   # the texts of an answer that reach a message as they are


def _plain_answer_texts(answer):
    """An answer with its error and type texts (also each probe's error) made textclean.clean; the rest is
    the judge's to validate."""
    if not isinstance(answer, dict):
        return answer
    out = {k: clean(v) if k in _ANSWER_TEXTS and isinstance(v, str) else v for k, v in answer.items()}
    if isinstance(out.get("probes"), list):
        out["probes"] = [_plain_answer_texts(p) for p in out["probes"]]
    return out
