"""Numbers shared by the numeric kinds (function, value).

Sandbox side: sympy numbers become Python numbers (`numeric`), since `slope = p.subs(x, 2)` is a
number to the student. Grader side: the numeric rule (`numeric_match`, chainrule_utils.diagnose
without expected values in its message) and the details of a diagnosis that may be shown.
"""
from __future__ import annotations

from autograder.wire import Opaque


def sympy_types():
    import sympy

    return (sympy.Basic, sympy.MatrixBase)


def numeric(obj, depth=0):
    """Sympy numbers as Python numbers (an Integer as int, anything else numeric as float; a Matrix of
    numbers as a list of rows), also inside tuples and lists. Symbolic values are left alone (the judge
    calls them the wrong type)."""
    if depth > 5:
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) <= 10_000:
        return type(obj)(numeric(v, depth + 1) for v in obj)
    types = sympy_types()
    if isinstance(obj, types[1]):
        rows = obj.tolist()
        if all(getattr(v, "is_number", False) for row in rows for v in row):
            return [[numeric(v, depth + 1) for v in row] for row in rows]
        return obj
    if isinstance(obj, types[0]) and getattr(obj, "is_number", False):
        if getattr(obj, "is_Integer", False):
            return int(obj)
        try:
            return float(obj)
        except (TypeError, ValueError):  # a complex number: leave it to the judge
            return obj
    return obj


def numeric_match(got, exp, rtol: float, atol: float):
    """diagnose(got, exp) without expected values in its message (they would give the answer away); a
    value the sandbox could not send is never a match."""
    from chainrule_utils import diagnose

    if isinstance(got, Opaque):
        got = f"<{got.type_name}>"
    return diagnose(got, exp, rtol=rtol, atol=atol, reveal=False)


def safe_details(details: dict) -> dict:
    """The plain-typed entries of a diagnosis's details (lists cut to 20 items), for a verdict."""
    out = {}
    for key, value in (details or {}).items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)):
            out[key] = [list(v) if isinstance(v, tuple) else v for v in list(value)[:20]]
    return out
