"""Kind "chain_steps": a derivation graded step by step, in four equal parts of credit.

Spec keys: `function` (the expression differentiated, as a string) and `variable` (its variable). The
answer is a dict {"intermediates": {name: expression}, "local": {name: derivative}, "product": text,
"result": text} (course/AUTHORING.md). Sandbox: sympy objects inside it are sent as text. Grader
(`chain_credit`): the intermediates compose back to `function`; each local derivative is right for the
student's own intermediates; the product, substituted back, is the derivative; the result is the
derivative in `variable` only. Feedback names the first wrong part; a catalogued wrong derivation (the
same expressions, part by part) caps the credit at its max_score.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from autograder.alarm import Alarm
from autograder.kinds._numbers import sympy_types
from autograder.kinds.base import EXPR_TIMEOUT, BadSpec, Kind, Verdict, is_identifier
from autograder.wire import decode, encode

if TYPE_CHECKING:
    from autograder.spec import Exercise

CHAIN_TIMEOUT = 30.0
CHAIN_PARTS = ("intermediates", "local", "product", "result")


class ChainStepsKind(Kind):
    keys = frozenset({"function", "variable"})

    def check_spec(self, spec: dict) -> None:
        if not isinstance(spec.get("function"), str) or not spec["function"].strip():
            raise BadSpec("a chain_steps spec needs `function`, the expression as a string")
        if not is_identifier(spec.get("variable")):
            raise BadSpec("a chain_steps spec needs `variable`, a name such as 'x'")

    def read(self, obj, payload: dict, timeout: float) -> dict:
        with Alarm(timeout):
            return {"status": "ok", "value": encode(_plain(obj))}

    def same(self, got, value, ex: Exercise) -> bool:
        return _same_derivation(got, value)

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        from chainrule_utils.symbolic.timelimit import call_with_timeout

        got = decode(answer["value"])
        finished, outcome = call_with_timeout(chain_credit, CHAIN_TIMEOUT, ex.spec["function"],
                                              ex.spec["variable"], got)
        if not finished:
            return Verdict(0.0, "timeout", f"Your derivation could not be checked within {CHAIN_TIMEOUT:g} s; "
                                           "simplify the intermediate expressions.")
        parts, first_message = outcome
        credit = sum(parts.values()) / len(CHAIN_PARTS)
        detail = {"parts": parts}
        if credit == 1.0:
            return Verdict(1.0, None, None, detail)
        hit = self.catalogued(ex, ref, got)
        if hit is not None:
            return Verdict(min(credit, hit.max_score), hit.mistake, hit.message, detail)
        return Verdict(credit, next(p for p in CHAIN_PARTS if not parts[p]), first_message, detail)


KIND = ChainStepsKind()


def _plain(obj, depth=0):
    """Strings for sympy objects inside a (nested) dict; numbers as text; other values untouched."""
    if depth > 5:
        return obj
    if isinstance(obj, dict):
        return {(k if isinstance(k, str) else _plain(k, depth + 1)): _plain(v, depth + 1)
                for k, v in obj.items()}
    if isinstance(obj, sympy_types()):
        return str(obj)
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return repr(obj)
    return obj


def _same_derivation(got, wrong) -> bool:
    """Whether two derivations hold the same expressions, part by part (parsed, not simplified)."""
    from chainrule_utils.symbolic import parse_expression

    def norm(d):
        if not isinstance(d, dict):
            return None
        out = {}
        for key in CHAIN_PARTS:
            v = d.get(key)
            try:
                if isinstance(v, dict):
                    out[key] = {str(a): parse_expression(b) for a, b in v.items()}
                else:
                    out[key] = parse_expression(v)
            except (ValueError, TypeError):
                out[key] = v
        return out

    a, b = norm(got), norm(wrong)
    return a is not None and a == b


def chain_credit(function: str, variable: str, got) -> tuple[dict, str | None]:
    """The four parts of a chain_steps answer ({part: 0 or 1}) and the message of the first wrong one."""
    import sympy

    from chainrule_utils.symbolic import equivalent, parse_expression

    parts = dict.fromkeys(CHAIN_PARTS, 0)
    messages: dict[str, str] = {}
    var = sympy.Symbol(variable)
    f = parse_expression(function, {variable: var})
    df = sympy.diff(f, var)
    if not isinstance(got, dict):
        return parts, f"`derivation` should be a dict with keys {', '.join(CHAIN_PARTS)}."
    inter = got.get("intermediates")
    local = got.get("local")
    table = {variable: var}
    exprs: dict = {}
    arg_of: dict = {}
    composed: dict = {}
    ok_inter = isinstance(inter, dict) and 0 < len(inter) <= 50
    if ok_inter:
        for name, text in inter.items():
            if not (isinstance(name, str) and name.isidentifier()) or name == variable or name in exprs:
                messages["intermediates"] = f"{name!r} is not a usable intermediate name."
                ok_inter = False
                break
            try:
                e = parse_expression(text, dict(table))
            except (ValueError, TypeError) as exc:
                messages["intermediates"] = f"Intermediate {name} could not be read: {exc}."
                ok_inter = False
                break
            allowed = set(table.values())
            used = e.free_symbols if hasattr(e, "free_symbols") else set()
            if not used <= allowed:
                bad = ", ".join(sorted(str(s) for s in used - allowed))
                messages["intermediates"] = (f"Intermediate {name} uses {bad}, which is neither {variable} "
                                             "nor an earlier intermediate.")
                ok_inter = False
                break
            sym = sympy.Symbol(name)
            table[name] = sym
            exprs[name] = e
            arg_of[name] = [s for s in used if s in allowed]
            composed[name] = e.subs({sympy.Symbol(n): composed[n] for n in composed})
        if ok_inter:
            last = list(exprs)[-1]
            if equivalent(composed[last], f, symbols={variable: var}, timeout=EXPR_TIMEOUT):
                parts["intermediates"] = 1
            else:
                messages["intermediates"] = (f"Your intermediates compose to {composed[last]}, which is not "
                                             f"{function}.")
    else:
        messages.setdefault("intermediates", "`intermediates` should be a non-empty dict {name: expression}.")
    # local derivatives, judged against the student's own intermediates
    if ok_inter and isinstance(local, dict):
        bad_local = None
        for name, e in exprs.items():
            args = arg_of[name]
            if len(args) != 1:
                bad_local = (f"Intermediate {name} should be written in exactly one earlier name (or "
                             f"{variable}), so that its local derivative is a single derivative.")
                break
            if name not in local:
                bad_local = f"`local` has no entry for {name}."
                break
            try:
                lg = parse_expression(local[name], dict(table))
            except (ValueError, TypeError) as exc:
                bad_local = f"The local derivative of {name} could not be read: {exc}."
                break
            expected = sympy.diff(e, args[0])
            if not equivalent(lg, expected, symbols=dict(table), timeout=EXPR_TIMEOUT):
                bad_local = f"The local derivative of {name} = {e} with respect to {args[0]} is wrong."
                break
        if bad_local is None:
            parts["local"] = 1
        else:
            messages["local"] = bad_local
    else:
        messages.setdefault("local", "`local` should be a dict {intermediate: its local derivative}.")
    back = {sympy.Symbol(n): composed[n] for n in composed} if ok_inter else {}
    for key in ("product", "result"):
        text = got.get(key)
        try:
            e = parse_expression(text, dict(table))
        except (ValueError, TypeError) as exc:
            messages[key] = f"`{key}` could not be read: {exc}."
            continue
        if key == "result" and not e.free_symbols <= {var}:
            messages[key] = f"`result` should be written in {variable} only."
            continue
        # substitute from the last intermediate down so nested names resolve
        for n in reversed(list(composed)):
            e = e.subs(sympy.Symbol(n), back[sympy.Symbol(n)])
        if equivalent(e, df, symbols={variable: var}, timeout=EXPR_TIMEOUT):
            parts[key] = 1
        else:
            messages[key] = ("Your product of local derivatives, with the intermediates substituted back, is "
                             "not the derivative." if key == "product"
                             else "Your final result is not the derivative.")
    first = next((p for p in CHAIN_PARTS if not parts[p]), None)
    return parts, (messages.get(first) if first else None)
