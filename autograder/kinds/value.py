"""Kind "value": the answer is a value: a number, tuple (a shape such as (2, 3)), bool, string
(multiple choice) or array. No keys of its own.

Sandbox: the value is sent as data (sympy numbers as Python numbers). Grader: the value rule
(`values_equal`): exact for bool/int/str (strings stripped, case-insensitive)/tuples, rtol for floats,
`diagnose` for arrays; otherwise a catalogued wrong answer, the array mistake `diagnose` names, a
reversed tuple, or the wrong type.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autograder.alarm import Alarm
from autograder.kinds._numbers import numeric, numeric_match, safe_details
from autograder.kinds.base import Kind, Verdict
from autograder.wire import Opaque, decode, encode

if TYPE_CHECKING:
    from autograder.spec import Exercise


class ValueKind(Kind):
    def read(self, obj, payload: dict, timeout: float) -> dict:
        with Alarm(timeout):
            return {"status": "ok", "value": encode(numeric(obj))}

    def same(self, got, value, ex: Exercise) -> bool:
        return values_equal(got, value, ex.rtol, ex.atol)

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        exp = self.reference(ref.get("expected"), "the reference answer")
        got = decode(answer["value"])
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            got = _number_of_0d(got)
        if values_equal(got, exp, ex.rtol, ex.atol):
            return Verdict(1.0)
        hit = self.catalogued(ex, ref, got)
        if hit is not None:
            return Verdict(hit.max_score, hit.mistake, hit.message)
        if isinstance(exp, np.ndarray) or (isinstance(exp, float) and isinstance(got, (int, float, np.ndarray))):
            d = numeric_match(got, exp, ex.rtol, ex.atol)
            if not d:
                return Verdict(0.0, d.kind, d.message, safe_details(d.details))
        if isinstance(exp, tuple) and isinstance(got, (tuple, list)) and len(exp) == len(got) > 1 \
                and values_equal(list(got)[::-1], list(exp), ex.rtol, ex.atol):
            return Verdict(0.0, "transpose", "Your tuple is in reverse order: for a shape, numerator layout puts "
                                             "the outputs first and the inputs second.")
        if type(got) is not type(exp) and not (isinstance(got, (int, float)) and isinstance(exp, (int, float))):
            if not (isinstance(exp, tuple) and isinstance(got, list)):
                return Verdict(0.0, "bad_type",
                               f"`{ex.answer}` should be {_describe(exp)}, but it is {_describe(got)}.")
        return Verdict(0.0, "wrong", f"`{ex.answer}` has the wrong value.")


KIND = ValueKind()


def values_equal(got, exp, rtol: float, atol: float) -> bool:
    """The value rule: exact for bool/int/str (strings stripped, case-insensitive)/tuples, rtol for
    floats, `diagnose` for arrays."""
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        got = _number_of_0d(got)
    if isinstance(exp, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) == exp
    if isinstance(exp, str):
        return isinstance(got, str) and got.strip().casefold() == exp.strip().casefold()
    if isinstance(exp, int):
        if isinstance(got, bool):
            return False
        if isinstance(got, int):
            return got == exp
        return isinstance(got, float) and got.is_integer() and int(got) == exp
    if isinstance(exp, (float, complex)):
        if isinstance(got, bool) or not isinstance(got, (int, float, complex)):
            return False
        return bool(numeric_match(np.asarray(got), np.asarray(exp), rtol, atol))
    if isinstance(exp, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            return False
        return all(values_equal(g, e, rtol, atol) for g, e in zip(got, exp, strict=True))
    if isinstance(exp, np.ndarray):
        return bool(numeric_match(got, exp, rtol, atol))
    if exp is None:
        return got is None
    return False


def _number_of_0d(v):
    """The number a 0-d numeric array holds (np.array(2.5) is 2.5); anything else unchanged."""
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "iuf":
        return v.item()
    return v


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {tuple(v.shape)}"
    if isinstance(v, Opaque):
        return f"a {v.type_name}"
    return type(v).__name__
