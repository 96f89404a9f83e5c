"""Name the mistake in a computed derivative: ``diagnose(got, expected) -> Diagnosis``.

Entries match when ``|got - expected| <= atol + rtol * max(1, |expected|)`` (the grader's rule).
``got`` is untrusted: anything (None, a string, a ragged list, an object array, a complex array)
is diagnosed, never raised on. The checks run in a fixed order, the first that fits wins:

non-numeric -> shape (with transpose / diagonal-vector / diagonal-matrix / reshape hints) ->
non-finite -> ok -> sign -> transpose -> factor -> diagonal only -> some entries -> wrong.

A correct answer is always "ok" (it is tested before any mistake), and a mistake is only named when
every entry is explained by it, so a wrong answer is never "ok".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

KINDS = ("ok", "shape", "transpose", "sign", "factor", "diag_vector", "diag_matrix", "diag_only",
         "nonfinite", "entries", "wrong")
MAX_LISTED = 6  # indices named in a message


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with an answer. ``bool(d)`` is True iff ``d.kind == "ok"``."""

    kind: str
    message: str
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.kind == "ok"

    def __str__(self) -> str:
        return self.message


def diagnose(got, expected, *, rtol: float = 1e-7, atol: float = 0.0, reveal: bool = True) -> Diagnosis:
    """Compare ``got`` with the reference ``expected`` and name the mistake, if any.

    Entries match when ``|got - expected| <= atol + rtol * max(1, |expected|)``.
    Never raises on a bad ``got``; a bad ``expected`` (not numeric) raises ValueError.
    ``reveal=False``: messages never print an expected value (for graded feedback, where it would be
    the answer); ``details`` are the same either way.
    """
    exp = _reference_array(expected)
    tol = float(atol) + float(rtol) * np.maximum(1.0, np.abs(exp))
    return diagnose_with_tolerance(got, exp, tol, reveal=reveal)


def _reference_array(expected) -> np.ndarray:
    try:
        exp = np.asarray(expected)
        if exp.dtype.kind not in "biufc":  # e.g. sympy numbers: real if they can be
            try:
                exp = exp.astype(float)
            except TypeError:
                exp = exp.astype(complex)
        if exp.dtype.kind != "c":
            exp = exp.astype(float)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:
        raise ValueError(f"expected must be an array of numbers, got {type(expected).__name__}") from exc
    return exp


def diagnose_with_tolerance(got, expected: np.ndarray, tol: np.ndarray, *, reveal: bool = True) -> Diagnosis:
    """As ``diagnose`` with an allowed absolute error per entry (``tol``, shape of ``expected``)."""
    exp = _reference_array(expected)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), exp.shape)
    try:
        return _diagnose(got, exp, tol, reveal)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:  # a last line of defence: diagnosing must never crash on hostile input
        return Diagnosis("wrong", f"Your answer could not be compared with the expected one "
                                  f"({type(exc).__name__}).", {"reason": "uncomparable"})


# ----------------------------------------------------------------------------------------------
# converting an untrusted answer


def _as_numeric(got, expected: np.ndarray):
    """Return (array, None) or (None, Diagnosis) when ``got`` is not an array of numbers."""
    if got is None:
        return None, _not_numeric("Your answer is None: did the function forget to `return` its result?",
                                  "none")
    if isinstance(got, str | bytes):
        return None, _not_numeric(f"Your answer is a string ({_short(got)!r}), not an array of numbers.",
                                  "string")
    try:
        arr = np.asarray(got)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        return None, _not_numeric(f"Your answer (a {type(got).__name__}) is not a rectangular array of "
                                  "numbers: check that every row has the same length.", "ragged")
    if arr.dtype.kind in "biuf":
        return arr.astype(float), None
    if arr.dtype.kind == "c":
        return _drop_negligible_imaginary(arr, expected)
    if arr.dtype.kind == "O":
        if arr.size > 10 * max(expected.size, 1) + 1000:
            return None, _not_numeric("Your answer is an object array far larger than expected.", "object")
        overflow = False
        for kind in (float, complex):
            try:
                converted = arr.astype(kind)
            except OverflowError:
                overflow = True
                continue
            except (TypeError, ValueError, AttributeError):
                continue
            except TimeoutError:  # an outer time limit must still fire
                raise
            except Exception:
                break
            return (converted, None) if kind is float else _drop_negligible_imaginary(converted, expected)
        if overflow:
            return None, _not_numeric("Your answer holds a number too large for a float (beyond 1e308).",
                                      "overflow")
        return None, _not_numeric(f"Your answer (a {type(got).__name__}) holds things that are not numbers "
                                  "(symbols, strings, None or nested lists of different lengths).", "object")
    return None, _not_numeric(f"Your answer has dtype {arr.dtype}, not numbers.", "dtype")


