"""The sandboxed side of grading: run a notebook's code cells and hand back answers as plain data.

Started by autograder.sandbox as `python -I -m autograder.runner RESULT_FD` with the job (JSON) on
stdin. It imports the heavy libraries, moves into a new network namespace, sets rlimits, restricts
itself with Landlock (all before any notebook code runs), then runs the job's steps in order:

- {"code": source, "cell": n}: one notebook cell through IPython's InteractiveShell (magics work),
  under a per-cell SIGALRM timeout;
- {"extract": [exercise, ...], "cell": n}: read each exercise's answer from the namespace and
  evaluate it at the grader's probe points (function), or convert it to data (expression, value,
  chain_steps); optionally also for catalogued wrong answers (reference runs only).

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
import types

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


def make_shell():
    """A fresh InteractiveShell; its run_cell is kept aside so a notebook replacing it changes nothing."""
    global _RUN_CELL
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"

    class _Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # `%matplotlib inline` asks for a GUI event loop: none here
            return None

    _RUN_CELL = InteractiveShell.run_cell
    return _Shell.instance(config=cfg)


# ---------------------------------------------------------------------------------------------
# reading answers


def _sympy_types():
    import sympy

    return (sympy.Basic, sympy.MatrixBase)


def _raise_tripwire(*args, **kwargs):
    raise RuntimeError("a hand derivation may not call the function it differentiates")


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


def read_answer(ns: dict, ex: dict, timeout: float) -> dict:
    """The answer to exercise `ex` found in `ns`, as plain data (see module docstring)."""
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
                try:
                    with _Alarm(timeout):
                        value = obj(*[copy.deepcopy(a) for a in args])
                        outs.append({"ok": encode(value)})
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
            return {"status": "ok", "value": encode(obj)}
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": _fmt_error(exc)}


def extract(ns: dict, ex: dict, timeout: float, tripwire: bool) -> dict:
    """read_answer with the target function disabled for hand derivations (when `tripwire`)."""
    target = ex.get("target") if ex.get("hand") else None
    if not (tripwire and target and target in ns):
        return read_answer(ns, ex, timeout)
    original = ns[target]
    saved_code = None
    if isinstance(original, types.FunctionType) and not original.__closure__:
        saved_code = original.__code__
        original.__code__ = _raise_tripwire.__code__
    ns[target] = _raise_tripwire
    try:
        return read_answer(ns, ex, timeout)
    finally:
        ns[target] = original
        if saved_code is not None:
            original.__code__ = saved_code


# ---------------------------------------------------------------------------------------------
# the job


def run_job(job: dict, channel: Channel) -> None:
    """Run the steps of `job` (sandbox already applied) and report through `channel`."""
    shell = make_shell()
    ns = shell.user_ns
    cell_timeout = float(job.get("cell_timeout", 30))
    tripwire = bool(job.get("tripwire", True))
    for step in job["steps"]:
        cell = step.get("cell")
        if "code" in step:
            channel.send("cell", cell=cell)
            try:
                with _Alarm(cell_timeout):
                    result = _RUN_CELL(shell, step["code"], store_history=False, silent=False)
            except BaseException as exc:  # noqa: BLE001  (a timeout outside IPython's own handler)
                channel.send("cell_error", cell=cell, error=_fmt_error(exc))
                if isinstance(exc, SystemExit):
                    channel.send("stopped", cell=cell, reason="SystemExit")
                    return
                continue
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
                answer = extract(ns, ex, timeout, tripwire)
                channel.send("answer", grade_id=ex["grade_id"], variant=None, answer=answer)
                for k, code in enumerate(ex.get("wrong_codes", [])):
                    channel.send("answer", grade_id=ex["grade_id"], variant=k,
                                 answer=_wrong_answer(ns, ex, code, timeout))


def _wrong_answer(ns: dict, ex: dict, code: str, timeout: float) -> dict:
    ns2 = dict(ns)
    try:
        with _Alarm(timeout):
            exec(compile(code, "<catalogued wrong answer>", "exec"), ns2)  # trusted: from the source notebook
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": _fmt_error(exc)}
    return read_answer(ns2, ex, timeout)


CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def isolate_network() -> str | None:
    """Move this process into a new, empty network namespace (only a loopback that is down): no UDP,
    raw or any other socket reaches a host, which Landlock (TCP only) cannot promise. Tries
    unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN, e.g. root), then an unprivileged user namespace with it
    (needs a single-threaded process: the forked sandbox is). Returns a warning line when both fail."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return None
        first = ctypes.get_errno()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return None
        second = ctypes.get_errno()
    except (OSError, AttributeError) as exc:
        return f"warning: network is not isolated (UDP is not blocked): {_fmt_error(exc)}"
    return (f"warning: network is not isolated (UDP is not blocked): unshare(CLONE_NEWNET) failed "
            f"({os.strerror(first)}), with a user namespace too ({os.strerror(second)})")


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


def enter_sandbox(job: dict) -> str | None:
    """A new network namespace, rlimits, Landlock, then no capabilities; returns a warning line naming
    each limit that could not be applied (None when all were)."""
    warnings = []
    if job.get("isolate_network", True):
        warnings.append(isolate_network())
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
