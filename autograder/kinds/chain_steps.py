"""Kind "chain_steps": a derivation graded step by step, in four equal parts of credit.

Spec keys: `function` (the expression differentiated, as a string) and `variable` (its variable). The
answer is a dict {"intermediates": {name: expression}, "local": {name: derivative}, "product": text,
"result": text} (course/AUTHORING.md). Sandbox: sympy objects inside it are sent as text. Grader
(chainrule_utils.chain_steps.chain_credit, shared with the self-check): the intermediates compose back to `function`; each local derivative is right for the
student's own intermediates; the product, substituted back, is the derivative; the result is the
derivative in `variable` only. Feedback names the first wrong part; a catalogued wrong derivation (the
same expressions, part by part) caps the credit at its max_score.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from autograder.alarm import Alarm
from autograder.kinds.base import BadSpec, Kind, ReferenceError_, Verdict, is_identifier
from autograder.wire import WireError, decode, encode

if TYPE_CHECKING:
    from autograder.spec import Exercise


class ChainStepsKind(Kind):
    keys = frozenset({"function", "variable"})

    def check_spec(self, spec: dict) -> None:
        if not isinstance(spec.get("function"), str) or not spec["function"].strip():
            raise BadSpec("a chain_steps spec needs `function`, the expression as a string")
        if not is_identifier(spec.get("variable")):
            raise BadSpec("a chain_steps spec needs `variable`, a name such as 'x'")

    def read(self, obj, payload: dict, timeout: float) -> dict:
        from chainrule_utils.chain_steps import plain_derivation

        with Alarm(timeout):
            return {"status": "ok", "value": encode(plain_derivation(obj))}

    def same(self, got, value, ex: Exercise) -> bool:
        from chainrule_utils.chain_steps import same_derivation

        return same_derivation(got, value)

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        from chainrule_utils.chain_steps import credit, verdict

        got = decode(answer["value"])

        def catalogue(value):
            hit = self.catalogued(ex, ref, value)
            return None if hit is None else ex.wrong.index(hit)

        out = verdict(ex.spec["function"], ex.spec["variable"], got, catalogue=catalogue)
        score = credit(out.detail["parts"])
        if out.wrong is not None:
            w = ex.wrong[out.wrong]
            return Verdict(min(score, w.max_score), w.mistake, w.message, out.detail)
        return Verdict(1.0 if out.mistake is None else score, out.mistake, out.message, out.detail)


    def selfcheck_data(self, ex: Exercise, ref: dict, salt: str) -> dict:
        from chainrule_utils.chain_steps import derivation_key
        from chainrule_utils.fingerprint import digest

        wrong = []
        for k, w in enumerate(ex.wrong):
            try:
                key = derivation_key(self.reference((ref.get("wrong") or [None] * (k + 1))[k], "wrong answer"))
            except (ReferenceError_, WireError):
                key = None
            wrong.append({"mistake": w.mistake, "message": w.message, "max_score": w.max_score,
                          "print": None if key is None else digest(salt, "d", key)})
        return {"probe": "derivation", "answer": ex.answer, "salt": salt, "function": ex.spec["function"],
                "variable": ex.spec["variable"], "wrong": wrong}


KIND = ChainStepsKind()
