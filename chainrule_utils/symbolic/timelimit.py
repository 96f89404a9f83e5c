"""Run a function with a wall-clock limit: ``call_with_timeout(fn, seconds, *args) -> (finished, value)``.

In the main thread a SIGALRM timer interrupts pure-Python work (sympy is pure Python), and an outer
timer already running is respected and re-armed afterwards. A Timeout that lands in a ``__del__`` or
weakref callback (which Python swallows) is re-raised shortly after and never printed as "Exception
ignored" in the student's output. Elsewhere (no signals in other threads)
the call runs in a forked child process that is killed at the deadline; without fork it runs
unguarded. ``value`` is None when the call did not finish.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import time

REARM = 0.05  # seconds until the alarm fires again if its Timeout was swallowed


class Timeout(BaseException):
    """Raised inside the guarded call at the deadline (a BaseException, so `except Exception` in
    library code cannot swallow it)."""


def call_with_timeout(fn, seconds: float, *args, **kwargs):
    """Return (True, fn(*args, **kwargs)) if it finishes within ``seconds``, else (False, None).
    Exceptions raised by fn propagate."""
    seconds = max(float(seconds), 1e-3)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_alarm(fn, seconds, args, kwargs)
    if "fork" in multiprocessing.get_all_start_methods():
        return _with_fork(fn, seconds, args, kwargs)
    return True, fn(*args, **kwargs)


def _with_alarm(fn, seconds, args, kwargs):
    outer_remaining, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_remaining <= seconds:
        # an enclosing limit expires first: let it do the interrupting
        return True, fn(*args, **kwargs)

    def _raise(signum, frame):
        # Python ignores an exception raised inside a weakref callback or __del__ (printing "Exception
        # ignored"): fire again shortly, so a swallowed Timeout cannot let the call run on unlimited.
        signal.setitimer(signal.ITIMER_REAL, REARM)
        raise Timeout()

    previous_hook = sys.unraisablehook

    def _quiet(unraisable):
        # a Timeout swallowed by a __del__ is not news to the student: the alarm fires again
        if not isinstance(unraisable.exc_value, Timeout):
            previous_hook(unraisable)

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _raise)
    sys.unraisablehook = _quiet
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            value = fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # a Timeout landing here is caught below
        return True, value
    except Timeout:
        return False, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = previous_hook
        if outer_remaining > 0:
            left = max(outer_remaining - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _child(conn, fn, args, kwargs):
    try:
        conn.send((True, fn(*args, **kwargs), None))
    except Exception as exc:  # sent back to the parent and re-raised there
        conn.send((False, None, exc))
    finally:
        conn.close()


def _with_fork(fn, seconds, args, kwargs):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(seconds):
            ok, value, exc = parent.recv()
            if exc is not None:
                raise exc
            return True, value
        return False, None
    except EOFError:
        return False, None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
        parent.close()
