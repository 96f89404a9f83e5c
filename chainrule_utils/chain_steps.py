"""A chain-rule derivation graded step by step: one definition for the grader (autograder.kinds.
chain_steps) and the student's self-check (chainrule_utils.selfcheck).

The answer is a dict {"intermediates": {name: expression}, "local": {name: derivative}, "product":
text, "result": text} (course/AUTHORING.md). ``chain_credit`` gives four equal parts: the
intermediates compose back to the function; each local derivative is right for the student's OWN
intermediates (it differentiates them: the check may, the answer may not); the product, with the
intermediates substituted back, is the derivative; the result is the derivative in the variable only.
Its sentences name the first wrong part and never print the derivative.

``derivation_key`` is the text a catalogued wrong derivation is recognised by: the parsed (not
simplified) expressions, part by part, so that the grader and the fingerprints of a self-check match
exactly the same answers.
"""
from __future__ import annotations

import json

CHAIN_PARTS = ("intermediates", "local", "product", "result")
CHAIN_TIMEOUT = 30.0
EXPR_TIMEOUT = 2.0


def plain_derivation(obj, depth=0):
    """Strings for sympy objects inside a (nested) dict; numbers as text; other values untouched."""
    import sys

    if depth > 5:
        return obj
    if isinstance(obj, dict):
        return {(k if isinstance(k, str) else plain_derivation(k, depth + 1)): plain_derivation(v, depth + 1)
                for k, v in obj.items()}
    sp = sys.modules.get("sympy")
    if sp is not None and isinstance(obj, (sp.Basic, sp.MatrixBase)):
        return str(obj)
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return repr(obj)
    return obj


def derivation_key(d) -> str | None:
    """The derivation's expressions, parsed part by part, as one canonical text (None: not a dict)."""
    import sympy

    from .symbolic import parse_expression

    if not isinstance(d, dict):
        return None

    def one(v):
        try:
            return sympy.srepr(parse_expression(v))
        except (ValueError, TypeError):
            return "raw:" + repr(v)[:2000]

    out = {}
    for key in CHAIN_PARTS:
        v = d.get(key)
        if isinstance(v, dict):
            out[key] = sorted([str(a), one(b)] for a, b in v.items())
        else:
            out[key] = one(v)
    return json.dumps(out, sort_keys=True)


def same_derivation(got, wrong) -> bool:
    """Whether two derivations hold the same expressions, part by part (parsed, not simplified)."""
    a = derivation_key(got)
    return a is not None and a == derivation_key(wrong)


def chain_credit(function: str, variable: str, got) -> tuple[dict, str | None]:
    """The four parts of a derivation ({part: 0 or 1}) and the sentence naming the first wrong one."""
    import sympy

    from .symbolic import equivalent, parse_expression

    parts = dict.fromkeys(CHAIN_PARTS, 0)
    messages: dict[str, str] = {}
    var = sympy.Symbol(variable)
    f = parse_expression(function, {variable: var})
    df = sympy.diff(f, var)
    if not isinstance(got, dict):
        return parts, f"The derivation should be a dict with the keys {', '.join(CHAIN_PARTS)}."
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
        messages.setdefault("intermediates", "The intermediates should be a non-empty dict "
                                             "{name: expression}.")
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
                bad_local = f"The local derivatives have no entry for {name}."
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
        messages.setdefault("local", "The local derivatives should be a dict {intermediate: its local "
                                     "derivative}.")
    back = {sympy.Symbol(n): composed[n] for n in composed} if ok_inter else {}
    for key in ("product", "result"):
        text = got.get(key)
        try:
            e = parse_expression(text, dict(table))
        except (ValueError, TypeError) as exc:
            messages[key] = f"The {key} could not be read: {exc}."
            continue
        if key == "result" and not e.free_symbols <= {var}:
            messages[key] = f"The result should be written in {variable} only."
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


def summary(parts: dict) -> str:
    """'3 of 4 parts right' style text for a partial derivation."""
    right = sum(1 for p in CHAIN_PARTS if parts.get(p))
    return f"{right} of {len(CHAIN_PARTS)} parts right"


def verdict(function: str, variable: str, got, *, catalogue):
    """chainrule_utils.verdicts.Outcome of a derivation; ``detail["parts"]`` holds the parts' credit.
    catalogue(got): index of the catalogued wrong derivation it equals (``derivation_key``), or None."""
    from .symbolic.timelimit import call_with_timeout
    from .verdicts import Outcome

    finished, result = call_with_timeout(chain_credit, CHAIN_TIMEOUT, function, variable, got)
    if not finished:
        return Outcome("timeout", f"Your derivation could not be checked within {CHAIN_TIMEOUT:g} s; "
                                  "simplify the intermediate expressions.", {"parts": dict.fromkeys(CHAIN_PARTS, 0)})
    parts, first_message = result
    detail = {"parts": parts}
    if all(parts.values()):
        return Outcome(None, None, detail)
    hit = catalogue(got)
    if hit is not None:
        return Outcome(None, None, detail, wrong=hit)
    return Outcome(next(p for p in CHAIN_PARTS if not parts[p]), first_message, detail)


def credit(parts: dict) -> float:
    return sum(1 for p in CHAIN_PARTS if parts.get(p)) / len(CHAIN_PARTS)
