"""Decide whether two expressions are equal, and if not, how they differ.

``equivalent(a, b)``, in order: sympy's canonical form of a − b is 0 (equal); a numeric screen at 4
random real points (a clear mismatch where both are defined: not equal); a cheap simplification,
``cancel(expand(a − b)) == 0`` (equal); 8 random numeric probes at 30 significant digits (equal when
at least 3 are defined for both and all agree to 1e-12 relative); and only when the probes are
inconclusive, ``simplify(a − b) == 0`` with the time left (full ``simplify`` is slow, often a second).
The probes treat symbols as real (positive when declared positive). Every sympy step is
time-limited in CPU time (timelimit.clock), so a call never takes much more than ``timeout`` seconds
of CPU, however busy the machine; when time runs out the answer is False (not proven equal).

``compare_expressions(got, expected)`` -> ExprReport with ``kind`` in
"equal", "sign" (got = -expected), "factor" (got = c·expected), "missing_term" (got = expected − t for
an additive term t of expected), "different", "invalid" (got does not parse).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import sympy

from .parse import PARSE_TIMEOUT, parse_expression
from .timelimit import call_with_timeout, clock

PROBES = 8
MIN_VALID_PROBES = 3
DIGITS = 30
PROBE_RTOL = 1e-12


@dataclass
class ExprReport:
    """How ``got`` compares with ``expected``; truthy iff ``kind == "equal"``."""

    kind: str
    message: str
    got: object = None
    expected: object = None
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.kind == "equal"

    def __str__(self) -> str:
        return f"Expression check: {'correct' if self else self.kind.upper()} - {self.message}"

    __repr__ = __str__

    def assert_ok(self) -> ExprReport:
        """Raise AssertionError with the message unless the expressions are equal."""
        if not self:
            raise AssertionError(str(self))
        return self


# ----------------------------------------------------------------------------------------------
# the sentences (the student's self-check, chainrule_utils.selfcheck, names mistakes with these too)

SIGN = "Your expression has the wrong sign: it is the negative of the expected one."
MISSING_TERM = "Your expression misses one term of the expected sum: every other part is right."
EXTRA_TERM = "Your expression has one extra term: without it, it would be right."
TRANSPOSE = ("Your matrix is the transpose of the expected one: numerator layout puts the outputs on rows and "
             "the inputs on columns.")
MISSING_FACTOR = ("Your expression is missing a factor that depends on the variables: multiplied by it, it would "
                  "be right (in the chain rule, did you forget the derivative of an inner function?).")
EXTRA_FACTOR = "Your expression has an extra factor that depends on the variables: divided by it, it would be right."
DIFFERENT = "Your expression is not equal to the expected one."


def invalid_sentence(reason) -> str:
    return f"Your answer could not be read: {reason}."


def factor_sentence(ratio: float | None) -> str:
    """Names the constant only when it tells the mistake (2, 1/2, 3, ...): an arbitrary ratio (or None,
    not known) would give the expected expression away."""
    from ..diagnosis import _nice_ratio

    nice = None if ratio is None else _nice_ratio(ratio)
    if nice is None:
        return "Your expression is a constant multiple of the expected one: a constant factor is off."
    shown = sympy.nsimplify(nice, rational=True)
    return (f"Your expression is {shown} times the expected one: a constant factor is off (for example a "
            "missing 2 from differentiating a square).")


def shape_sentence(got_shape, expected_shape) -> str:
    """got_shape/expected_shape: a matrix's (rows, cols), or None for a scalar."""
    gs = got_shape if got_shape is not None else "a scalar"
    es = expected_shape if expected_shape is not None else "a scalar"
    transposed = got_shape is not None and expected_shape is not None and tuple(got_shape) == tuple(expected_shape)[::-1]
    extra = (": it has the transpose's shape, and numerator layout puts the outputs on rows"
             if transposed else "")
    return f"Your answer has shape {gs} but the expected one has shape {es}{extra}."


def name_hint(extra_names) -> str:
    """Names the answer uses that neither the question's symbols nor the expected answer use."""
    extra = set(extra_names)
    if not extra:
        return ""
    if "e" in extra:
        return " (You used a variable named e: write exp(x), or E, for Euler's number.)"
    return f" (Your answer uses {', '.join(sorted(extra))}, which the expected answer does not.)"


