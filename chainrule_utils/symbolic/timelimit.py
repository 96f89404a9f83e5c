"""Run a function under a CPU-time limit: ``call_with_timeout(fn, seconds, *args) -> (finished, value)``.

The limit counts CPU time (``clock()``: this process's user + system time), not wall-clock time, so a
busy machine makes no call time out sooner: a comparison that finishes in 1 s of CPU on an idle laptop
finishes within the same limit beside a hundred other processes.

In the main thread a CPU-time timer (ITIMER_PROF, SIGPROF) interrupts pure-Python work (sympy is pure
Python); an outer limit of this module already running is respected and re-armed afterwards; a
wall-clock alarm (SIGALRM, e.g. a notebook cell's) is independent and still fires. Elsewhere (signals
reach only the main thread) the call runs in a forked child process under the same timer and under
RLIMIT_CPU (the kernel ends a child stuck in one long C call), with a generous wall-clock backstop;
without fork it runs unguarded. ``value`` is None when the call did not finish.

The limit never outlives the call: the timer's handler raises only while its call is running (a
Timeout swallowed inside the call, e.g. in a ``__del__``, is raised again shortly and never printed as
"Exception ignored" in the student's output), and is disarmed
before anything else when the call ends, so no late signal can escape into the caller or kill the
process. A Timeout that reaches the caller belongs to an enclosing limit.
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import sys
import threading
import time

REARM = 0.05  # CPU seconds until the timer fires again if its Timeout was swallowed
TIMER, SIGNAL = signal.ITIMER_PROF, signal.SIGPROF
WALL_BACKSTOP = 10.0  # a forked call may take this many times its CPU limit in wall time (a busy machine)
clock = time.process_time  # the clock limits are counted in (deadlines in compare/parse use it too)


class Timeout(BaseException):
    """Raised inside the guarded call at its deadline (a BaseException, so `except Exception` in
    library code cannot swallow it). ``args[0]`` identifies the limit that raised it."""


def call_with_timeout(fn, seconds: float, *args, **kwargs):
    """Return (True, fn(*args, **kwargs)) if it finishes within ``seconds`` of CPU time, else
    (False, None). Exceptions raised by fn propagate."""
    seconds = max(float(seconds), 1e-3)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_timer(fn, seconds, args, kwargs)
    if "fork" in multiprocessing.get_all_start_methods():
        return _with_fork(fn, seconds, args, kwargs)
    return True, fn(*args, **kwargs)


class _Limit:
    """One running limit; `active` is cleared first thing when its call ends."""

    __slots__ = ("active",)

    def __init__(self):
        self.active = True


def _with_timer(fn, seconds, args, kwargs):
    outer_remaining, outer_interval = signal.getitimer(TIMER)
    if 0 < outer_remaining <= seconds:
        # an enclosing limit expires first: let it do the interrupting
        return True, fn(*args, **kwargs)
    limit = _Limit()

    def _fire(signum, frame):
        if not limit.active:
            return  # a signal that was already on its way when the call ended
        # Python ignores an exception raised inside a weakref callback or __del__ (printing "Exception
        # ignored"): fire again shortly, so a swallowed Timeout cannot let the call run on unlimited.
        signal.setitimer(TIMER, REARM)
        raise Timeout(limit)

    previous_hook = sys.unraisablehook

    def _quiet(unraisable):
        # a Timeout swallowed by a __del__ is not news to the student: the timer fires again
        if not isinstance(unraisable.exc_value, Timeout):
            previous_hook(unraisable)

    start = clock()
    previous = signal.signal(SIGNAL, _fire)
    sys.unraisablehook = _quiet
    try:
        try:
            signal.setitimer(TIMER, seconds)
            return True, fn(*args, **kwargs)
        finally:
            limit.active = False  # first: from here on the handler raises nothing
            signal.setitimer(TIMER, 0)
            signal.signal(SIGNAL, previous)
            sys.unraisablehook = previous_hook
            if outer_remaining > 0:
                left = max(outer_remaining - (clock() - start), 1e-3)
                signal.setitimer(TIMER, left, outer_interval)
    except Timeout as exc:
        if exc.args and exc.args[0] is limit:
            return False, None
        raise  # an enclosing limit's


def _child(conn, fn, seconds, args, kwargs):
    try:
        used = resource.getrusage(resource.RUSAGE_SELF)
        cap = int(used.ru_utime + used.ru_stime + seconds) + 2
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard == resource.RLIM_INFINITY or cap <= hard:
            resource.setrlimit(resource.RLIMIT_CPU, (cap, hard))  # SIGXCPU ends a child stuck in C code
        conn.send(_with_timer(fn, seconds, args, kwargs) + (None,))
    except Exception as exc:  # sent back to the parent and re-raised there
        conn.send((False, None, exc))
    finally:
        conn.close()


def _with_fork(fn, seconds, args, kwargs):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, seconds, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(seconds * WALL_BACKSTOP + 5.0):
            ok, value, exc = parent.recv()
            if exc is not None:
                raise exc
            return ok, value
        return False, None
    except EOFError:
        return False, None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
        parent.close()
