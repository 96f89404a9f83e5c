"""A time limit on a block of code in the sandbox (SIGALRM in the main thread).

Used by the runner around each notebook cell and by the exercise kinds' readers around every call
into the student's objects (autograder.kinds): a call that hangs raises CellTimeout and costs only
that answer. Inside the sandbox only; the grader never sets alarms.
"""
from __future__ import annotations

import signal


class CellTimeout(TimeoutError):
    pass


def _on_alarm(signum, frame):
    raise CellTimeout("cell timed out")


class Alarm:
    """Context manager: raise CellTimeout in the main thread after `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.01))

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False
