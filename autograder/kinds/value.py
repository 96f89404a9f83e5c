"""Kind "value": the answer is a value: a number, tuple (a shape such as (2, 3)), bool, string
(multiple choice) or array. No keys of its own.

Sandbox: the value is sent as data (sympy numbers as Python numbers). Grader: the value rule
(chainrule_utils.values.values_equal: exact for bool/int/str (strings stripped, case-insensitive)/
tuples, rtol for floats, `diagnose` for arrays), then chainrule_utils.verdicts.value: a catalogued
wrong answer, the mistake `diagnose` names for a number or an array, a reversed tuple, or the wrong
type. The self-check applies the same verdict to fingerprints (`selfcheck_data`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from autograder.alarm import Alarm
from autograder.kinds._numbers import exact_reference, numeric
from autograder.kinds.base import Kind, ReferenceError_, Verdict, verdict_of
from autograder.wire import WireError, decode, encode

if TYPE_CHECKING:
    from autograder.spec import Exercise


class ValueKind(Kind):
    def read(self, obj, payload: dict, timeout: float) -> dict:
        with Alarm(timeout):
            return {"status": "ok", "value": encode(numeric(obj))}

    def same(self, got, value, ex: Exercise) -> bool:
        from chainrule_utils.values import values_equal

        return values_equal(got, value, ex.rtol, ex.atol)

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        from chainrule_utils import verdicts

        exp = self.reference(ref.get("expected"), "the reference answer")
        got = decode(answer["value"])

        def catalogue(value):
            hit = self.catalogued(ex, ref, value)
            return None if hit is None else ex.wrong.index(hit)

        return verdict_of(ex, verdicts.value(ex.answer, got, _ExactValue(exp, ex.rtol, ex.atol),
                                             catalogue=catalogue))


    def selfcheck_data(self, ex: Exercise, ref: dict, salt: str) -> dict:
        import numpy as np

        from chainrule_utils import fingerprint as fp
        from chainrule_utils.diagnosis import _reference_array
        from chainrule_utils.values import describe, value_class

        exp = self.reference(ref.get("expected"), "the reference answer")
        wrongs = []
        for k in range(len(ex.wrong)):
            try:
                wrongs.append(self.reference((ref.get("wrong") or [None] * (k + 1))[k], "wrong answer"))
            except (ReferenceError_, WireError):
                wrongs.append(None)
        others = [np.asarray(fp.value_numbers(w), dtype=complex) for w in wrongs if w is not None]
        cls = value_class(exp)
        numeric = None
        if cls in ("number", "array"):
            arr = _reference_array(exp)
            grids = fp.plan_grids([arr], others, ex.rtol)
            numeric = fp.numeric_print(arr, grids, salt, "v")
        else:
            grids = fp.plan_grids([np.asarray(fp.value_numbers(exp), dtype=complex)], others, ex.rtol)
        printed = fp.value_print(exp, grids.exact, salt)
        if printed is None:
            raise ReferenceError_(f"the reference answer ({describe(exp)}) cannot be fingerprinted")
        return {"probe": "value", "answer": ex.answer, "salt": salt, "grids": grids.to_json(),
                "expected": {**printed, "describe": describe(exp), "numeric": numeric},
                "wrong": [{"mistake": w.mistake, "message": w.message,
                           "value": None if v is None else fp.value_print(v, grids.exact, salt)}
                          for w, v in zip(ex.wrong, wrongs, strict=True)]}


KIND = ValueKind()


class _ExactValue:
    """chainrule_utils.verdicts.ValueReference for the source's value `exp`."""

    def __init__(self, exp, rtol: float, atol: float):
        from chainrule_utils.values import describe, value_class

        self.exp, self.rtol, self.atol = exp, rtol, atol
        self.cls = value_class(exp)
        self.description = describe(exp)
        self.numeric = exact_reference(exp, rtol, atol) if self.cls in ("number", "array") else None

    def equal(self, got) -> bool:
        from chainrule_utils.values import values_equal

        return values_equal(got, self.exp, self.rtol, self.atol)

    def reversed_equal(self, got) -> bool:
        from chainrule_utils.values import values_equal

        return values_equal(list(got)[::-1], list(self.exp), self.rtol, self.atol)
