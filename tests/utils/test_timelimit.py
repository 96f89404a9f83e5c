"""chainrule_utils.symbolic.timelimit: a CPU-time limit that never outlives its call."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from chainrule_utils.symbolic.timelimit import SIGNAL, Timeout, call_with_timeout, clock


def _spin(seconds: float) -> None:
    end = clock() + seconds
    while clock() < end:
        pass


def test_the_limit_counts_cpu_time_not_waiting():
    """A call that waits (no CPU) is not cut off; one that computes is, at its CPU limit."""
    assert call_with_timeout(time.sleep, 0.1, 0.4) == (True, None)
    t0 = clock()
    assert call_with_timeout(_spin, 0.2, 5.0) == (False, None)
    assert clock() - t0 < 2.0


def test_nothing_fires_after_the_call_and_the_handler_is_restored():
    before = signal.getsignal(SIGNAL)
    for _ in range(20):
        assert call_with_timeout(_spin, 0.01, 1.0) == (False, None)
    _spin(0.3)  # a re-armed timer would raise Timeout here (or kill the process with SIGPROF)
    assert signal.getsignal(SIGNAL) == before and signal.getitimer(signal.ITIMER_PROF)[0] == 0


def test_a_swallowed_timeout_fires_again_and_cleanup_is_not_interrupted():
    """The call swallows its first Timeout (as a __del__ would) and its cleanup is slow: the limit still
    ends the call, and nothing escapes into the caller."""
    class SlowToFree:
        def __del__(self):
            _spin(0.2)

    def stubborn():
        keep = SlowToFree()  # freed while the Timeout unwinds this frame
        try:
            _spin(10)
        except Timeout:
            pass
        _spin(10)
        return keep

    assert call_with_timeout(stubborn, 0.1) == (False, None)
    _spin(0.3)


def test_an_enclosing_limit_is_respected_and_rearmed():
    def inner_then_spin():
        assert call_with_timeout(_spin, 0.05, 1.0) == (False, None)   # the inner limit, caught inside
        _spin(10)                                                   # the outer one ends this

    t0 = clock()
    assert call_with_timeout(inner_then_spin, 0.4) == (False, None)
    assert clock() - t0 < 3.0


def test_a_huge_precision_float_neither_crashes_nor_hangs_the_process():
    """Issue 11: parsing `log(Float(2.1, 1000000000))` used to end the whole process with SIGALRM (the
    re-armed alarm fired in the limit's own cleanup)."""
    code = textwrap.dedent("""\
        from chainrule_utils.symbolic import parse_expression
        try:
            parse_expression("log(Float(2.1, 1000000000))", timeout=0.5)
        except ValueError as exc:
            print("refused:", exc)
        print("alive")
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("alive"), (r.returncode, r.stdout, r.stderr[-500:])