def equivalent(a, b, *, symbols=None, timeout: float = 2.0) -> bool:
    """True iff a and b (strings or sympy objects) are mathematically equal; False when unsure."""
    return _guarded(_equivalent, (a, b, symbols, timeout), timeout, False)


def _guarded(fn, args, timeout: float, default):
    """Run fn here in the main thread (time limits use SIGALRM); from another thread, run the whole
    call in one forked child (where the alarms work again) rather than forking for every step."""
    if threading.current_thread() is threading.main_thread():
        return fn(*args)
    finished, value = _limited(fn, timeout + 2 * PARSE_TIMEOUT + 1.0, *args)
    return value if finished else default


def _equivalent(a, b, symbols, timeout):
    deadline = clock() + timeout
    table = _symbol_table(symbols, a, b)
    try:
        ea, eb = _parse(a, table, deadline), _parse(b, table, deadline)
    except ValueError:
        return False
    return _equal(ea, eb, deadline)


def _symbol_table(symbols, *objects) -> dict:
    """name -> Symbol. Symbols given as objects win; then those of the sympy objects compared (so a
    string answer gets the expected answer's assumptions, e.g. positive=True); then plain names."""
    table = {}
    names = []
    if isinstance(symbols, dict):
        table.update({str(k): v for k, v in symbols.items()})
    elif isinstance(symbols, str):
        names = symbols.replace(",", " ").split()
    elif symbols is not None:
        for s in symbols:
            if isinstance(s, str):
                names.append(s)
            else:
                table[str(s)] = s
    for obj in objects:
        if isinstance(obj, sympy.Basic | sympy.MatrixBase):
            for s in obj.free_symbols:
                table.setdefault(str(s), s)
    for name in names:
        table.setdefault(name, sympy.Symbol(name))
    return table


def _parse(value, table, deadline: float):
    """parse_expression within the time left, with the free symbols of sympy objects renamed onto the
    table's symbols."""
    e = parse_expression(value, table, timeout=min(PARSE_TIMEOUT, max(deadline - clock(), 0.1)))
    if isinstance(value, sympy.Basic | sympy.MatrixBase):
        mapping = {s: table[str(s)] for s in e.free_symbols if str(s) in table and table[str(s)] != s}
        if mapping:
            e = e.xreplace(mapping)
    return e


def compare_expressions(got, expected, *, symbols=None, timeout: float = 2.0) -> ExprReport:
    """Compare a (possibly hostile) answer ``got`` with the trusted ``expected``; see the module doc."""
    if threading.current_thread() is not threading.main_thread():
        parse_expression(expected, _symbol_table(symbols, expected))  # a bad reference raises here
    late = ExprReport("different", "Your expression could not be compared with the expected one in time.",
                      None, None, {"timeout": True})
    return _guarded(_compare, (got, expected, symbols, timeout), timeout, late)


def _compare(got, expected, symbols, timeout):
    deadline = clock() + timeout
    table = _symbol_table(symbols, expected)
    exp = _parse(expected, table, clock() + PARSE_TIMEOUT)  # trusted: its own budget
    try:
        g = _parse(got, table, deadline)
    except ValueError as exc:
        return ExprReport("invalid", invalid_sentence(exc), None, exp, {"reason": str(exc)})
    if _is_matrix(g) != _is_matrix(exp) or (_is_matrix(g) and g.shape != exp.shape):
        return _shape_report(g, exp)
    if _equal(g, exp, deadline):
        return ExprReport("equal", "Correct.", g, exp)
    hint = _name_hint(g, exp, table)
    try:
        report = _how_they_differ(g, exp, deadline)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:  # naming the difference is a courtesy; "different" is already decided
        report = None
    if report is None:
        report = ExprReport("different", DIFFERENT, g, exp)
    report.message += hint
    return report


def _how_they_differ(g, exp, deadline) -> ExprReport | None:
    ok, values = _limited(_probe_table, max(deadline - clock(), 0.05), [g, exp])
    if ok and values is not None:
        gv, ev = values
        report = _describe_difference(g, exp, gv, ev, deadline)
        if report is not None:
            return report
    if _is_matrix(g) and g.shape[0] == g.shape[1] and _equal(g, exp.T, deadline):
        return ExprReport("different", TRANSPOSE, g, exp, {"transpose": True})
    if not _is_matrix(g):
        return _factor_report(g, exp, deadline)
    return None


MAX_FACTOR_OPS = 12  # a missing/extra factor is named only when it is short


