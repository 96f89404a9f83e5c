"""Decide one exercise in the grader's process, from plain data only.

Inputs: the Exercise, the reference entry (what the source notebook's answer and each catalogued
wrong answer gave at the same probes) and the student's answer as sent by the sandbox (untrusted).
Output: a Verdict with credit in [0, 1] (0/1 except chain_steps: four equal parts), the mistake id
(a `diagnose` kind, a catalogue id or one of ours: missing, unanswered, error, not_callable,
bad_type, invalid, forbidden, stopped, grader_error) and one student-facing message.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from autograder.spec import Exercise
from autograder.wire import Opaque, WireError, decode

EXPR_TIMEOUT = 2.0
CHAIN_TIMEOUT = 30.0
_LOG = logging.getLogger(__name__)


@dataclass
class Verdict:
    credit: float
    mistake: str | None = None
    message: str | None = None
    detail: dict = field(default_factory=dict)


class ReferenceError_(Exception):
    """The source notebook's own answer could not be evaluated (an authoring problem)."""


def judge(ex: Exercise, ref: dict, answer: dict | None) -> Verdict:
    """The verdict for one exercise; `answer` is None when the sandbox never reached it.

    Never raises (except KeyboardInterrupt/SystemExit): whatever goes wrong while judging this one
    exercise scores it 0 with mistake "error" and is logged; the rest of the submission is unaffected.
    """
    try:
        return _judge(ex, ref, answer)
    except Exception as exc:  # noqa: BLE001  (hostile data or a grader bug: this exercise only)
        try:
            why = _short(f"{type(exc).__name__}: {exc}", 200)
        except Exception:  # noqa: BLE001  (an exception whose str() fails)
            why = type(exc).__name__
        _LOG.warning("judging %s failed: %s", ex.grade_id, why)
        return Verdict(0.0, "error", "Your answer could not be judged; it scores 0.", {"why": why})


def _judge(ex: Exercise, ref: dict, answer: dict | None) -> Verdict:
    if answer is None:
        return Verdict(0.0, "missing", f"`{ex.answer}` was never evaluated.")
    status = answer.get("status") if isinstance(answer, dict) else None
    if status == "missing":
        return Verdict(0.0, "missing", f"`{ex.answer}` is not defined when its test cell runs: run your "
                                       "answer cell without errors (and keep the name).")
    if status == "not_callable":
        return Verdict(0.0, "not_callable", f"`{ex.answer}` should be a function, but it is a "
                                            f"{_short(answer.get('type'))}.")
    if status == "bad_type":
        return Verdict(0.0, "bad_type", f"`{ex.answer}` should be a sympy expression (or a string such as "
                                        f"'2*x'), but it is a {_short(answer.get('type'))}.")
    if status == "error":
        return Verdict(0.0, "error", f"Reading `{ex.answer}` failed: {_short(answer.get('error'), 200)}.")
    if status != "ok":
        return Verdict(0.0, "invalid", "The answer could not be read.")
    try:
        if ex.kind == "function":
            return _judge_function(ex, ref, answer)
        if ex.kind == "value":
            return _judge_value(ex, ref, answer)
        if ex.kind == "expression":
            return _judge_expression(ex, ref, answer)
        return _judge_chain(ex, ref, answer)
    except ReferenceError_ as exc:
        return Verdict(0.0, "grader_error", "This exercise could not be graded automatically; your "
                                            "instructor will look at it.", {"reference": str(exc)})
    except (WireError, KeyError, TypeError, ValueError) as exc:
        return Verdict(0.0, "invalid", "The answer could not be read.", {"why": _short(str(exc), 200)})


# ---------------------------------------------------------------------------------------------
# function


def _expected_probes(entry: dict | None, what: str) -> list:
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        why = entry.get("error") or entry.get("status") if isinstance(entry, dict) else "not evaluated"
        raise ReferenceError_(f"{what}: {why}")
    out = []
    for p in entry["probes"]:
        if "ok" not in p:
            raise ReferenceError_(f"{what} raised {p.get('error')}")
        out.append(decode(p["ok"]))
    return out


def _student_probes(answer: dict) -> list:
    probes = answer.get("probes")
    if not isinstance(probes, list):
        raise WireError("no probes")
    out = []
    for p in probes:
        if isinstance(p, dict) and "ok" in p:
            out.append(("ok", decode(p["ok"])))
        elif isinstance(p, dict) and isinstance(p.get("error"), str):
            out.append(("error", p["error"][:300]))
        else:
            raise WireError("bad probe result")
    return out


