"""The sandboxed side of grading: run a notebook's code cells and hand back answers as plain data.

Started by autograder.sandbox as `python -I -m autograder.runner RESULT_FD` with the job (JSON) on
stdin. It imports the heavy libraries, joins a cgroup of its own, moves into new network, IPC and user
namespaces, puts a size-limited tmpfs over its folder, sets rlimits, restricts itself with Landlock
(all before any notebook code runs), in a notebook with hand derivations installs the run-time trap on
differentiation routines (autograder.trap), then runs the job's steps in order:

- {"code": source, "cell": n, "student": bool}: one notebook cell through IPython's InteractiveShell
  (magics work), under a per-cell SIGALRM timeout; each top-level statement is reported to the trap
  (an unchanged lesson cell, "student": false, never counts against an answer);
- {"extract": [exercise, ...], "cell": n}: read each exercise's answer from the namespace and
  evaluate it at the grader's probe points (function), or convert it to data (expression, value,
  chain_steps); for a hand derivation the answer also carries the trap's report ("trap": why a
  differentiation routine counts against it, or None); optionally also the catalogued wrong answers
  (reference runs only).

Messages go to RESULT_FD as JSON lines `{"seq", "type", ..., "mac"}` signed with the job's key.
Nothing here decides a score: the grader treats every message as untrusted data.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import resource
import signal
import sys
import time

MAX_ERROR_CHARS = 300


class CellTimeout(TimeoutError):
    pass


def _on_alarm(signum, frame):
    raise CellTimeout("cell timed out")


class _Alarm:
    """Context manager: raise CellTimeout in the main thread after `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.01))

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


def _fmt_error(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:MAX_ERROR_CHARS]


class Channel:
    """Signed JSON lines on a pipe fd."""

    def __init__(self, fd: int, key: bytes):
        self._fd = fd
        self._key = key
        self._seq = 0

    def send(self, type_: str, **fields) -> None:
        fields["seq"] = self._seq
        fields["type"] = type_
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        line = (json.dumps({"body": body, "mac": mac}) + "\n").encode()
        self._seq += 1
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]


def set_limits(limits: dict) -> None:
    """rlimits from the job: memory_mb (address space), cpu_s, fsize_mb, nproc; no core files."""
    pairs = [(resource.RLIMIT_CORE, 0)]
    if limits.get("memory_mb"):
        pairs.append((resource.RLIMIT_AS, int(limits["memory_mb"]) * 2**20))
    if limits.get("cpu_s"):
        pairs.append((resource.RLIMIT_CPU, int(limits["cpu_s"])))
    if limits.get("fsize_mb"):
        pairs.append((resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * 2**20))
    if limits.get("nproc"):
        pairs.append((resource.RLIMIT_NPROC, int(limits["nproc"])))
    for which, value in pairs:
        try:
            soft, hard = resource.getrlimit(which)
            new = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (new, new))
        except (ValueError, OSError):
            pass


def preload() -> None:
    """Import what notebooks use, before the file system is closed off (also the zygote's job)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import sympy  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import autograder.landlock  # noqa: F401
    import autograder.wire  # noqa: F401
    import chainrule_utils  # noqa: F401
    for mod in ("chainrule_utils.symbolic", "chainrule_utils.plots", "matplotlib_inline.backend_inline"):
        try:
            __import__(mod)
        except Exception:
            pass


_RUN_CELL = None


def make_shell(trap=None):
    """A fresh InteractiveShell; its run_cell is kept aside so a notebook replacing it changes nothing.
    IPython runs each top-level statement of a cell through run_code: each is a statement for `trap`
    (a notebook that replaces run_code only makes the trap judge its cells whole)."""
    global _RUN_CELL
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"

    class _Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # `%matplotlib inline` asks for a GUI event loop: none here
            return None

        async def run_code(self, code_obj, result=None, *, async_=False):
            if trap is None:
                return await super().run_code(code_obj, result, async_=async_)
            with trap.statement():
                return await super().run_code(code_obj, result, async_=async_)

    _RUN_CELL = InteractiveShell.run_cell
    return _Shell.instance(config=cfg)


# ---------------------------------------------------------------------------------------------
# reading answers


def _sympy_types():
    import sympy

    return (sympy.Basic, sympy.MatrixBase)


def _plain(obj, depth=0):
    """Strings for sympy objects inside a (nested) dict; numbers as text; other values untouched."""
    if depth > 5:
        return obj
    if isinstance(obj, dict):
        return {(k if isinstance(k, str) else _plain(k, depth + 1)): _plain(v, depth + 1)
                for k, v in obj.items()}
    if isinstance(obj, _sympy_types()):
        return str(obj)
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return repr(obj)
    return obj


def _numeric(obj, depth=0):
    """Sympy numbers as Python numbers (an Integer as int, anything else numeric as float; a Matrix of
    numbers as a list of rows), also inside tuples and lists: `slope = p.subs(x, 2)` is a number to the
    student. Symbolic values are left alone (the judge calls them the wrong type)."""
    if depth > 5:
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) <= 10_000:
        return type(obj)(_numeric(v, depth + 1) for v in obj)
    types = _sympy_types()
    if isinstance(obj, types[1]):
        rows = obj.tolist()
        if all(getattr(v, "is_number", False) for row in rows for v in row):
            return [[_numeric(v, depth + 1) for v in row] for row in rows]
        return obj
    if isinstance(obj, types[0]) and getattr(obj, "is_number", False):
        if getattr(obj, "is_Integer", False):
            return int(obj)
        try:
            return float(obj)
        except (TypeError, ValueError):  # a complex number: leave it to the judge
            return obj
    return obj


def read_answer(ns: dict, ex: dict, timeout: float, before_call=None) -> dict:
    """The answer to exercise `ex` found in `ns`, as plain data (see module docstring); `before_call(args)`
    is told the arguments of each probe before a function answer is called with them."""
    from autograder.wire import MAX_CHARS, decode, encode

    name = ex["answer"]
    if name not in ns:
        return {"status": "missing"}
    obj = ns[name]
    kind = ex["kind"]
    try:
        if kind == "function":
            if not callable(obj):
                return {"status": "not_callable", "type": type(obj).__name__[:100]}
            outs = []
            for enc_args in ex["probes"]:
                args = [decode(a) for a in enc_args]
                if before_call is not None:
                    before_call(args)
                try:
                    with _Alarm(timeout):
                        value = obj(*[copy.deepcopy(a) for a in args])
                        outs.append({"ok": encode(_numeric(value))})
                except BaseException as exc:  # noqa: BLE001  (the student's code may raise anything)
                    outs.append({"error": _fmt_error(exc)})
            return {"status": "ok", "probes": outs}
        with _Alarm(timeout):
            if kind == "expression":
                if isinstance(obj, str):
                    return {"status": "ok", "text": obj[:MAX_CHARS]}
                number = isinstance(obj, (int, float)) and not isinstance(obj, bool)
                if isinstance(obj, _sympy_types()) or number:
                    text = str(obj)
                    if len(text) > MAX_CHARS:
                        return {"status": "error", "error": f"expression longer than {MAX_CHARS} characters"}
                    return {"status": "ok", "text": text}
                return {"status": "bad_type", "type": type(obj).__name__[:100]}
            if kind == "chain_steps":
                return {"status": "ok", "value": encode(_plain(obj))}
            return {"status": "ok", "value": encode(_numeric(obj))}
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": _fmt_error(exc)}


def extract(ns: dict, ex: dict, timeout: float, trap=None, *, _read=read_answer) -> dict:
    """read_answer; for a hand derivation under `trap`, evaluated inside `trap.evaluating` (routines
    that run, or the target evaluated away from the probe, count) and with the trap's report."""
    if trap is None or not ex.get("hand"):
        return _read(ns, ex, timeout)
    with trap.evaluating(ex["answer"], ex.get("target")) as ev:
        answer = _read(ns, ex, timeout, before_call=ev.probe)
    if isinstance(answer, dict) and answer.get("status") not in (None, "missing"):
        answer["trap"] = trap.report(ex["answer"])
    return answer


# ---------------------------------------------------------------------------------------------
# the job


def run_job(job: dict, channel: Channel, *, _extract=extract, _wrong=None) -> None:
    """Run the steps of `job` (sandbox already applied) and report through `channel`. What it calls is
    bound here, before any notebook code runs: a notebook that patches this module changes nothing."""
    _wrong = _wrong or _wrong_answer
    hand = [ex["answer"] for step in job["steps"] for ex in step.get("extract", ()) if ex.get("hand")]
    trap = None
    if job.get("trap", True) and hand:
        from autograder.trap import Trap

        trap = Trap()
        trap.install()
    shell = make_shell(trap)
    ns = shell.user_ns
    if trap is not None:
        trap.track(ns, hand)
    run_cell = _RUN_CELL
    cell_timeout = float(job.get("cell_timeout", 30))
    for step in job["steps"]:
        cell = step.get("cell")
        if "code" in step:
            channel.send("cell", cell=cell)
            if trap is not None:
                trap.trusted = not step.get("student", True)
            try:
                with _Alarm(cell_timeout):
                    if trap is None:
                        result = run_cell(shell, step["code"], store_history=False, silent=False)
                    else:
                        with trap.cell(cell):
                            result = run_cell(shell, step["code"], store_history=False, silent=False)
            except BaseException as exc:  # noqa: BLE001  (a timeout outside IPython's own handler)
                channel.send("cell_error", cell=cell, error=_fmt_error(exc))
                if isinstance(exc, SystemExit):
                    channel.send("stopped", cell=cell, reason="SystemExit")
                    return
                continue
            finally:
                if trap is not None:
                    trap.trusted = False
            err = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
            if err is not None:
                channel.send("cell_error", cell=cell, error=_fmt_error(err))
                if isinstance(err, SystemExit):
                    channel.send("stopped", cell=cell, reason="SystemExit")
                    return
        else:
            channel.send("cell", cell=cell, extract=True)
            for ex in step["extract"]:
                timeout = min(cell_timeout, float(ex.get("timeout", cell_timeout)))
                answer = _extract(ns, ex, timeout, trap)
                channel.send("answer", grade_id=ex["grade_id"], variant=None, answer=answer)
                for k, code in enumerate(ex.get("wrong_codes", [])):
                    channel.send("answer", grade_id=ex["grade_id"], variant=k,
                                 answer=_wrong(ns, ex, code, timeout))


def _wrong_answer(ns: dict, ex: dict, code: str, timeout: float) -> dict:
    ns2 = dict(ns)
    try:
        with _Alarm(timeout):
            exec(compile(code, "<catalogued wrong answer>", "exec"), ns2)  # trusted: from the source notebook
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": _fmt_error(exc)}
    return read_answer(ns2, ex, timeout)


CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC = 0x10000000, 0x40000000, 0x08000000


def isolate_network() -> str | None:
    """Move this process into new namespaces: network (empty, only a loopback that is down: no UDP, raw
    or any other socket reaches a host, which Landlock (TCP only) cannot promise), IPC (System V shared
    memory, message queues and semaphores, which Landlock does not cover and which outlive the process,
    become private to this sandbox and vanish with it: no data or pinned memory left for a later
    sandbox, no access to the host's segments) and, where possible, user (mapping our own uid/gid to
    themselves, so files behave as before, but with an empty user keyring: keys added by one sandbox are
    not seen by the next one, nor are the host user's keys). Needs a single-threaded process (the forked
    sandbox is) for the user namespace; root can do without one. Returns a warning line naming what
    could not be isolated (None when all was)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) == 0:
            _map_ids(uid, gid)
            return None
        errors = [os.strerror(ctypes.get_errno())]
        if libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0:
            return None  # root without a user namespace: only the user keyring stays shared
        errors.append(os.strerror(ctypes.get_errno()))
        for flags in (CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):  # an IPC namespace alone may be refused
            if libc.unshare(flags) == 0:
                if flags & CLONE_NEWUSER:
                    _map_ids(uid, gid)
                return (f"warning: System V IPC is not isolated: unshare(CLONE_NEWIPC) failed ({errors[1]}), "
                        f"with a user namespace too ({errors[0]})")
    except (OSError, AttributeError) as exc:
        return f"warning: network is not isolated (UDP is not blocked): {_fmt_error(exc)}"
    return (f"warning: network is not isolated (UDP is not blocked): unshare(CLONE_NEWNET|CLONE_NEWIPC) failed "
            f"({errors[1]}), with a user namespace too ({errors[0]})")


def _map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: map our uid and gid to themselves (unmapped, new files could not be
    created); setgroups is denied first, as the kernel requires of an unprivileged process."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
        except OSError:
            pass


def drop_capabilities() -> None:
    """Give up every Linux capability (a grader run as root would otherwise hand the notebook
    CAP_SYS_RESOURCE to lift its rlimits, CAP_SYS_MODULE, ...): empty the bounding and ambient sets
    where allowed, then the effective, permitted and inheritable sets. Best effort, never raises; with
    no_new_privs (set for Landlock) an exec cannot regain them."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in range(64):
            if libc.prctl(24, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # PR_CAPBSET_DROP; EINVAL: past the last
                break
        libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL

        class _Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class _Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        header = _Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two data structs
        data = (_Data * 2)()
        libc.capset(ctypes.byref(header), data)
    except (OSError, AttributeError):
        pass


CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000


def private_workdir(workdir: str, disk_mb: int) -> str | None:
    """Put a size-limited tmpfs (`disk_mb` MiB, disk_mb * 64 inodes, no exec/suid/devices) over `workdir`,
    in a new mount namespace, and copy what was in it (the assignment's files) onto it. RLIMIT_FSIZE only
    caps each file: without this a notebook could fill the grader's disk with many of them (the gradebook
    and every other sandbox write there too). Returns a warning line when it cannot be done."""
    import ctypes
    import shutil

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    old = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            return f"warning: disk use is not limited: unshare(CLONE_NEWNS) failed ({os.strerror(ctypes.get_errno())})"
        # nothing we mount may propagate back to the grader's mount namespace
        if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            return f"warning: disk use is not limited: mount --make-rprivate failed ({os.strerror(ctypes.get_errno())})"
        opts = f"size={int(disk_mb)}m,nr_inodes={int(disk_mb) * 64},mode=700".encode()
        if libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0:
            return f"warning: disk use is not limited: mounting a tmpfs failed ({os.strerror(ctypes.get_errno())})"
        shutil.copytree(f"/proc/self/fd/{old}", workdir, symlinks=True, dirs_exist_ok=True)
        return None
    finally:
        os.close(old)


CGROUP_PREFIX = "chainrule-sbx-"


def _cgroup_bases() -> dict[str, str]:
    """{controller: folder of this process's cgroup} for the pids and memory controllers (cgroup v1
    hierarchies, or the v2 one under the name "unified" when it delegates both to children)."""
    try:
        with open("/proc/self/cgroup") as fh:
            own = [ln.rstrip("\n").split(":", 2) for ln in fh]
        with open("/proc/self/mountinfo") as fh:
            mounts = [ln.split() for ln in fh]
    except OSError:
        return {}
    bases = {}
    for m in mounts:
        sep = m.index("-")
        fstype, opts = m[sep + 1], m[sep + 3].split(",")
        root, point = m[3], m[4]
        for _, ctrls, path in own:
            names = ctrls.split(",") if ctrls else []
            if fstype == "cgroup" and names:
                hit = [c for c in ("pids", "memory") if c in names and c in opts]
            elif fstype == "cgroup2" and not names:
                hit = ["unified"]
            else:
                continue
            rel = os.path.relpath(path, root) if path.startswith(root) else None
            if rel is None or rel.startswith(".."):
                continue
            for c in hit:
                bases.setdefault(c, os.path.normpath(os.path.join(point, rel)))
    if "unified" in bases:
        try:
            with open(os.path.join(bases["unified"], "cgroup.subtree_control")) as fh:
                delegated = fh.read().split()
        except OSError:
            delegated = []
        if not {"pids", "memory"} <= set(delegated) or ("pids" in bases and "memory" in bases):
            del bases["unified"]
    return bases


def join_cgroup(limits: dict) -> str | None:
    """Move this process into a new cgroup of its own with pids.max = `procs` and a memory limit of
    memory_mb + disk_mb (its tmpfs is charged there too): rlimits count per process, so without it a
    notebook could fork until the machine runs out of processes or memory, stalling every other
    sandbox and the grader. Escaped processes stay in it (see remove_cgroup). Needs write access to the
    cgroup file system (root, or a delegated v2 cgroup); returns a warning line when root could not do it
    (other users usually cannot: for them it is skipped silently, like the rlimit-only fallback)."""
    procs, memory = int(limits.get("procs") or 0), int(limits.get("memory_mb") or 0)
    if not procs:
        return None
    bases = _cgroup_bases()
    if not bases:
        return "warning: processes are not limited per sandbox (no cgroup)" if os.geteuid() == 0 else None
    name = f"{CGROUP_PREFIX}{os.getpid()}"
    mem = (memory + int(limits.get("disk_mb") or 0)) * 2**20 if memory else 0
    try:
        for ctrl, base in bases.items():
            d = os.path.join(base, name)
            os.makedirs(d, 0o755, exist_ok=True)  # a stale one of a grader that died: ours now
            settings = {"pids": [("pids.max", procs)], "memory": [("memory.limit_in_bytes", mem)] if mem else [],
                        "unified": [("pids.max", procs)] + ([("memory.max", mem)] if mem else [])}[ctrl]
            for fname, value in settings:
                with open(os.path.join(d, fname), "w") as fh:
                    fh.write(str(value))
            with open(os.path.join(d, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
    except OSError as exc:
        return f"warning: processes are not limited per sandbox ({_fmt_error(exc)})" if os.geteuid() == 0 else None
    return None


def remove_cgroup(pid: int, timeout: float = 3.0) -> None:
    """Grader side, after sandbox `pid` ended: kill whatever is left in its cgroups (processes that
    left its session) and remove them. Best effort, never raises."""
    import signal as _signal

    deadline = time.monotonic() + timeout
    for base in _cgroup_bases().values():
        d = os.path.join(base, f"{CGROUP_PREFIX}{int(pid)}")
        if not os.path.isdir(d):
            continue
        while True:
            try:
                with open(os.path.join(d, "cgroup.procs")) as fh:
                    left = [int(v) for v in fh.read().split()]
                for p in left:
                    try:
                        os.kill(p, _signal.SIGKILL)
                    except OSError:
                        pass
                os.rmdir(d)
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)


def enter_sandbox(job: dict) -> str | None:
    """New namespaces (network, IPC, user), a size-limited private working folder, rlimits, Landlock,
    then no capabilities; returns a warning line naming each limit that could not be applied (None when
    all were)."""
    warnings = [join_cgroup(job.get("limits", {}))]
    if job.get("isolate_network", True):
        warnings.append(isolate_network())
    disk_mb = job.get("limits", {}).get("disk_mb")
    if disk_mb:
        warnings.append(private_workdir(job["workdir"], disk_mb))
    set_limits(job.get("limits", {}))
    os.chdir(job["workdir"])
    fs = job.get("landlock")
    if fs:
        from autograder.landlock import LandlockUnavailable, restrict

        try:
            restrict(fs["read_only"], fs["read_write"])
        except LandlockUnavailable as exc:
            warnings.append(f"warning: file access is not restricted ({exc})")
    drop_capabilities()
    return "; ".join(w for w in warnings if w) or None


def serve(job: dict, fd: int) -> None:
    """Everything after preload: sandbox, run, report, exit (never returns)."""
    key = bytes.fromhex(job.pop("key"))
    channel = Channel(fd, key)
    del key
    try:
        warning = enter_sandbox(job)
        channel.send("ready", warning=warning, pid=os.getpid(), t=time.time())
        run_job(job, channel)
        channel.send("done", t=time.time())
    except BaseException as exc:  # noqa: BLE001
        try:
            channel.send("fatal", error=_fmt_error(exc))
        except BaseException:  # noqa: BLE001
            pass
    finally:
        sys.stdout.flush() if sys.stdout else None
        os._exit(0)


def main() -> None:
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    preload()
    serve(job, fd)


if __name__ == "__main__":
    main()
