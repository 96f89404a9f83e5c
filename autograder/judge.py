"""Decide one exercise in the grader's process, from plain data only.

Inputs: the Exercise, the reference entry (what the source notebook's answer and each catalogued
wrong answer gave at the same probes) and the student's answer as sent by the sandbox (untrusted).
Output: a Verdict with credit in [0, 1] (0/1 except chain_steps: four equal parts), the mistake id
(a `diagnose` kind, a catalogue id or one of ours: missing, unanswered, error, not_callable,
bad_type, invalid, forbidden, stopped, grader_error) and one student-facing message.

What is common to every kind lives here (an answer that is missing, failed to read or cannot be
decoded; a reference that cannot be used); comparing and explaining is the kind's own
(autograder.kinds).
"""
from __future__ import annotations

import logging

from autograder.kinds import kind_of
from autograder.kinds.base import ReferenceError_, Verdict, short
from autograder.spec import Exercise
from autograder.wire import WireError

_LOG = logging.getLogger(__name__)


def judge(ex: Exercise, ref: dict, answer: dict | None) -> Verdict:
    """The verdict for one exercise; `answer` is None when the sandbox never reached it.

    Never raises (except KeyboardInterrupt/SystemExit): whatever goes wrong while judging this one
    exercise scores it 0 with mistake "error" and is logged; the rest of the submission is unaffected.
    """
    try:
        return _judge(ex, ref, answer)
    except Exception as exc:  # noqa: BLE001  (hostile data or a grader bug: this exercise only)
        try:
            why = short(f"{type(exc).__name__}: {exc}", 200)
        except Exception:  # noqa: BLE001  (an exception whose str() fails)
            why = type(exc).__name__
        _LOG.warning("judging %s failed: %s", ex.grade_id, why)
        return Verdict(0.0, "error", "Your answer could not be judged; it scores 0.", {"why": why})


def _judge(ex: Exercise, ref: dict, answer: dict | None) -> Verdict:
    kind = kind_of(ex.kind)
    if answer is None:
        return Verdict(0.0, "missing", f"{ex.answer} was never evaluated.")
    status = answer.get("status") if isinstance(answer, dict) else None
    if status == "missing":
        return Verdict(0.0, "missing", f"{ex.answer} is not defined when its test cell runs: run your "
                                       "answer cell without errors (and keep the name).")
    if status == "error":
        return Verdict(0.0, "error", f"Reading {ex.answer} failed: {short(answer.get('error'), 200)}.")
    if status != "ok":
        refused = kind.refusal(ex, answer) if status is not None else None
        return refused or Verdict(0.0, "invalid", "The answer could not be read.")
    try:
        return kind.judge(ex, ref, answer)
    except ReferenceError_ as exc:
        return Verdict(0.0, "grader_error", "This exercise could not be graded automatically; your "
                                            "instructor will look at it.", {"reference": str(exc)})
    except (WireError, KeyError, TypeError, ValueError) as exc:
        return Verdict(0.0, "invalid", "The answer could not be read.", {"why": short(str(exc), 200)})
