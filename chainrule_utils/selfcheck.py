"""The student's self-check: ``check("02_jac_h", jac_h)`` in an exercise's test cell.

It says what the grader knows, and reveals nothing: it names every catalogued mistake the grader
names for that exercise, in the grader's own sentence, and the grader's generic diagnoses (sign,
transpose, constant factor, diagonal, shape, ...; chainrule_utils.verdicts) with the grader's
sentences, and never prints an expected value or formula. It knows the expected answer only as
fingerprints (chainrule_utils.fingerprint) stored by ``autograder release`` in ``selfcheck.json``,
next to the student's notebook: the data holds salted hashes of rounded values, the fixed points
where they were taken, and the expected shape, nothing else.

How an answer is observed (the primitive the exercise's data names in "probe"):
- "call": the function is called at the stored points (on copies of the arguments);
- "evaluate": the expression is read like the grader reads it (parsed safely, symbols by name) and
  evaluated at stored values of its symbols;
- "value": the value as data (chainrule_utils.values.plain: the grader's value rule);
- "derivation": a chain-rule derivation, checked part by part by the grader's own code
  (chainrule_utils.chain_steps; this may differentiate the student's own intermediates).

``check`` never raises for a missing data file (one line says how to get it); a wrong answer raises
``SelfCheckFailed`` (an AssertionError whose cell output is just the sentence).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fingerprint as fp
from . import verdicts
from .diagnosis import _as_numeric
from .values import Other, is_number, plain

DATA_FILE = "selfcheck.json"
FORMAT = 1
MAX_SEARCHED_OPS = 300
MISSING = ("Self-check unavailable: the file selfcheck.json is not next to this notebook. Download the "
           "whole assignment folder again (or fetch the assignment again) and keep selfcheck.json beside "
           "the notebook.")


class SelfCheckFailed(AssertionError):
    """A self-check that found a mistake; in a notebook its output is the sentence, without a traceback."""

    def _render_traceback_(self):  # IPython shows these lines instead of a traceback
        return [f"\x1b[0;31m{self}\x1b[0m"]


@dataclass
class Result:
    """What the self-check found: right, or the mistake (its id, as the grader's) and its sentence."""

    right: bool
    mistake: str | None = None
    message: str | None = None
    note: str = ""
    credit: float | None = None   # a derivation's share of the points (parts right / 4)


# ---------------------------------------------------------------------------------------------
# the data file


_CACHE: dict = {}


def load(folder: str | Path | None = None) -> dict | None:
    """The self-check data next to the notebook (the kernel's working folder), or None."""
    path = Path(folder or Path.cwd()) / DATA_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("exercises"), dict):
        return None
    _CACHE[path] = (stamp, data)
    return data


def check(exercise_id: str, answer) -> None:
    """Check `answer` for the exercise `exercise_id`: print one line when it agrees with what the grader
    expects, raise SelfCheckFailed naming the mistake otherwise."""
    data = load()
    if data is None:
        print(MISSING)
        return
    ex = data["exercises"].get(exercise_id)
    if not isinstance(ex, dict):
        print(f"Self-check unavailable: selfcheck.json has no data for {exercise_id}: download the assignment "
              "folder again.")
        return
    result = evaluate(ex, answer)
    name = ex.get("answer", "the answer")
    if result.right:
        print(f"{name} passes the self-check{result.note}.")
        return
    raise SelfCheckFailed(f"Self-check of {name}{result.note}: {result.message}")


def evaluate(ex: dict, answer) -> Result:
    """The self-check's finding for a live answer object."""
    return judge(ex, observe(ex, answer))


# ---------------------------------------------------------------------------------------------
# observing an answer (the primitives)


def observe(ex: dict, answer):
    """What the grader would read of `answer`, as plain data (the input of `judge`)."""
    probe = ex["probe"]
    if probe == "call":
        if not callable(answer):
            return Other(type(answer).__name__)
        out = []
        for point in ex["points"]:
            args = decode_args(point)
            try:
                out.append(("ok", plain(answer(*copy.deepcopy(args)))))
            except Exception as exc:  # the student's function may raise anything
                out.append(("error", error_text(exc)))
        return out
    if probe == "value":
        return plain(answer)
    if probe == "derivation":
        from .chain_steps import plain_derivation

        return plain_derivation(answer)
    if probe == "evaluate":
        return answer
    raise ValueError(f"unknown self-check probe {probe!r}")