def _numeric_match(got, exp, rtol: float, atol: float):
    """diagnose(got, exp) without expected values in its message (they would give the answer away); a
    value the sandbox could not send is never a match."""
    from chainrule_utils import diagnose

    if isinstance(got, Opaque):
        got = f"<{got.type_name}>"
    return diagnose(got, exp, rtol=rtol, atol=atol, reveal=False)


# kinds that claim one mistake explains the whole answer: named only when every failing probe agrees
_SYSTEMATIC = ("sign", "factor", "transpose", "diag_only", "diag_vector", "diag_matrix")


def _consistent(failing: list) -> bool:
    """Whether the first failing diagnosis holds at every failing probe (same kind; same factor)."""
    first = failing[0]
    if first.kind not in _SYSTEMATIC:
        return True
    for d in failing[1:]:
        if d.kind != first.kind:
            return False
        if first.kind == "factor":
            a, b = first.details.get("factor"), d.details.get("factor")
            if not isinstance(a, float) or not isinstance(b, float) or abs(a - b) > 1e-6 * max(abs(a), abs(b)):
                return False
    return True


def _judge_function(ex: Exercise, ref: dict, answer: dict) -> Verdict:
    expected = _expected_probes(ref.get("expected"), "the reference answer")
    got = _student_probes(answer)
    if len(got) != len(expected):
        raise WireError("probe count differs")
    detail = {"probes": len(expected), "rtol": ex.rtol, "atol": ex.atol}
    for status, value in got:
        if status == "error":
            if value.startswith("NotImplementedError"):
                return Verdict(0.0, "unanswered", f"`{ex.answer}` still raises NotImplementedError: not "
                                                  "answered yet.", detail)
            return Verdict(0.0, "error", f"Calling `{ex.answer}` raised {value}", detail)
    diagnoses = [_numeric_match(g, e, ex.rtol, ex.atol) for (_, g), e in zip(got, expected, strict=True)]
    if all(diagnoses):
        return Verdict(1.0, None, None, detail)
    hit = _catalogue_function(ex, ref, [g for _, g in got])
    if hit is not None:
        return Verdict(hit.max_score, hit.mistake, hit.message, detail)
    if ex.hand and all(_numeric_match(g, e, 1e-5, 0.0) for (_, g), e in zip(got, expected, strict=True)):
        return Verdict(0.0, "approximate", "Your values are close to the derivative but not exact (they agree to "
                                           "about 1e-5 but not to the 1e-11 a formula gives): this looks like a "
                                           "numerical approximation. Derive the exact formula by hand.", detail)
    failing = [d for d in diagnoses if not d]
    first = failing[0]
    if not _consistent(failing):
        return Verdict(0.0, "wrong", f"Your values are wrong at {len(failing)} of {len(diagnoses)} grading points, "
                                     "and no single common mistake (sign, transpose, constant factor) explains "
                                     "them all: re-derive the formula.", detail)
    detail.update(_safe_details(first.details))
    return Verdict(0.0, first.kind, first.message, detail)


def _catalogue_function(ex: Exercise, ref: dict, got: list):
    for k, w in enumerate(ex.wrong):
        try:
            wexp = _expected_probes(_wrong_entry(ref, k), "wrong answer")
        except (ReferenceError_, WireError):
            continue
        if len(wexp) == len(got) and all(_numeric_match(g, e, ex.rtol, ex.atol) for g, e in zip(got, wexp,
                                                                                               strict=True)):
            return w
    return None


def _wrong_entry(ref: dict, k: int):
    wrong = ref.get("wrong") or []
    return wrong[k] if k < len(wrong) else None


def _safe_details(details: dict) -> dict:
    out = {}
    for key, value in (details or {}).items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)):
            out[key] = [list(v) if isinstance(v, tuple) else v for v in list(value)[:20]]
    return out


# ---------------------------------------------------------------------------------------------
# value


