"""An expression seen through its values at a few points, for fingerprints (chainrule_utils.fingerprint):
a release stores fingerprints of the expected expression's values at fixed points, a self-check
compares the student's. Also the variants of the expected expression whose fingerprints let a
self-check name what ``compare_expressions`` names: the expected expression without one of its terms
(a missing term) and divided by one of its short factors (a missing factor).

Values are computed at 30 significant digits and then rounded to complex doubles, so two forms of one
expression give the same doubles (up to the last bit).
"""
from __future__ import annotations

import itertools
import random

import numpy as np
import sympy

from .compare import DIGITS, MAX_FACTOR_OPS, _is_matrix, _parse, _symbol_table, short_factor
from .timelimit import call_with_timeout

MAX_TERMS = 50
MAX_FACTORS = 8


def read_expression(value, symbols: dict, *, timeout: float = 2.0):
    """`value` (a string, number or sympy object) as a sympy object on the `symbols` table (a dict
    name -> Symbol; sympy objects' free symbols are renamed onto it by name). ValueError when unreadable."""
    import time

    return _parse(value, _symbol_table(symbols, value), time.monotonic() + timeout)


def draw_points(symbols: dict, count: int, rng: random.Random) -> list[dict]:
    """`count` points {name: float} away from 0, signs mixed (positive symbols positive)."""
    out = []
    for _ in range(count):
        point = {}
        for name, sym in symbols.items():
            magnitude = round(rng.uniform(0.3, 2.2), 6)
            negative = not (sym.is_positive or sym.is_nonnegative) and rng.random() < 0.5
            point[name] = -magnitude if negative else magnitude
        out.append(point)
    return out


def values_at(expr, points: list[dict], symbols: dict, *, timeout: float = 5.0) -> np.ndarray | None:
    """The values of `expr` at each point: a complex array of shape (points,) or (points, rows, cols);
    NaN where it is not a finite number. None when it does not finish within `timeout`."""
    finished, out = call_with_timeout(_values_at, timeout, expr, points, symbols)
    return out if finished else None


def _values_at(expr, points, symbols):
    entries = list(expr) if _is_matrix(expr) else [expr]
    shape = tuple(expr.shape) if _is_matrix(expr) else ()
    rows = []
    for point in points:
        subs = {symbols[name]: sympy.Float(v, DIGITS) for name, v in point.items() if name in symbols}
        row = []
        for entry in entries:
            try:
                v = entry.xreplace(subs) if hasattr(entry, "xreplace") else entry
                c = complex(sympy.N(v, DIGITS))
            except TimeoutError:  # an outer time limit must still fire
                raise
            except Exception:
                c = complex("nan")
            row.append(c if np.isfinite(c) else complex("nan"))
        rows.append(row)
    return np.array(rows, dtype=complex).reshape((len(points),) + shape)


def additive_terms(expr) -> list:
    """The terms of a scalar sum (none for a matrix, a single term, or more than MAX_TERMS)."""
    if _is_matrix(expr):
        return []
    terms = sympy.Add.make_args(expr)
    return list(terms) if 2 <= len(terms) <= MAX_TERMS else []


def short_factors(expr) -> list:
    """Products of some of the factors of a scalar expression that ``compare_expressions`` would name as
    a missing or extra factor (they depend on the variables, are short and divide by no variable)."""
    if _is_matrix(expr):
        return []
    factors = list(sympy.Mul.make_args(sympy.factor_terms(expr)))[:MAX_FACTORS]
    out = []
    seen = set()
    for r in range(1, len(factors)):
        for combo in itertools.combinations(factors, r):
            q = sympy.Mul(*combo)
            if q not in seen and sympy.count_ops(q) <= MAX_FACTOR_OPS and short_factor(q):
                seen.add(q)
                out.append(q)
    return out