def error_text(exc: BaseException) -> str:
    """`exc` as one line, the way the grader reports an error."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:300]


def encode_args(args: list) -> list:
    """Arguments of a call as JSON: numbers, strings, booleans, None and arrays ({"array", "dtype"})."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            kind = {"b": "bool", "i": "int", "u": "int"}.get(a.dtype.kind, "float")
            out.append({"array": a.tolist(), "dtype": kind})
        elif a is None or isinstance(a, (bool, int, float, str)):
            out.append(a)
        else:
            raise ValueError(f"a self-check point cannot hold a {type(a).__name__}")
    return out


def decode_args(point: list) -> list:
    out = []
    for a in point:
        if isinstance(a, dict):
            out.append(np.array(a["array"], dtype={"bool": bool, "int": np.int64}.get(a["dtype"], float)))
        else:
            out.append(a)
    return out


# ---------------------------------------------------------------------------------------------
# judging an observation against the data


def judge(ex: dict, observed) -> Result:
    """The finding for an observation (also run by a release on the source's own answers)."""
    probe = ex["probe"]
    if probe == "call":
        out = _judge_call(ex, observed)
    elif probe == "value":
        out = _judge_value(ex, observed)
    elif probe == "evaluate":
        out = _judge_expression(ex, observed)
    elif probe == "derivation":
        return _judge_derivation(ex, observed)
    else:
        raise ValueError(f"unknown self-check probe {probe!r}")
    return _result(ex, out)


def _result(ex: dict, out: verdicts.Outcome, note: str = "") -> Result:
    if out.wrong is not None:
        w = ex["wrong"][out.wrong]
        return Result(False, w["mistake"], w["message"], note)
    if out.mistake is None:
        return Result(True, note=note)
    return Result(False, out.mistake, out.message, note)


def _judge_call(ex: dict, observed) -> verdicts.Outcome:
    name = ex["answer"]
    if isinstance(observed, Other):
        return verdicts.Outcome("not_callable", f"{name} should be a function, but it is "
                                                f"{_article(observed.type_name)}.")
    grids = fp.Grids.from_json(ex["grids"])
    salt = ex["salt"]
    refs = [fp.PrintedReference(p, grids, salt, i) for i, p in enumerate(ex["expected"])]

    def numeric(v):
        arr, bad = _as_numeric(verdicts.diagnosable(v), np.zeros(1))
        return None if bad is not None else arr

    def catalogue(values):
        arrays = [numeric(v) for v in values]
        if any(a is None for a in arrays):
            return None
        for k, w in enumerate(ex["wrong"]):
            prints = w.get("prints")
            if prints and all(fp.array_print(a, grids.exact, salt, i) == p
                              for i, (a, p) in enumerate(zip(arrays, prints, strict=True))):
                return k
        return None

    def approximate(values):
        return all(r.approx_all(v) for r, v in zip(refs, values, strict=True))

    def joint_factor(values):
        arrays = [numeric(v) for v in values]
        stored = ex.get("joint_unit")
        if stored is None or any(a is None for a in arrays):
            return False
        u = fp.unit(np.concatenate([a.ravel() for a in arrays]))
        return u is not None and stored in (fp.array_print(u, grids.unit, salt, "joint"),
                                            fp.array_print(-u, grids.unit, salt, "joint"))

    return verdicts.points(name, observed, refs, catalogue=catalogue, hand=bool(ex.get("hand")),
                           approximate=approximate, joint_factor=joint_factor)


class _PrintedValue(verdicts.ValueReference):
    def __init__(self, ex: dict):
        self.grids = fp.Grids.from_json(ex["grids"])
        self.salt = ex["salt"]
        self.stored = ex["expected"]
        self.cls = self.stored["class"]
        self.description = self.stored["describe"]
        numeric = self.stored.get("numeric")
        self.numeric = fp.PrintedReference(numeric, self.grids, self.salt, "v") if numeric else None

    def equal(self, got) -> bool:
        return fp.value_matches(got, self.stored, self.grids.exact, self.salt)

    def reversed_equal(self, got) -> bool:
        return fp.value_matches(type(got)(list(got)[::-1]), self.stored, self.grids.exact, self.salt)


def _judge_value(ex: dict, observed) -> verdicts.Outcome:
    ref = _PrintedValue(ex)

    def catalogue(got):
        for k, w in enumerate(ex["wrong"]):
            if w.get("value") and fp.value_matches(got, w["value"], ref.grids.exact, ref.salt):
                return k
        return None

    return verdicts.value(ex["answer"], observed, ref, catalogue=catalogue)


def _judge_derivation(ex: dict, observed) -> Result:
    from .chain_steps import credit, derivation_key, summary, verdict

    def catalogue(got):
        key = derivation_key(got)
        for k, w in enumerate(ex["wrong"]):
            if key is not None and fp.digest(ex["salt"], "d", key) == w.get("print"):
                return k
        return None

    out = verdict(ex["function"], ex["variable"], observed, catalogue=catalogue)
    parts = out.detail.get("parts", {})
    note = "" if out.right or not parts else f" ({summary(parts)})"
    result = _result(ex, out, note)
    result.credit = credit(parts)
    return result