def _value_of(entry, what: str):
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        why = (entry.get("error") or entry.get("status")) if isinstance(entry, dict) else "not evaluated"
        raise ReferenceError_(f"{what}: {why}")
    return decode(entry["value"])


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
        return bool(_numeric_match(np.asarray(got), np.asarray(exp), rtol, atol))
    if isinstance(exp, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            return False
        return all(values_equal(g, e, rtol, atol) for g, e in zip(got, exp, strict=True))
    if isinstance(exp, np.ndarray):
        return bool(_numeric_match(got, exp, rtol, atol))
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


def _judge_value(ex: Exercise, ref: dict, answer: dict) -> Verdict:
    exp = _value_of(ref.get("expected"), "the reference answer")
    got = decode(answer["value"])
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        got = _number_of_0d(got)
    if values_equal(got, exp, ex.rtol, ex.atol):
        return Verdict(1.0)
    for k, w in enumerate(ex.wrong):
        try:
            wv = _value_of(_wrong_entry(ref, k), "wrong answer")
        except (ReferenceError_, WireError):
            continue
        if values_equal(got, wv, ex.rtol, ex.atol):
            return Verdict(w.max_score, w.mistake, w.message)
    if isinstance(exp, np.ndarray) or (isinstance(exp, float) and isinstance(got, (int, float, np.ndarray))):
        d = _numeric_match(got, exp, ex.rtol, ex.atol)
        if not d:
            return Verdict(0.0, d.kind, d.message, _safe_details(d.details))
    if isinstance(exp, tuple) and isinstance(got, (tuple, list)) and len(exp) == len(got) > 1 \
            and values_equal(list(got)[::-1], list(exp), ex.rtol, ex.atol):
        return Verdict(0.0, "transpose", "Your tuple is in reverse order: for a shape, numerator layout puts "
                                         "the outputs first and the inputs second.")
    if type(got) is not type(exp) and not (isinstance(got, (int, float)) and isinstance(exp, (int, float))):
        if not (isinstance(exp, tuple) and isinstance(got, list)):
            return Verdict(0.0, "bad_type",
                           f"`{ex.answer}` should be {_describe(exp)}, but it is {_describe(got)}.")
    return Verdict(0.0, "wrong", f"`{ex.answer}` has the wrong value.")


# ---------------------------------------------------------------------------------------------
# expression


def _symbols(ex: Exercise) -> dict:
    import sympy

    positive = bool(ex.spec.get("positive", False))
    names = ex.spec.get("symbols") or [ex.spec.get("variable", "x")]
    return {n: sympy.Symbol(n, positive=True) if positive else sympy.Symbol(n) for n in names}


def _text_of(entry, what: str) -> str:
    if not isinstance(entry, dict) or entry.get("status") != "ok" or not isinstance(entry.get("text"), str):
        why = (entry.get("error") or entry.get("status")) if isinstance(entry, dict) else "not evaluated"
        raise ReferenceError_(f"{what}: {why}")
    return entry["text"]


def _judge_expression(ex: Exercise, ref: dict, answer: dict) -> Verdict:
    from chainrule_utils.symbolic import compare_expressions, equivalent, parse_expression

    syms = _symbols(ex)
    exp_text = _text_of(ref.get("expected"), "the reference answer")
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
    for k, w in enumerate(ex.wrong):
        try:
            wtext = _text_of(_wrong_entry(ref, k), "wrong answer")
        except ReferenceError_:
            continue
        if equivalent(got_text, wtext, symbols=syms, timeout=EXPR_TIMEOUT):
            return Verdict(w.max_score, w.mistake, w.message)
    return Verdict(0.0, report.kind, report.message)


# ---------------------------------------------------------------------------------------------
# chain_steps

CHAIN_PARTS = ("intermediates", "local", "product", "result")


def _judge_chain(ex: Exercise, ref: dict, answer: dict) -> Verdict:
    from chainrule_utils.symbolic.timelimit import call_with_timeout

    got = decode(answer["value"])
    finished, outcome = call_with_timeout(chain_credit, CHAIN_TIMEOUT, ex.spec["function"], ex.spec["variable"],
                                          got)
    if not finished:
        return Verdict(0.0, "timeout", f"Your derivation could not be checked within {CHAIN_TIMEOUT:g} s; "
                                       "simplify the intermediate expressions.")
    parts, first_message = outcome
    credit = sum(parts.values()) / len(CHAIN_PARTS)
    detail = {"parts": parts}
    if credit < 1.0:
        for k, w in enumerate(ex.wrong):
            try:
                wv = _value_of(_wrong_entry(ref, k), "wrong answer")
            except (ReferenceError_, WireError):
                continue
            if _same_derivation(got, wv, ex.spec["variable"]):
                return Verdict(min(credit, w.max_score), w.mistake, w.message, detail)
    if credit == 1.0:
        return Verdict(1.0, None, None, detail)
    return Verdict(credit, next(p for p in CHAIN_PARTS if not parts[p]), first_message, detail)


def _same_derivation(got, wrong, variable: str) -> bool:
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


def _short(text, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
