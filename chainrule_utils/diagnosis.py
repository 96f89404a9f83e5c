"""Name the mistake in a computed derivative: ``diagnose(got, expected) -> Diagnosis``.

Entries match when ``|got - expected| <= atol + rtol * max(1, |expected|)`` (the grader's rule).
``got`` is untrusted: anything (None, a string, a ragged list, an object array, a complex array)
is diagnosed, never raised on. The checks run in a fixed order, the first that fits wins:

non-numeric -> shape (with transpose / diagonal-vector / diagonal-matrix / reshape hints) ->
non-finite -> ok -> sign -> transpose -> factor -> diagonal only -> some entries -> wrong.

A correct answer is always "ok" (it is tested before any mistake), and a mistake is only named when
every entry is explained by it, so a wrong answer is never "ok".

The rules are written once, against a ``Reference`` (what the checks need to know about the expected
answer): ``ExactReference`` holds the numbers (the grader, the numerical checks), a student's
self-check holds fingerprints of them (chainrule_utils.fingerprint.PrintedReference) and names the
same mistakes with the same sentences. Arrangements (transpose, diagonal, reshape) are tested by
transforming the answer and asking the reference whether the result matches.
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
    ``reveal=False``: messages never print an expected value, nor a constant factor other than a
    telling one (2, 1/2, 3, ...), nor how to turn the answer into the expected one (for graded
    feedback and self-checks, where that would be the answer); ``details`` are the same either way.
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
    return diagnose_reference(got, ExactReference(exp, tol), reveal=reveal)


# ----------------------------------------------------------------------------------------------
# converting an untrusted answer


def _as_numeric(got, expected):
    """Return (array, None) or (None, Diagnosis) when ``got`` is not an array of numbers. ``expected``:
    an array or a Reference (its size bounds an object array; a complex one keeps imaginary parts)."""
    if got is None:
        return None, _not_numeric("Your answer is None: did the function forget to return its result?",
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
        if arr.size > 10 * max(int(np.prod(expected.shape)), 1) + 1000:
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


def _drop_negligible_imaginary(arr: np.ndarray, expected):
    if (expected.complex if isinstance(expected, Reference) else expected.dtype.kind == "c"):
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
# what the checks need to know about the expected answer


@dataclass(frozen=True)
class Factor:
    """got = value · expected entry by entry; ``value`` is None when only the sign of the constant is
    known (a reference held as fingerprints, chainrule_utils.fingerprint)."""

    value: float | None
    negative: bool


class Reference:
    """The expected answer as the checks see it. ``ExactReference`` holds the numbers (the grader, a
    check against a numerical reference); chainrule_utils.fingerprint.PrintedReference holds only
    salted fingerprints of them (a student's self-check). Every rule of ``diagnose`` is written once,
    against this interface: shapes and arrangements are tested by transforming the ANSWER and asking
    the reference whether the result matches."""

    shape: tuple = ()
    complex: bool = False
    offdiag_tol: float = 0.0  # an off-diagonal entry of an answer this small counts as zero

    @property
    def size(self) -> int:
        return prod(self.shape)

    def close(self, arr: np.ndarray) -> np.ndarray:
        """Per entry of ``arr`` (this reference's shape): does it match the expected entry?"""
        raise NotImplementedError

    def close_all(self, arr: np.ndarray) -> bool:
        return arr.shape == self.shape and bool(self.close(arr).all())

    def nonfinite(self) -> np.ndarray:
        """Where the expected entry is NaN or infinite."""
        raise NotImplementedError

    def any_meaningful(self) -> bool:
        """Some expected entry is clearly non-zero."""
        raise NotImplementedError

    def meaningful_count(self, like: np.ndarray) -> int:
        """How many expected entries are clearly non-zero (``like`` matches the reference up to a
        constant factor)."""
        raise NotImplementedError

    def factor(self, arr: np.ndarray) -> Factor | None:
        """The constant c (not 0, 1 or -1) with arr == c · expected, if there is one."""
        raise NotImplementedError

    def diag_only(self, arr: np.ndarray) -> bool:
        """The expected array is a square-split Jacobian with non-zero off-diagonal entries and ``arr``
        is its diagonal with zeros elsewhere."""
        raise NotImplementedError


class ExactReference(Reference):
    """The expected numbers ``exp`` with an allowed absolute error ``tol`` per entry."""

    def __init__(self, exp: np.ndarray, tol):
        self.exp = exp
        self.tol = np.broadcast_to(np.asarray(tol, dtype=float), exp.shape)
        self.shape = exp.shape
        self.complex = exp.dtype.kind == "c"
        self.offdiag_tol = float(self.tol.max()) if self.tol.size else 0.0

    def close(self, arr):
        return _close(arr, self.exp, self.tol)

    def nonfinite(self):
        return ~np.isfinite(self.exp)

    def _meaningful(self):
        return np.abs(self.exp) > self.tol

    def any_meaningful(self):
        return bool(self._meaningful().any())

    def meaningful_count(self, like):
        return int(self._meaningful().sum())

    def factor(self, arr):
        c = _constant_factor(arr, self.exp, self.tol, self._meaningful())
        return None if c is None else Factor(c, c < 0)

    def diag_only(self, arr):
        return _diag_only(arr, self.exp, self.tol)


# ----------------------------------------------------------------------------------------------
# the checks


def diagnose_reference(got, ref: Reference, *, reveal: bool = False) -> Diagnosis:
    """``diagnose`` against any Reference (ExactReference, or fingerprints in a self-check:
    chainrule_utils.fingerprint.PrintedReference); never raises on ``got``."""
    try:
        return _diagnose(got, ref, reveal)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:  # a last line of defence: diagnosing must never crash on hostile input
        return Diagnosis("wrong", f"Your answer could not be compared with the expected one "
                                  f"({type(exc).__name__}).", {"reason": "uncomparable"})


def _diagnose(got, ref: Reference, reveal: bool = True) -> Diagnosis:
    arr, bad = _as_numeric(got, ref)
    if bad is not None:
        return bad
    if arr.shape != ref.shape:
        return _shape_diagnosis(arr, ref, reveal)

    close = ref.close(arr)
    bad_finite = ~np.isfinite(arr) & ~close
    if bad_finite.any():
        idx = _indices(bad_finite)
        where = "" if arr.ndim == 0 else f" at {_fmt_indices(idx)}"
        return Diagnosis("nonfinite", f"Your answer contains NaN or infinity{where}: look for a division by "
                                      "zero, or a log or square root outside its domain.",
                         {"indices": idx, "count": int(bad_finite.sum())})

    wrong = ~close
    if not wrong.any():
        return Diagnosis("ok", "Correct.", {})

    undefined = wrong & ref.nonfinite()
    if undefined.any():
        idx = _indices(undefined)
        where = "" if arr.ndim == 0 else f" at {_fmt_indices(idx)}"
        return Diagnosis("wrong", f"The derivative is undefined (NaN or infinite) here{where}, but your answer "
                                  "gives a finite number: check the domain of the function.",
                         {"indices": idx, "count": int(undefined.sum())})

    if ref.any_meaningful() and ref.close_all(-arr):
        return Diagnosis("sign", "Every entry has the wrong sign: look for a minus sign lost or added "
                                 "(the derivative of cos is -sin, of 1/x is -1/x², of a - b in b is -1).",
                         {"factor": -1.0})

    factor = ref.factor(arr)
    if factor is None:
        for perm in _layout_swaps(ref.shape):
            found = _transposed_match(arr, ref, perm, reveal)
            if found is not None:
                return found
    if factor is not None:
        return Diagnosis("factor", _factor_sentence(factor, reveal), {"factor": factor.value})

    if ref.diag_only(arr):
        return Diagnosis("diag_only", "Your diagonal is right but the off-diagonal entries are zero: this "
                                      "function mixes its inputs, so ∂f_i/∂x_j is not zero for i ≠ j.", {})

    idx = _indices(wrong)
    count = int(wrong.sum())
    if count < arr.size:
        plural = "entry is" if count == 1 else "entries are"
        expected = f", expected {_fmt_num(ref.exp[idx[0]])}" if reveal and isinstance(ref, ExactReference) else ""
        return Diagnosis("entries", f"{count} of {arr.size} {plural} wrong, at {_fmt_indices(idx)} "
                                    f"(e.g. got {_fmt_num(arr[idx[0]])}{expected}); the others are right.",
                         {"indices": idx, "count": count})
    if reveal and not ref.any_meaningful():
        return Diagnosis("wrong", "The expected answer is zero here, but yours is not "
                                  f"(e.g. {_fmt_num(arr[idx[0]])}).", {"indices": idx, "count": count})
    if arr.size > 1 and not np.any(arr):
        return Diagnosis("wrong", "Your answer is all zeros: did you return a placeholder (np.zeros) "
                                  "instead of the derivative?", {"indices": idx, "count": count})
    if arr.ndim == 0:
        shown = reveal and isinstance(ref, ExactReference)
        msg = f"The value is wrong: got {_fmt_num(arr[()])}" + (f", expected {_fmt_num(ref.exp[()])}." if shown
                                                                 else ".")
    else:
        msg = (f"All {arr.size} entries are wrong, and no common mistake (sign, transpose, constant factor) "
               "explains them: re-derive the formula.")
    return Diagnosis("wrong", msg, {"indices": idx, "count": count})


def _factor_sentence(factor: Factor, reveal: bool) -> str:
    """Names the constant only when it tells the mistake (2, 1/2, 3, ...) or when revealing is allowed:
    an arbitrary ratio printed to 6 digits would give the expected values away."""
    c = factor.value
    if c is not None and (reveal or _nice_ratio(c) is not None):
        return f"Every entry is {_fmt_num(c)} times the expected value: a constant factor is off{_factor_hint(c)}."
    flipped = " and the sign is flipped" if factor.negative else ""
    return f"Every entry is the same multiple of the expected value: a constant factor is off{flipped}."


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


def _transpose_diagnosis(exp_shape: tuple, details: dict, factor: Factor | None, reveal: bool) -> Diagnosis:
    extra = ""
    if factor is not None:
        details = {**details, "factor": factor.value}
        c = factor.value
        if c == -1.0:
            extra = " Besides, every sign is flipped."
        elif c is not None and (reveal or _nice_ratio(c) is not None):
            extra = f" Besides, every entry is {_fmt_num(c)} times the expected value."
        else:
            extra = (" Besides, every entry is the same multiple of the expected value"
                     + (", with the sign flipped." if factor.negative else "."))
    return Diagnosis("transpose", "Your Jacobian is the transpose of the expected one: numerator layout "
                                  "puts the outputs on rows and the inputs on columns (shape "
                                  "f(x).shape + x.shape)." + extra,
                     {**details, "expected_shape": list(exp_shape)})


def _transposed_match(arr, ref: Reference, perm, reveal: bool) -> Diagnosis | None:
    """A transpose diagnosis if got is the (inputs, outputs) arrangement of expected (``perm`` takes the
    expected axes to got's), possibly also negated or scaled by a constant."""
    if not np.isfinite(arr).all():
        return None
    back = arr.transpose(np.argsort(perm))  # got's entries in the expected arrangement
    if back.shape != ref.shape:
        return None
    if ref.close_all(back):
        return _transpose_diagnosis(ref.shape, {"axes": list(perm)}, None, reveal)
    if ref.meaningful_count(back) >= 2:
        if ref.close_all(-back):
            return _transpose_diagnosis(ref.shape, {"axes": list(perm)}, Factor(-1.0, True), reveal)
        c = ref.factor(back)
        if c is not None:
            return _transpose_diagnosis(ref.shape, {"axes": list(perm)}, c, reveal)
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


def nice_ratios():
    """The telling constant factors (p/q, |p| <= 12, q <= 4, not 0 or ±1), for a search by fingerprint."""
    seen = set()
    for q in range(1, 5):
        for p in range(-12, 13):
            c = p / q
            if p and abs(abs(c) - 1) > 1e-12 and c not in seen:
                seen.add(c)
                yield c


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


def _diag_only(arr, exp, tol) -> bool:
    """got keeps only the diagonal of a full (square-split) Jacobian and zeroes the rest."""
    nd = exp.ndim
    if nd % 2 or nd == 0 or exp.shape[: nd // 2] != exp.shape[nd // 2:]:
        return False
    n = prod(exp.shape[: nd // 2])
    e2, g2, t2 = exp.reshape(n, n), arr.reshape(n, n), tol.reshape(n, n)
    off = ~np.eye(n, dtype=bool)
    if not (np.abs(e2[off]) > t2[off]).any():
        return False
    diag_ok = _close(np.diag(g2), np.diag(e2), np.diag(t2)).all()
    return bool(diag_ok and (np.abs(g2[off]) <= t2[off]).all())


def _shape_diagnosis(arr: np.ndarray, ref: Reference, reveal: bool) -> Diagnosis:
    gs, es = arr.shape, ref.shape
    details = {"got_shape": list(gs), "expected_shape": list(es)}
    base = f"Your answer has shape {_fmt_shape(gs)} but the expected shape is {_fmt_shape(es)}"

    # the other layout: got is the (inputs, outputs) version of the expected (outputs, inputs) array
    for k in range(1, len(es)):
        if gs == es[k:] + es[:k] and gs != es:
            perm = tuple(range(k, len(es))) + tuple(range(k))
            found = _transposed_match(arr, ref, perm, reveal)
            if found is not None:
                found.details.update(details)
                return found
            return Diagnosis("shape", base + ", the shape of the transpose: numerator layout puts the "
                                      "outputs first (shape f(x).shape + x.shape), and the entries are also "
                                      "wrong.", {**details, "other_layout": True})

    # diagonal entries as a vector, where the element-wise Jacobian is the diagonal matrix
    if len(es) == 2 * arr.ndim and es == gs + gs and arr.ndim > 0:
        n = arr.size
        if np.isfinite(arr).all() and ref.close_all(np.diag(arr.reshape(n)).reshape(es)):
            fix = ": put them on the diagonal (np.diag)" if reveal else ""
            return Diagnosis("diag_vector", f"You returned the vector of diagonal entries, shape "
                                            f"{_fmt_shape(gs)}, but the Jacobian of an element-wise function "
                                            f"is the diagonal matrix of shape {_fmt_shape(es)}{fix}.", details)

    # the reverse: a diagonal matrix where the vector of derivatives is expected
    if arr.ndim == 2 * len(es) and gs == es + es and len(es) > 0:
        n = ref.size
        g2 = arr.reshape(n, n)
        off = ~np.eye(n, dtype=bool)
        if np.isfinite(g2).all() and (np.abs(g2[off]) <= ref.offdiag_tol).all() \
                and ref.close_all(np.diag(g2).reshape(es)):
            fix = "; take np.diag of it" if reveal else ""
            return Diagnosis("diag_matrix", f"You returned a diagonal matrix, shape {_fmt_shape(gs)}, but "
                                            f"this derivative has shape {_fmt_shape(es)}: one entry per "
                                            f"input, not a matrix{fix}.", details)

    # same numbers, different arrangement (a column (n, 1) for a flat (n,), a 1x1 array for a scalar)
    if arr.size == ref.size and arr.size > 0:
        if np.isfinite(arr).all() and ref.close_all(arr.reshape(es)):
            return Diagnosis("shape", base + ": the numbers are right but arranged differently (a gradient "
                                             "has the shape of its input; a Jacobian has shape "
                                             "f(x).shape + x.shape): reshape it.",
                             {**details, "reshape_matches": True})
    return Diagnosis("shape", base + " (numerator layout: a Jacobian has shape f(x).shape + x.shape, a "
                                     "gradient the shape of its input).", details)


def _fmt_shape(shape: tuple) -> str:
    return "()" if not shape else ("(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")"))