def _drop_negligible_imaginary(arr: np.ndarray, expected: np.ndarray):
    if expected.dtype.kind == "c":
        return arr, None
    finite = np.isfinite(arr)
    if np.all(np.abs(arr.imag[finite]) <= 1e-12 * np.maximum(1.0, np.abs(arr.real[finite]))):
        return arr.real.copy(), None
    return None, _not_numeric("Your answer has complex entries with non-zero imaginary parts; the "
                              "derivative of a real function is real.", "complex")


def _not_numeric(message: str, reason: str) -> Diagnosis:
    return Diagnosis("wrong", message, {"reason": reason})


def _short(text, limit: int = 40) -> str:
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + "..."


# ----------------------------------------------------------------------------------------------
# the checks


def _diagnose(got, exp: np.ndarray, tol: np.ndarray, reveal: bool = True) -> Diagnosis:
    arr, bad = _as_numeric(got, exp)
    if bad is not None:
        return bad
    if arr.shape != exp.shape:
        return _shape_diagnosis(arr, exp, tol)

    bad_finite = ~np.isfinite(arr) & ~_same_nonfinite(arr, exp)
    if bad_finite.any():
        idx = _indices(bad_finite)
        where = "" if arr.ndim == 0 else f" at {_fmt_indices(idx)}"
        return Diagnosis("nonfinite", f"Your answer contains NaN or infinity{where}: look for a division by "
                                      "zero, or a log or square root outside its domain.",
                         {"indices": idx, "count": int(bad_finite.sum())})

    wrong = ~_close(arr, exp, tol)
    if not wrong.any():
        return Diagnosis("ok", "Correct.", {})

    undefined = wrong & ~np.isfinite(exp)
    if undefined.any():
        idx = _indices(undefined)
        where = "" if arr.ndim == 0 else f" at {_fmt_indices(idx)}"
        return Diagnosis("wrong", f"The derivative is undefined (NaN or infinite) here{where}, but your answer "
                                  "gives a finite number: check the domain of the function.",
                         {"indices": idx, "count": int(undefined.sum())})

    meaningful = np.abs(exp) > tol  # entries that are clearly non-zero
    if meaningful.any() and _close(arr, -exp, tol).all():
        return Diagnosis("sign", "Every entry has the wrong sign: look for a minus sign lost or added "
                                 "(the derivative of cos is -sin, of 1/x is -1/x², of a - b in b is -1).",
                         {"factor": -1.0})

    factor = _constant_factor(arr, exp, tol, meaningful)
    if factor is None:
        for perm in _layout_swaps(exp.shape):
            found = _transposed_match(arr, exp, tol, perm)
            if found is not None:
                return found
    if factor is not None:
        return Diagnosis("factor", f"Every entry is {_fmt_num(factor)} times the expected value: a constant "
                                   f"factor is off{_factor_hint(factor)}.", {"factor": factor})

    diag_only = _diag_only(arr, exp, tol)
    if diag_only is not None:
        return diag_only

    idx = _indices(wrong)
    count = int(wrong.sum())
    if count < arr.size:
        plural = "entries is" if count == 1 else "entries are"
        expected = f", expected {_fmt_num(exp[idx[0]])}" if reveal else ""
        return Diagnosis("entries", f"{count} of {arr.size} {plural} wrong, at {_fmt_indices(idx)} "
                                    f"(e.g. got {_fmt_num(arr[idx[0]])}{expected}); the others are right.",
                         {"indices": idx, "count": count})
    if not meaningful.any() and reveal:
        return Diagnosis("wrong", "The expected answer is zero here, but yours is not "
                                  f"(e.g. {_fmt_num(arr[idx[0]])}).", {"indices": idx, "count": count})
    if arr.size > 1 and not np.any(arr):
        return Diagnosis("wrong", "Your answer is all zeros: did you return a placeholder (np.zeros) "
                                  "instead of the derivative?", {"indices": idx, "count": count})
    if arr.ndim == 0:
        msg = f"The value is wrong: got {_fmt_num(arr[()])}" + (f", expected {_fmt_num(exp[()])}." if reveal
                                                                 else ".")
    else:
        msg = (f"All {arr.size} entries are wrong, and no common mistake (sign, transpose, constant factor) "
               "explains them: re-derive the formula.")
    return Diagnosis("wrong", msg, {"indices": idx, "count": count})