def _article(word: str) -> str:
    return ("an " if word and word[0].lower() in "aeiou" else "a ") + word


# ---------------------------------------------------------------------------------------------
# expressions


def expression_symbols(ex: dict) -> dict:
    import sympy

    positive = bool(ex.get("positive"))
    return {n: sympy.Symbol(n, positive=True) if positive else sympy.Symbol(n) for n in ex["symbols"]}


def expression_print(values: np.ndarray, grid: fp.Grid, salt: str) -> str:
    return fp.digest(salt, "x", fp.array_key(values, grid))


def _judge_expression(ex: dict, observed) -> verdicts.Outcome:
    import sympy

    from .symbolic import compare as C
    from .symbolic import probe

    name = ex["answer"]
    if not (isinstance(observed, (str, sympy.Basic, sympy.MatrixBase)) or is_number(observed)):
        return verdicts.Outcome("bad_type", f"{name} should be a sympy expression (or a string such as '2*x'), "
                                            f"but it is {_article(type(observed).__name__)}.")
    symbols = expression_symbols(ex)
    try:
        g = probe.read_expression(observed, symbols)
    except ValueError as exc:
        return verdicts.Outcome("invalid", C.invalid_sentence(exc))
    gs = tuple(g.shape) if isinstance(g, sympy.MatrixBase) else None
    es = tuple(ex["shape"]) if ex.get("shape") is not None else None
    if gs != es:
        return verdicts.Outcome("different", C.shape_sentence(gs, es))
    hint = C.name_hint({str(s) for s in getattr(g, "free_symbols", ())} - set(symbols))
    grids = fp.Grids.from_json(ex["grids"])
    salt = ex["salt"]
    points = ex["points"]
    expected = ex["expected"]

    def key(arr):
        return expression_print(arr, grids.exact, salt)

    values = probe.values_at(g, points, symbols)
    if values is None:
        return verdicts.Outcome("different", "Your expression could not be compared with the expected one "
                                             "in time.")
    if key(values) == expected:
        return verdicts.Outcome(None)
    for k, w in enumerate(ex["wrong"]):
        if w.get("print") == key(values):
            return verdicts.Outcome(None, wrong=k)
    finite = bool(np.isfinite(values).all())
    small = sympy.count_ops(g) <= MAX_SEARCHED_OPS  # a term or factor too many is searched in short answers
    if finite and key(-values) == expected:
        return verdicts.Outcome("sign", C.SIGN + hint)
    found, ratio = _ratio(values, ex, grids, salt, key) if finite else (False, None)
    if found:
        return verdicts.Outcome("factor", C.factor_sentence(ratio) + hint)
    if gs is None and finite:
        if key(values) in ex.get("missing_term", []):
            return verdicts.Outcome("missing_term", C.MISSING_TERM + hint)
        for term in probe.additive_terms(g) if small else ():
            tv = probe.values_at(term, points, symbols, timeout=1.0)
            if tv is not None and key(values - tv) == expected:
                return verdicts.Outcome("different", C.EXTRA_TERM + hint)
    if gs is not None and gs[0] == gs[1] and key(np.transpose(values, (0, 2, 1))) == expected:
        return verdicts.Outcome("different", C.TRANSPOSE + hint)
    if gs is None and finite:
        if key(values) in ex.get("missing_factor", []):
            return verdicts.Outcome("different", C.MISSING_FACTOR + hint)
        for q in probe.short_factors(g) if small else ():
            qv = probe.values_at(q, points, symbols, timeout=1.0)
            if qv is not None and np.all(qv != 0) and key(values / qv) == expected:
                return verdicts.Outcome("different", C.EXTRA_FACTOR + hint)
    return verdicts.Outcome("different", C.DIFFERENT + hint)


def _ratio(values, ex, grids, salt, key) -> tuple[bool, float | None]:
    """Whether values == c · expected for a constant c (not 0 or ±1), as the fingerprints show, and c
    when it is a telling one (2, 1/2, ...): any other constant is named without its number."""
    from .diagnosis import nice_ratios

    u = fp.unit(values)
    stored = ex.get("unit")
    if u is None or stored is None:
        return False, None
    if fp.array_print(u, grids.unit, salt, "x") == stored:
        negative = False
    elif fp.array_print(-u, grids.unit, salt, "x") == stored:
        negative = True
    else:
        return False, None
    for c in nice_ratios():
        if (c < 0) == negative and key(values / c) == ex["expected"]:
            return True, c
    return True, None