def _factor_report(g, exp, deadline) -> ExprReport | None:
    """got = expected / q or expected · q for a short non-constant q (often the derivative of an inner
    function, forgotten or applied twice in the chain rule). The message does not print q (it would
    give the answer away); `details` keeps it for instructors."""
    for num, den, kind in ((exp, g, "missing"), (g, exp, "extra")):
        ok, q = _limited(_short_ratio, max(min(deadline - clock(), 1.0), 0.05), num, den)
        if ok and q is not None:
            if kind == "missing":
                return ExprReport("different", MISSING_FACTOR, g, exp, {"missing_factor": str(q)})
            return ExprReport("different", EXTRA_FACTOR, g, exp, {"extra_factor": str(q)})
    return None


def _short_ratio(num, den):
    if den == 0:
        return None
    q = sympy.simplify(num / den)
    return q if short_factor(q) else None


def short_factor(q) -> bool:
    """A factor worth naming: depends on the variables, is short, and divides by no variable."""
    _, q_den = q.as_numer_denom()
    return bool(q.free_symbols) and bool(q_den.is_number) and sympy.count_ops(q) <= MAX_FACTOR_OPS


def check_expression(got, expected, symbols=None, *, timeout: float = 2.0) -> ExprReport:
    """``compare_expressions`` for self-check cells: ``check_expression(ans, "2*x").assert_ok()``."""
    return compare_expressions(got, expected, symbols=symbols, timeout=timeout)


# ----------------------------------------------------------------------------------------------


def _limited(fn, seconds, *args):
    """(finished, value) of fn(*args) within ``seconds``; an exception inside sympy or mpmath (an
    overflow on a hostile expression, say) counts as not finished: the step is inconclusive."""
    try:
        return call_with_timeout(fn, seconds, *args)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        return False, None


def _is_matrix(e) -> bool:
    return isinstance(e, sympy.MatrixBase)


def _entries(e) -> list:
    return list(e) if _is_matrix(e) else [e]


def _shape_report(g, exp) -> ExprReport:
    gs = g.shape if _is_matrix(g) else None
    es = exp.shape if _is_matrix(exp) else None
    return ExprReport("different", shape_sentence(gs, es), g, exp,
                      {"got_shape": str(gs or "a scalar"), "expected_shape": str(es or "a scalar")})


def _equal(a, b, deadline: float) -> bool:
    """See the module docstring: canonical form, screen, cheap then full simplification, probes."""
    if _is_matrix(a) != _is_matrix(b) or (_is_matrix(a) and a.shape != b.shape):
        return False
    try:
        if a == b or all(d == 0 for d in _entries(_difference(a, b))):
            return True  # equal after sympy's automatic canonicalisation
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        pass

    def left():
        return max(deadline - clock(), 0.05)

    # a quick numeric screen: a definite mismatch at a point where both are defined settles it
    ok, values = _limited(_probe_table, min(left(), 0.5), [a, b], 4)
    if ok and values is not None and _mismatch(*values):
        return False
    # cheap simplification: expand / cancel the difference
    ok, zero = _limited(_simplifies_to_zero, min(left() * 0.3, 0.5), a, b, False)
    if ok and zero:
        return True
    # random numeric probes at 30 digits
    ok, values = _limited(_probe_table, left() * 0.5, [a, b])
    if ok and values is not None:
        av, bv = values
        valid = [(x, y) for x, y in zip(av, bv, strict=True) if x is not None and y is not None]
        if _mismatch(av, bv):
            return False
        if len(valid) >= MIN_VALID_PROBES and all(_close(x, y) for x, y in valid):
            return True
    # inconclusive (too few points where both are defined): full simplification with the time left
    ok, zero = _limited(_simplifies_to_zero, left(), a, b, True)
    return bool(ok and zero)


def _difference(a, b):
    return sympy.Matrix(a) - sympy.Matrix(b) if _is_matrix(a) else a - b


def _simplifies_to_zero(a, b, thorough: bool) -> bool:
    for entry in _entries(_difference(a, b)):
        if entry == 0:
            continue
        if not isinstance(entry, sympy.Expr):
            return False
        if thorough:
            if sympy.simplify(entry) != 0:
                return False
        elif sympy.cancel(sympy.expand(entry)) != 0:
            return False
    return True


