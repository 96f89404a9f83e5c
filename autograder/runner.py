"""The sandboxed side of grading: run a notebook's code cells and hand back answers as plain data.

Started by autograder.sandbox as `python -I -m autograder.runner RESULT_FD` with the job (JSON) on
stdin (or forked from autograder.zygote). It imports the heavy libraries, isolates itself
(autograder.isolation: cgroup, namespaces, private tmpfs folder, rlimits, Landlock, no capabilities;
all before any notebook code runs), in a notebook with hand derivations refuses sympy text that names
a forbidden routine (guard_text_parsing), then runs the job's steps in order:

- {"code": source, "cell": n}: one notebook cell through IPython's InteractiveShell (magics work),
  under a per-cell SIGALRM timeout;
- {"extract": [exercise, ...], "cell": n}: read each exercise's answer from the namespace as plain
  data, the way its kind says (autograder.kinds: e.g. a function evaluated at the grader's probe
  points); optionally also for catalogued wrong answers (reference runs only).

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
import types

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


def _raise_tripwire(*args, **kwargs):
    raise RuntimeError("a hand derivation may not call the function it differentiates")


def read_answer(ns: dict, ex: dict, timeout: float) -> dict:
    """The answer to exercise `ex` (its payload) found in `ns`, as plain data read by its kind."""
    name = ex["answer"]
    if name not in ns:
        return {"status": "missing"}
    try:
        return kind_of(ex["kind"]).read(ns[name], ex, timeout)
    except BaseException as exc:  # noqa: BLE001  (the student's object may raise anything)
        return {"status": "error", "error": error_text(exc)}


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


def guard_text_parsing() -> None:
    """Refuse, in this process, sympy text that names a forbidden routine (autograder.forbidden.scan).

    The static scan never reads strings, and sympy turns text into code in many places besides the
    flagged sympify/parse_expr: sp.expand("diff(p, x)"), sp.factor, sp.Poly, sp.Matrix(["..."]), ... all
    reach sympy.parsing.sympy_parser.parse_expr, which evaluates the text (methods, builtins and all).
    Both parse_expr and the eval_expr it calls are wrapped; restoring the originals needs names the scan
    flags. Installed for student runs of notebooks that have hand derivations."""
    import sympy.parsing.sympy_parser as parser

    from autograder.forbidden import scan

    parse_expr, eval_expr = parser.parse_expr, parser.eval_expr

    def check(text):
        """`text` as a plain str (a str subclass could show the scan other text than sympy reads), once
        scanned; anything else unchanged."""
        if isinstance(text, str):
            text = str.__getitem__(text, slice(None))
            hits = scan(text)
            if hits:
                raise ValueError(f"text given to sympy may not use `{hits[0]}` (hand derivations in this notebook)")
        return text

    def guarded_parse_expr(s, *args, **kwargs):
        return parse_expr(check(s), *args, **kwargs)

    def guarded_eval_expr(code, *args, **kwargs):
        return eval_expr(check(code), *args, **kwargs)

    parser.parse_expr, parser.eval_expr = guarded_parse_expr, guarded_eval_expr


def run_job(job: dict, channel: Channel) -> None:
    """Run the steps of `job` (sandbox already applied) and report through `channel`."""
    tripwire = bool(job.get("tripwire", True))
    if tripwire and any(ex.get("hand") for step in job["steps"] for ex in step.get("extract", ())):
        guard_text_parsing()
    shell = make_shell()
    ns = shell.user_ns
    cell_timeout = float(job.get("cell_timeout", 30))
    for step in job["steps"]:
        cell = step.get("cell")
        if "code" in step:
            channel.send(messages.Cell(cell))
            try:
                with Alarm(cell_timeout):
                    result = _RUN_CELL(shell, step["code"], store_history=False, silent=False)
            except BaseException as exc:  # noqa: BLE001  (a timeout outside IPython's own handler)
                channel.send(messages.CellError(cell, error_text(exc)))
                if isinstance(exc, SystemExit):
                    channel.send(messages.Stopped(cell, "SystemExit"))
                    return
                continue
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
                answer = extract(ns, ex, timeout, tripwire)
                channel.send(messages.Answer(ex["grade_id"], None, answer))
                for k, code in enumerate(ex.get("wrong_codes", [])):
                    channel.send(messages.Answer(ex["grade_id"], k, _wrong_answer(ns, ex, code, timeout)))


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