def _close(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
        ok = diff <= tol
    return ok | _same_nonfinite(a, b)


def _same_nonfinite(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        both_nan = np.isnan(a) & np.isnan(b)
        same_inf = np.isinf(a) & np.isinf(b) & (a == b)
    return both_nan | same_inf


def _indices(mask: np.ndarray) -> list[tuple]:
    """The first few (at most 4·MAX_LISTED) indices where mask is True."""
    if not mask.ndim:
        return [()]
    coords = np.argwhere(mask)[: MAX_LISTED * 4]
    return [tuple(int(i) for i in row) for row in coords]


def _fmt_indices(idx: list[tuple]) -> str:
    def one(ix):
        return str(ix[0]) if len(ix) == 1 else str(ix).replace(" ", "")
    shown = ", ".join(f"index {one(ix)}" for ix in idx[:MAX_LISTED])
    return shown + (", ..." if len(idx) > MAX_LISTED else "")


def _fmt_num(value) -> str:
    value = complex(value)
    if value.imag == 0:
        r = value.real
        return f"{r:.6g}"
    return f"{value:.6g}"


def _layout_swaps(shape: tuple):
    """Axis permutations that swap an (outputs, inputs) split of ``shape`` into (inputs, outputs)."""
    nd = len(shape)
    seen = set()
    for k in range(1, nd):
        perm = tuple(range(k, nd)) + tuple(range(k))
        if perm in seen:
            continue
        seen.add(perm)
        if shape[k:] + shape[:k] == shape:
            yield perm


def _transpose_diagnosis(exp_shape: tuple, details: dict) -> Diagnosis:
    factor = details.get("factor", 1.0)
    extra = ""
    if factor == -1.0:
        extra = " Besides, every sign is flipped."
    elif factor != 1.0:
        extra = f" Besides, every entry is {_fmt_num(factor)} times the expected value."
    return Diagnosis("transpose", "Your Jacobian is the transpose of the expected one: numerator layout "
                                  "puts the outputs on rows and the inputs on columns (shape "
                                  "f(x).shape + x.shape)." + extra,
                     {**details, "expected_shape": list(exp_shape)})


def _transposed_match(arr, exp, tol, perm) -> Diagnosis | None:
    """A transpose diagnosis if got is the (inputs, outputs) arrangement of expected, possibly also
    negated or scaled by a constant."""
    exp_t, tol_t = exp.transpose(perm), tol.transpose(perm)
    if arr.shape != exp_t.shape or not np.isfinite(arr).all():
        return None
    if _close(arr, exp_t, tol_t).all():
        return _transpose_diagnosis(exp.shape, {"axes": list(perm)})
    meaningful = np.abs(exp_t) > tol_t
    if meaningful.sum() >= 2:
        if _close(arr, -exp_t, tol_t).all():
            return _transpose_diagnosis(exp.shape, {"axes": list(perm), "factor": -1.0})
        c = _constant_factor(arr, exp_t, tol_t, meaningful)
        if c is not None:
            return _transpose_diagnosis(exp.shape, {"axes": list(perm), "factor": c})
    return None


def _constant_factor(arr, exp, tol, meaningful) -> float | None:
    """The constant c with got == c * expected entry by entry, if there is one (c not 0, 1 or -1)."""
    n_meaningful = int(meaningful.sum())
    if n_meaningful == 0:
        return None
    e, g = exp[meaningful], arr[meaningful]
    c = complex(np.vdot(e, g) / np.vdot(e, e))
    if abs(c.imag) > 1e-12 * abs(c):
        return None
    c = c.real
    if not np.isfinite(c) or abs(c) < 1e-12 or abs(c - 1) < 1e-9 or abs(c + 1) < 1e-9:
        return None
    if not _close(arr, c * exp, tol * max(1.0, abs(c))).all():
        return None
    if n_meaningful == 1 and _nice_ratio(c) is None:
        return None  # one number off is just a wrong value unless the ratio is telling (2, 1/2, 3, ...)
    nice = _nice_ratio(c)
    return float(nice) if nice is not None else float(c)


def _nice_ratio(c: float) -> float | None:
    for q in range(1, 5):
        p = round(c * q)
        if p != 0 and abs(p) <= 12 and abs(c - p / q) <= 1e-9 * max(1.0, abs(c)):
            return p / q
    return None


def _factor_hint(c: float) -> str:
    if abs(c - 0.5) < 1e-9:
        return " (a missing 2, e.g. from the derivative of a square: d(u²) = 2u du)"
    if abs(c - 2) < 1e-9:
        return " (an extra 2: did you count a factor twice?)"
    if c < 0:
        return " and the sign is flipped"
    return ""


def _diag_only(arr, exp, tol) -> Diagnosis | None:
    """got keeps only the diagonal of a full (square-split) Jacobian and zeroes the rest."""
    nd = exp.ndim
    if nd % 2 or nd == 0 or exp.shape[: nd // 2] != exp.shape[nd // 2:]:
        return None
    n = prod(exp.shape[: nd // 2])
    e2, g2, t2 = exp.reshape(n, n), arr.reshape(n, n), tol.reshape(n, n)
    off = ~np.eye(n, dtype=bool)
    if not (np.abs(e2[off]) > t2[off]).any():
        return None
    diag_ok = _close(np.diag(g2), np.diag(e2), np.diag(t2)).all()
    if diag_ok and (np.abs(g2[off]) <= t2[off]).all():
        return Diagnosis("diag_only", "Your diagonal is right but the off-diagonal entries are zero: this "
                                      "function mixes its inputs, so ∂f_i/∂x_j is not zero for i ≠ j.", {})
    return None


def _shape_diagnosis(arr: np.ndarray, exp: np.ndarray, tol: np.ndarray) -> Diagnosis:
    gs, es = arr.shape, exp.shape
    details = {"got_shape": list(gs), "expected_shape": list(es)}
    base = f"Your answer has shape {_fmt_shape(gs)} but the expected shape is {_fmt_shape(es)}"

    # the other layout: got is the (inputs, outputs) version of the expected (outputs, inputs) array
    for k in range(1, exp.ndim):
        if gs == es[k:] + es[:k] and gs != es:
            perm = tuple(range(k, exp.ndim)) + tuple(range(k))
            found = _transposed_match(arr, exp, tol, perm)
            if found is not None:
                found.details.update(details)
                return found
            return Diagnosis("shape", base + ", the shape of the transpose: numerator layout puts the "
                                      "outputs first (shape f(x).shape + x.shape), and the entries are also "
                                      "wrong.", {**details, "other_layout": True})

    # diagonal entries as a vector, where the element-wise Jacobian is the diagonal matrix
    if exp.ndim == 2 * arr.ndim and es == gs + gs and arr.ndim > 0:
        n = arr.size
        e2, t2 = exp.reshape(n, n), tol.reshape(n, n)
        off = ~np.eye(n, dtype=bool)
        if (np.abs(e2[off]) <= t2[off]).all() and _close(arr.reshape(n), np.diag(e2), np.diag(t2)).all():
            return Diagnosis("diag_vector", f"You returned the vector of diagonal entries, shape "
                                            f"{_fmt_shape(gs)}, but the Jacobian of an element-wise function "
                                            f"is the diagonal matrix of shape {_fmt_shape(es)}: put them on "
                                            "the diagonal (np.diag).", details)

    # the reverse: a diagonal matrix where the vector of derivatives is expected
    if arr.ndim == 2 * exp.ndim and gs == es + es and exp.ndim > 0:
        n = exp.size
        g2 = arr.reshape(n, n)
        off = ~np.eye(n, dtype=bool)
        if np.isfinite(g2).all() and (np.abs(g2[off]) <= tol.reshape(n).max()).all() \
                and _close(np.diag(g2), exp.reshape(n), tol.reshape(n)).all():
            return Diagnosis("diag_matrix", f"You returned a diagonal matrix, shape {_fmt_shape(gs)}, but "
                                            f"the answer is the vector of its diagonal entries, shape "
                                            f"{_fmt_shape(es)} (element-wise derivatives); take np.diag "
                                            "of it.",
                             details)

    # same numbers, different arrangement (a column (n, 1) for a flat (n,), a 1x1 array for a scalar)
    if arr.size == exp.size and arr.size > 0:
        flat_ok = np.isfinite(arr).all() and _close(arr.reshape(es), exp, tol).all()
        if flat_ok:
            return Diagnosis("shape", base + ": the numbers are right but arranged differently (a gradient "
                                             "has the shape of its input; a Jacobian has shape "
                                             "f(x).shape + x.shape): reshape it.",
                             {**details, "reshape_matches": True})
    return Diagnosis("shape", base + " (numerator layout: a Jacobian has shape f(x).shape + x.shape, a "
                                     "gradient the shape of its input).", details)


def _fmt_shape(shape: tuple) -> str:
    return "()" if not shape else ("(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")"))