def _probe_table(exprs: list, count: int = PROBES):
    """Each expression's values at ``count`` random real points: lists (one per probe) of tuples of
    complex numbers (one per entry), or None where an entry is not a finite number."""
    symbols = set()
    for e in exprs:
        symbols |= _free_symbols(e)
    symbols = sorted(symbols, key=str)
    rng = random.Random()
    tables = [[] for _ in exprs]
    for _ in range(count):
        point = {s: sympy.Float(_draw(rng, s), DIGITS) for s in symbols}
        for table, e in zip(tables, exprs, strict=True):
            table.append(_evaluate(e, point))
    return tables


def _draw(rng: random.Random, symbol) -> float:
    magnitude = rng.uniform(0.2, 2.5)
    if symbol.is_positive or symbol.is_nonnegative:
        return magnitude
    if symbol.is_negative or symbol.is_nonpositive:
        return -magnitude
    return magnitude if rng.random() < 0.5 else -magnitude


def _free_symbols(e) -> set:
    return set(e.free_symbols) if hasattr(e, "free_symbols") else set()


def _evaluate(e, point):
    values = []
    for entry in _entries(e):
        try:
            v = entry.xreplace(point) if hasattr(entry, "xreplace") else entry
            if v in (sympy.true, sympy.false):
                values.append(complex(1 if v == sympy.true else 0))
                continue
            v = sympy.N(v, DIGITS)
            c = complex(v)
        except TimeoutError:  # an outer time limit must still fire
            raise
        except Exception:
            return None
        if c != c or abs(c) == float("inf"):
            return None
        values.append(c)
    return tuple(values)


def _close(x: tuple, y: tuple, rtol: float = PROBE_RTOL) -> bool:
    return all(abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-20 for a, b in zip(x, y, strict=True))


def _mismatch(av, bv) -> bool:
    """A probe where both are finite and clearly differ (not a near-miss of rounding)."""
    return any(x is not None and y is not None and not _close(x, y, 1e-8)
               for x, y in zip(av, bv, strict=True))


def _describe_difference(g, exp, gv, ev, deadline) -> ExprReport | None:
    pairs = [(x, y) for x, y in zip(gv, ev, strict=True) if x is not None and y is not None]
    if len(pairs) < MIN_VALID_PROBES:
        return None
    if all(_close(x, tuple(-b for b in y), 1e-10) for x, y in pairs) and any(any(y) for _, y in pairs):
        return ExprReport("sign", SIGN, g, exp, {"factor": -1})
    factor = _constant_ratio(pairs)
    if factor is not None:
        return ExprReport("factor", factor_sentence(float(factor)), g, exp, {"factor": str(factor)})
    if not _is_matrix(g):
        term = _missing_term(g, exp, deadline)
        if term is not None:
            return term
    return None


def _constant_ratio(pairs):
    ratios = []
    for x, y in pairs:
        for a, b in zip(x, y, strict=True):
            if abs(b) > 1e-12:
                ratios.append(a / b)
            elif abs(a) > 1e-12:
                return None
    if not ratios:
        return None
    r0 = ratios[0]
    if abs(r0) < 1e-12 or abs(r0 - 1) < 1e-9:
        return None
    if not all(abs(r - r0) <= 1e-9 * abs(r0) for r in ratios):
        return None
    if abs(r0.imag) > 1e-9 * abs(r0):
        return None
    return sympy.nsimplify(r0.real, tolerance=1e-10, rational=True)


def _missing_term(g, exp, deadline):
    for source, kind in ((exp, "missing"), (g, "extra")):
        terms = sympy.Add.make_args(source)
        if len(terms) < 2 or len(terms) > 50:
            continue
        for term in terms:
            if clock() > deadline:
                return None
            candidate = g + term if kind == "missing" else g - term
            ok, values = _limited(_probe_table, max(deadline - clock(), 0.05),
                                           [candidate, exp], 4)
            if not ok or values is None:
                return None
            cv, ev = values
            pairs = [(x, y) for x, y in zip(cv, ev, strict=True) if x is not None and y is not None]
            if len(pairs) >= MIN_VALID_PROBES and all(_close(x, y, 1e-10) for x, y in pairs):
                if kind == "missing":
                    return ExprReport("missing_term", MISSING_TERM, g, exp, {"term": str(term)})
                return ExprReport("different", EXTRA_TERM, g, exp, {"extra_term": str(term)})
    return None


def _name_hint(g, exp, table=None) -> str:
    known = {str(s) for s in _free_symbols(exp)} | set(table or ())
    return name_hint({str(s) for s in _free_symbols(g)} - known)
