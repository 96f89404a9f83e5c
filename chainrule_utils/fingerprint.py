"""Fingerprints: what a self-check knows about an expected answer without holding it. One module for
both sides: a release writes fingerprints of the reference answer, of every catalogued wrong answer
and of a few transforms of the reference (autograder.kinds.*.selfcheck_data); a student's self-check
(chainrule_utils.selfcheck) computes the same fingerprints of the student's answer and compares.

Rounding. A number v is rounded on a grid: ``floor(v / q + offset)`` (real and imaginary parts; NaN and
±inf are tokens). ``q`` is a quantum times the exercise's scale S (a power of ten at least as large as
every stored value, and >= 1), so that entries compare like the grader's
``|got - exp| <= rtol * max(1, |exp|)``. The ``offset`` is chosen per exercise and grid so that no
stored value lies near a rounding boundary (``choose_grid`` puts the boundary in the middle of the
widest gap between the stored values' positions on the grid; a release fails when that gap is too
narrow): an answer equal to a stored value up to floating-point noise always rounds like it.

Hashing. A fingerprint is ``sha256(salt, where, rounded value)`` cut to 16 hex digits; the salt is
per exercise, ``where`` names the point (a probe, or "v" for a value). The data never holds an
expected value: only fingerprints, the points where they were taken and the expected shape (which
the prompt states). Limit, said plainly: a single number rounded to a few digits can be found by
trying every candidate against its fingerprint (as it can by differentiating numerically); the
fingerprints make the self-check no weaker than the grader's own feedback, not a secret.

``PrintedReference`` is a chainrule_utils.diagnosis.Reference made of fingerprints, so that a
self-check names numeric mistakes by the very rules and sentences of ``diagnose``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from .diagnosis import Factor, Reference, _as_numeric, nice_ratios
from .values import is_number, number_of_0d, value_class

EXACT = 1e-6        # the grid of a comparison with the grader's default tolerance (rtol 1e-7)
FINEST = 1e-10      # the finest grid: hand derivations (rtol 1e-11), where 1e-14 noise must still pass
APPROX = 1e-6       # "right up to a numerical approximation" (the grader says so below 1e-5)
UNIT = 1e-9         # unit vectors (a constant factor)
MIN_MARGIN = 1e-3   # a stored value at least this fraction of a grid step from a rounding boundary
DIGITS = 16


def exact_quantum(rtol: float) -> float:
    """The grid step (before scaling) for an exercise compared at relative tolerance ``rtol``."""
    return min(EXACT, max(FINEST, 10.0 * float(rtol)))


@dataclass(frozen=True)
class Grid:
    q: float
    offset: float

    def to_json(self) -> list:
        return [self.q, self.offset]

    @classmethod
    def from_json(cls, data) -> Grid:
        q, offset = data
        return cls(float(q), float(offset))


def scale_of(arrays) -> float:
    """10**k >= 1 with k the smallest integer such that every finite entry of `arrays` is <= 10**k."""
    top = 1.0
    for a in arrays:
        a = np.abs(np.asarray(a, dtype=complex)).ravel()
        a = a[np.isfinite(a)]
        if a.size:
            top = max(top, float(a.max()))
    return 10.0 ** math.ceil(math.log10(top) - 1e-12)


def choose_grid(values, q: float) -> Grid:
    """The grid of step `q` whose rounding boundaries lie farthest from every value in `values`
    (numbers, real or complex); ValueError when no offset keeps them MIN_MARGIN of a step away."""
    pos = []
    for v in values:
        c = complex(v)
        for part in (c.real, c.imag) if c.imag else (c.real,):
            if math.isfinite(part):
                pos.append((part / q) % 1.0)
    if not pos:
        return Grid(q, 0.5)
    pos = np.unique(np.asarray(pos))
    gaps = np.diff(np.concatenate([pos, [pos[0] + 1.0]]))
    i = int(np.argmax(gaps))
    middle = (pos[i] + gaps[i] / 2) % 1.0
    if gaps[i] / 2 < MIN_MARGIN:
        raise ValueError(f"no rounding offset keeps {len(pos)} stored values away from a boundary")
    return Grid(q, float((-middle) % 1.0))


def number_key(v, grid: Grid) -> str:
    """A number rounded on `grid`, as text (a complex number with a negligible imaginary part is real)."""
    c = complex(v)
    if c.imag and math.isfinite(c.imag) and abs(c.imag) <= 1e-12 * max(1.0, abs(c.real)):
        c = complex(c.real, 0.0)
    if c.imag:
        return f"c{_real_key(c.real, grid)},{_real_key(c.imag, grid)}"
    return _real_key(c.real, grid)


def _real_key(x: float, grid: Grid) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    y = x / grid.q + grid.offset
    return str(math.floor(y)) if math.isfinite(y) else ("inf" if y > 0 else "-inf")


def digest(salt: str, *parts) -> str:
    text = "\x1f".join([salt, *map(str, parts)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGITS]


def array_key(arr: np.ndarray, grid: Grid) -> str:
    return "A" + ",".join(map(str, arr.shape)) + ":" + ";".join(number_key(v, grid) for v in arr.ravel())


def array_print(arr: np.ndarray, grid: Grid, salt: str, where) -> str:
    return digest(salt, where, array_key(np.asarray(arr), grid))


def entry_print(index: int, key: str, salt: str, where) -> str:
    return digest(salt, where, "e", index, key)


def unit(arr: np.ndarray) -> np.ndarray | None:
    """`arr` scaled to length 1 (None when it is zero or not finite): equal for c·a and a, c > 0."""
    arr = np.asarray(arr)
    if arr.size == 0 or not np.isfinite(arr).all():
        return None
    norm = float(np.linalg.norm(arr.ravel()))
    return arr / norm if norm > 0 and math.isfinite(norm) else None


def diag_part(exp: np.ndarray, q: float) -> np.ndarray | None:
    """`exp` with its off-diagonal entries zeroed, when it is a square-split Jacobian whose off-diagonal
    is not all zero (at grid step q); else None."""
    nd = exp.ndim
    if nd % 2 or nd == 0 or exp.shape[: nd // 2] != exp.shape[nd // 2:]:
        return None
    n = math.prod(exp.shape[: nd // 2])
    e2 = exp.reshape(n, n)
    off = ~np.eye(n, dtype=bool)
    if not (np.abs(e2[off]) > q).any():
        return None
    return np.where(off, 0.0, e2).reshape(exp.shape)


# ---------------------------------------------------------------------------------------------
# a numeric reference (an array or a number) as fingerprints


@dataclass(frozen=True)
class Grids:
    exact: Grid
    unit: Grid
    approx: Grid | None = None

    def to_json(self) -> dict:
        out = {"exact": self.exact.to_json(), "unit": self.unit.to_json()}
        if self.approx is not None:
            out["approx"] = self.approx.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict) -> Grids:
        approx = data.get("approx")
        return cls(Grid.from_json(data["exact"]), Grid.from_json(data["unit"]),
                   Grid.from_json(approx) if approx is not None else None)


def plan_grids(references: list[np.ndarray], others: list[np.ndarray], rtol: float, *,
               approx: bool = False, joint: np.ndarray | None = None) -> Grids:
    """Grids for an exercise whose reference arrays are `references` (one per point) and whose other
    stored arrays (catalogued wrong answers, transforms) are `others`."""
    scale = scale_of(references + others)
    exact_q = exact_quantum(rtol) * scale
    exact_values = [v for a in references + others for v in np.ravel(a)]
    for a in references:
        part = diag_part(np.asarray(a), exact_q)
        if part is not None:
            exact_values += list(part.ravel())
    units = [unit(a) for a in references] + ([unit(joint)] if joint is not None else [])
    unit_values = [v for u in units if u is not None for v in np.concatenate([u.ravel(), -u.ravel()])]
    approx_grid = None
    if approx:
        approx_grid = choose_grid([v for a in references for v in np.ravel(a)], APPROX * scale)
    return Grids(choose_grid(exact_values, exact_q), choose_grid(unit_values, UNIT), approx_grid)


def numeric_print(exp: np.ndarray, grids: Grids, salt: str, where) -> dict:
    """The fingerprints of one expected array: per entry, of its unit vector (a constant factor), of its
    diagonal part (a Jacobian cut to its diagonal), at the approximate grid (hand derivations)."""
    exp = np.asarray(exp)
    keys = [number_key(v, grids.exact) for v in exp.ravel()]
    out = {"shape": list(exp.shape), "entries": [entry_print(i, k, salt, where) for i, k in enumerate(keys)]}
    u = unit(exp) if exp.size > 1 else None  # one number: its unit vector would tell its sign
    out["unit"] = array_print(u, grids.unit, salt, where) if u is not None else None
    part = diag_part(exp, grids.exact.q)
    out["diag_only"] = array_print(part, grids.exact, salt, where) if part is not None else None
    if grids.approx is not None:
        out["approx"] = array_print(exp, grids.approx, salt, where)
    return out


class PrintedReference(Reference):
    """A Reference (chainrule_utils.diagnosis) made of the fingerprints `numeric_print` stored."""

    def __init__(self, data: dict, grids: Grids, salt: str, where):
        self.data, self.grids, self.salt, self.where = data, grids, salt, where
        self.shape = tuple(int(n) for n in data["shape"])
        self.complex = False
        self.offdiag_tol = grids.exact.q

    def _entry(self, i: int, v) -> bool:
        return entry_print(i, number_key(v, self.grids.exact), self.salt, self.where) == self.data["entries"][i]

    def close(self, arr):
        flat = np.asarray(arr).ravel()
        return np.array([self._entry(i, v) for i, v in enumerate(flat)], dtype=bool).reshape(self.shape)

    def close_all(self, arr):
        arr = np.asarray(arr)
        return arr.shape == self.shape and all(self._entry(i, v) for i, v in enumerate(arr.ravel()))

    def nonfinite(self):
        tokens = {entry_print(i, t, self.salt, self.where) for i in range(len(self.data["entries"]))
                  for t in ("nan", "inf", "-inf")}
        return np.array([p in tokens for p in self.data["entries"]], dtype=bool).reshape(self.shape)

    def any_meaningful(self):
        return True  # an all-zero reference is matched (ok) by an all-zero answer before this is asked

    def meaningful_count(self, like):
        return int((np.abs(np.asarray(like)) > self.grids.exact.q).sum())

    def factor(self, arr):
        arr = np.asarray(arr)
        if arr.size == 1:  # one number: only a telling ratio is a factor (no unit vector is stored)
            found = next((c for c in nice_ratios() if self.close_all(arr / c)), None)
            return None if found is None else Factor(found, found < 0)
        stored = self.data.get("unit")
        u = unit(arr)
        if stored is None or u is None:
            return None
        if array_print(u, self.grids.unit, self.salt, self.where) == stored:
            negative = False
        elif array_print(-u, self.grids.unit, self.salt, self.where) == stored:
            negative = True
        else:
            return None
        for c in nice_ratios():
            if (c < 0) == negative and self.close_all(arr / c):
                return Factor(c, negative)
        if self.meaningful_count(arr) <= 1:
            return None  # one number off is just a wrong value unless the ratio is telling
        return Factor(None, negative)

    def diag_only(self, arr):
        stored = self.data.get("diag_only")
        return stored is not None and array_print(arr, self.grids.exact, self.salt, self.where) == stored

    def approx_all(self, arr) -> bool:
        """Equal at the approximate grid (hand derivations: right up to a numerical approximation)."""
        stored = self.data.get("approx")
        arr, bad = _as_numeric(arr, self)
        return (stored is not None and bad is None and arr.shape == self.shape
                and array_print(arr, self.grids.approx, self.salt, self.where) == stored)


# ---------------------------------------------------------------------------------------------
# values (the value rule of chainrule_utils.values, as a key to hash)


def value_key(v, cls: str, grid: Grid) -> str | None:
    """A plain value as the text its fingerprint hashes, compared as class `cls` compares
    (chainrule_utils.values.values_equal); None when `v` cannot equal any value of that class."""
    v = number_of_0d(v)
    if cls == "number":
        return "N" + number_key(v, grid) if is_number(v) else None
    if cls == "array":
        arr, bad = _as_numeric(v, np.zeros(1))
        return None if bad is not None else array_key(arr, grid)
    if cls == "seq":
        if not isinstance(v, (tuple, list)):
            return None
        items = [value_key(item, value_class(item), grid) for item in v]
        return None if any(k is None for k in items) else "S(" + "|".join(items) + ")"
    if cls == "str":
        return "T" + v.strip().casefold() if isinstance(v, str) else None
    if cls == "bool":
        return ("B1" if v else "B0") if isinstance(v, (bool, np.bool_)) else None
    if cls == "none":
        return "Z" if v is None else None
    return None


def value_print(v, grid: Grid, salt: str, cls: str | None = None) -> dict | None:
    """{"class", "print"} of a plain value (None when it cannot be fingerprinted)."""
    cls = cls or value_class(v)
    key = value_key(v, cls, grid)
    return None if key is None else {"class": cls, "print": digest(salt, "v", key)}


def value_matches(v, stored: dict, grid: Grid, salt: str) -> bool:
    key = value_key(v, stored["class"], grid)
    return key is not None and digest(salt, "v", key) == stored["print"]


def value_numbers(v) -> list:
    """The numbers inside a plain value (for choosing its grid)."""
    v = number_of_0d(v)
    if is_number(v):
        return [v]
    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
        return list(v.ravel())
    if isinstance(v, (tuple, list)):
        return [x for item in v for x in value_numbers(item)]
    return []


__all__ = ["Grid", "Grids", "PrintedReference", "array_print", "choose_grid", "digest",
           "numeric_print", "plan_grids", "unit", "value_key", "value_matches", "value_print"]
