"""Kind "expression": the answer is a sympy expression or Matrix, a number, or a string such as
"2*x*cos(x**2)".

Spec keys: `symbols` (non-empty list of names), `positive` (the symbols are positive). Sandbox: the
answer is sent as text (at most wire.MAX_CHARS characters). Grader: the text is parsed safely
(chainrule_utils.symbolic, never eval) and compared for mathematical equivalence with the reference
(simplification, then random numeric probes), each comparison under a time limit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from autograder.alarm import Alarm
from autograder.kinds._numbers import sympy_types
from autograder.kinds.base import EXPR_TIMEOUT, BadSpec, Kind, ReferenceError_, Verdict, is_identifier
from autograder.wire import MAX_CHARS, WireError

if TYPE_CHECKING:
    from autograder.spec import Exercise


class ExpressionKind(Kind):
    keys = frozenset({"symbols", "positive"})
    refusals = {"bad_type": "{answer} should be a sympy expression (or a string such as '2*x'), but it is {type}."}

    def check_spec(self, spec: dict) -> None:
        symbols = spec.get("symbols")
        if not isinstance(symbols, list) or not symbols or not all(is_identifier(s) for s in symbols):
            raise BadSpec("an expression spec needs `symbols`, a non-empty list of names")
        if not isinstance(spec.get("positive", False), bool):
            raise BadSpec("`positive` must be True or False")

    def read(self, obj, payload: dict, timeout: float) -> dict:
        with Alarm(timeout):
            if isinstance(obj, str):
                return {"status": "ok", "text": obj[:MAX_CHARS]}
            number = isinstance(obj, (int, float)) and not isinstance(obj, bool)
            if isinstance(obj, sympy_types()) or number:
                text = str(obj)
                if len(text) > MAX_CHARS:
                    return {"status": "error", "error": f"expression longer than {MAX_CHARS} characters"}
                return {"status": "ok", "text": text}
            return {"status": "bad_type", "type": type(obj).__name__[:100]}

    def reference(self, entry, what: str) -> str:
        if not isinstance(entry, dict) or entry.get("status") != "ok" or not isinstance(entry.get("text"), str):
            why = (entry.get("error") or entry.get("status")) if isinstance(entry, dict) else "not evaluated"
            raise ReferenceError_(f"{what}: {why}")
        return entry["text"]

    def same(self, got: str, value: str, ex: Exercise) -> bool:
        from chainrule_utils.symbolic import equivalent

        return equivalent(got, value, symbols=_symbols(ex), timeout=EXPR_TIMEOUT)

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        from chainrule_utils.symbolic import compare_expressions, parse_expression

        syms = _symbols(ex)
        exp_text = self.reference(ref.get("expected"), "the reference answer")
        try:
            exp = parse_expression(exp_text, syms)
        except ValueError as exc:
            raise ReferenceError_(f"reference does not parse: {exc}") from None
        got_text = answer.get("text")
        if not isinstance(got_text, str):
            raise WireError("no text")
        report = compare_expressions(got_text, exp, symbols=syms, timeout=EXPR_TIMEOUT)
        if report:
            return Verdict(1.0)
        if report.kind == "invalid":
            return Verdict(0.0, "invalid", report.message)
        hit = self.catalogued(ex, ref, got_text)
        if hit is not None:
            return Verdict(hit.max_score, hit.mistake, hit.message)
        return Verdict(0.0, report.kind, report.message)


    def observed(self, entry) -> str:
        return self.reference(entry, "answer")

    def selfcheck_data(self, ex: Exercise, ref: dict, salt: str) -> dict:
        import random

        import numpy as np
        import sympy

        from chainrule_utils import fingerprint as fp
        from chainrule_utils.selfcheck import expression_print
        from chainrule_utils.symbolic import probe

        symbols = _symbols(ex)
        try:
            exp = probe.read_expression(self.reference(ref.get("expected"), "the reference answer"), symbols)
        except ValueError as exc:
            raise ReferenceError_(f"reference does not parse: {exc}") from None
        rng = random.Random(salt)
        for _ in range(SELFCHECK_TRIES):
            points = probe.draw_points(symbols, SELFCHECK_POINTS, rng)
            values = probe.values_at(exp, points, symbols, timeout=20.0)
            if values is not None and np.isfinite(values).all():
                break
        else:
            raise ReferenceError_("the reference answer is not defined at any points the self-check drew")

        def at(e):
            return probe.values_at(e, points, symbols, timeout=20.0)

        wrong = []
        for k in range(len(ex.wrong)):
            try:
                text = self.reference((ref.get("wrong") or [None] * (k + 1))[k], "wrong answer")
                wrong.append(at(probe.read_expression(text, symbols)))
            except (ReferenceError_, ValueError):
                wrong.append(None)
        missing_term = [at(exp - t) for t in probe.additive_terms(exp)]
        missing_factor = [at(exp / q) for q in probe.short_factors(exp)]
        stored = [values] + [v for v in wrong + missing_term + missing_factor if v is not None]
        scale = fp.scale_of(stored)
        exact = fp.choose_grid([x for v in stored for x in v.ravel()], fp.FINEST * scale)
        u = fp.unit(values)
        unit = fp.choose_grid([] if u is None else list(u.ravel()) + list(-u.ravel()), fp.UNIT)
        grids = fp.Grids(exact, unit)
        expected = expression_print(values, exact, salt)

        def prints(arrays):
            out = [expression_print(v, exact, salt) for v in arrays if v is not None]
            return sorted({p for p in out if p != expected})

        return {"probe": "evaluate", "answer": ex.answer, "salt": salt, "symbols": list(ex.spec["symbols"]),
                "positive": bool(ex.spec.get("positive", False)), "points": points,
                "shape": list(exp.shape) if isinstance(exp, sympy.MatrixBase) else None,
                "grids": grids.to_json(), "expected": expected,
                "unit": None if u is None else fp.array_print(u, unit, salt, "x"),
                "missing_term": prints(missing_term), "missing_factor": prints(missing_factor),
                "wrong": [{"mistake": w.mistake, "message": w.message,
                           "print": None if v is None else expression_print(v, exact, salt)}
                          for w, v in zip(ex.wrong, wrong, strict=True)]}


KIND = ExpressionKind()

SELFCHECK_POINTS = 4
SELFCHECK_TRIES = 20


def _symbols(ex: Exercise) -> dict:
    """{name: sympy Symbol} for the spec's `symbols` (positive ones when `positive`)."""
    import sympy

    positive = bool(ex.spec.get("positive", False))
    return {n: sympy.Symbol(n, positive=True) if positive else sympy.Symbol(n) for n in ex.spec["symbols"]}
