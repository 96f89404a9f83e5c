"""The sandboxed side of grading: run a notebook's code cells and hand back answers as plain data.

Started by autograder.sandbox as `python -I -m autograder.runner RESULT_FD` with the job (JSON) on
stdin (or forked from autograder.zygote). It imports the heavy libraries, isolates itself
(autograder.isolation: cgroup, namespaces, private tmpfs folder, rlimits, Landlock, no capabilities;
all before any notebook code runs), in a notebook with hand derivations installs the run-time trap on
differentiation routines (autograder.trap), then runs the job's steps in order:

- {"code": source, "cell": n, "student": bool}: one notebook cell through IPython's InteractiveShell
  (magics work), under a per-cell SIGALRM timeout; each top-level statement is reported to the trap
  (an unchanged lesson cell, "student": false, never counts against an answer);
- {"extract": [exercise, ...], "cell": n}: read each exercise's answer from the namespace as plain
  data, the way its kind says (autograder.kinds: e.g. a function evaluated at the grader's probe
  points); for a hand derivation the answer also carries the trap's report ("trap": why a
  differentiation routine counts against it, or None); optionally also the catalogued wrong answers
  (reference runs only).

Messages (autograder.messages) go to RESULT_FD as JSON lines `{"body", "mac"}` signed with the job's
key. Nothing here decides a score: the grader treats every message as untrusted data.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time

from autograder import messages
from autograder.alarm import Alarm
from autograder.isolation import enter_sandbox
from autograder.kinds import NAMES, kind_of
from autograder.messages import error_text


class Channel:
    """Signed JSON lines on a pipe fd, one per message (autograder.messages)."""

    def __init__(self, fd: int, key: bytes):
        self._fd = fd
        self._key = key
        self._seq = 0

    def send(self, message: messages.Message) -> None:
        fields = message.fields()
        fields["seq"] = self._seq
        fields["type"] = message.TYPE
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        line = (json.dumps({"body": body, "mac": mac}) + "\n").encode()
        self._seq += 1
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]


def preload() -> None:
    """Import what notebooks use, before the file system is closed off (also the zygote's job)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import sympy  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import autograder.landlock  # noqa: F401
    import chainrule_utils  # noqa: F401
    for name in NAMES:  # every kind's reader, before any notebook code runs
        kind_of(name)
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


def read_answer(ns: dict, ex: dict, timeout: float, before_call=None) -> dict:
    """The answer to exercise `ex` (its payload) found in `ns`, as plain data read by its kind;
    `before_call(args)` is told the arguments of each call the kind makes of a function answer."""
    name = ex["answer"]
    if name not in ns:
        return {"status": "missing"}
    try:
        obj = ns[name]
        if before_call is not None and callable(obj):
            obj = _announcing(obj, before_call)
        return kind_of(ex["kind"]).read(obj, ex, timeout)
    except BaseException as exc:  # noqa: BLE001  (the student's object may raise anything)
        return {"status": "error", "error": error_text(exc)}


def _announcing(fn, before_call):
    """`fn`, telling `before_call` the arguments of each call first."""
    def call(*args, **kwargs):
        before_call(args)
        return fn(*args, **kwargs)

    return call


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
            channel.send(messages.Cell(cell))
            if trap is not None:
                trap.trusted = not step.get("student", True)
            try:
                with Alarm(cell_timeout):
                    if trap is None:
                        result = run_cell(shell, step["code"], store_history=False, silent=False)
                    else:
                        with trap.cell(cell):
                            result = run_cell(shell, step["code"], store_history=False, silent=False)
            except BaseException as exc:  # noqa: BLE001  (a timeout outside IPython's own handler)
                channel.send(messages.CellError(cell, error_text(exc)))
                if isinstance(exc, SystemExit):
                    channel.send(messages.Stopped(cell, "SystemExit"))
                    return
                continue
            finally:
                if trap is not None:
                    trap.trusted = False
            err = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
            if err is not None:
                channel.send(messages.CellError(cell, error_text(err)))
                if isinstance(err, SystemExit):
                    channel.send(messages.Stopped(cell, "SystemExit"))
                    return
        else:
            channel.send(messages.Cell(cell, extract=True))
            for ex in step["extract"]:
                timeout = min(cell_timeout, float(ex.get("timeout", cell_timeout)))
                answer = _extract(ns, ex, timeout, trap)
                channel.send(messages.Answer(ex["grade_id"], None, answer))
                for k, code in enumerate(ex.get("wrong_codes", [])):
                    channel.send(messages.Answer(ex["grade_id"], k, _wrong(ns, ex, code, timeout)))


def _wrong_answer(ns: dict, ex: dict, code: str, timeout: float) -> dict:
    ns2 = dict(ns)
    try:
        with Alarm(timeout):
            exec(compile(code, "<catalogued wrong answer>", "exec"), ns2)  # trusted: from the source notebook
    except BaseException as exc:  # noqa: BLE001
        return {"status": "error", "error": error_text(exc)}
    return read_answer(ns2, ex, timeout)


def serve(job: dict, fd: int) -> None:
    """Everything after preload: sandbox, run, report, exit (never returns)."""
    key = bytes.fromhex(job.pop("key"))
    channel = Channel(fd, key)
    del key
    try:
        warning = enter_sandbox(job)
        channel.send(messages.Ready(warning, os.getpid(), time.time()))
        run_job(job, channel)
        channel.send(messages.Done(time.time()))
    except BaseException as exc:  # noqa: BLE001
        try:
            channel.send(messages.Fatal(error_text(exc)))
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
