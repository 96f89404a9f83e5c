"""The value rule: what a student's answer is as data, and when two values are equal. One definition,
used by the grader (autograder's value and function kinds, after the sandbox sent the answer as data)
and by the student's self-check (chainrule_utils.selfcheck, on the live object).

``plain(obj)``: the answer as the grader receives it. Sympy numbers become Python numbers (an Integer
an int, anything else numeric a float; a Matrix of numbers a list of rows), numpy scalars Python
numbers, array-likes numpy arrays (bool, int64, float or complex), lists and tuples keep their type;
anything else is ``Other(type name)``. Never raises (the object may be hostile).

``values_equal(got, exp, rtol, atol)``: exact for bool, int, str (stripped, case-insensitive) and
tuples/lists (item by item; a list equals a tuple), ``|got - exp| <= atol + rtol * max(1, |exp|)`` for
floats, ``diagnose`` for arrays (the shape must match); a 0-d numeric array is its number. A tuple of
numpy integers is a tuple of ints here, in the grader and in every self-check alike.
"""
from __future__ import annotations

import numpy as np

MAX_ITEMS = 10_000
MAX_DEPTH = 20
MAX_INT_DIGITS = 400


class Other:
    """A value that is not data (a function, a module, a symbolic expression): only its type name."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Other) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)


def _sympy():
    import sys

    return sys.modules.get("sympy")  # a sympy object can only exist once sympy is imported


def numeric(obj, depth=0):
    """Sympy numbers as Python numbers (an Integer as int, anything else numeric as float; a Matrix of
    numbers as a list of rows), also inside tuples and lists. Symbolic values are left alone."""
    if depth > 5:
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) <= MAX_ITEMS:
        return type(obj)(numeric(v, depth + 1) for v in obj)
    sp = _sympy()
    if sp is None:
        return obj
    if isinstance(obj, sp.MatrixBase):
        rows = obj.tolist()
        if all(getattr(v, "is_number", False) for row in rows for v in row):
            return [[numeric(v, depth + 1) for v in row] for row in rows]
        return obj
    if isinstance(obj, sp.Basic) and getattr(obj, "is_number", False):
        if getattr(obj, "is_Integer", False):
            return int(obj)
        try:
            return float(obj)
        except (TypeError, ValueError):  # a complex number: leave it to the comparison
            return obj
    return obj


def plain(obj):
    """``obj`` as plain data, the way the grader receives it (see the module docstring)."""
    try:
        return _plain(numeric(obj), 0)
    except RecursionError:
        return Other("too deep")
    except Exception:  # hostile __array__ / __len__ / __eq__ ...
        return Other(type_name(obj))


def _plain(obj, depth: int):
    if depth > MAX_DEPTH:
        return Other("too deep")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        value = int(obj)
        if len(str(abs(value))) > MAX_INT_DIGITS:
            return float("inf") if value > 0 else float("-inf")
        return value
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return complex(obj)
    if isinstance(obj, np.ndarray) or (hasattr(type(obj), "__array__")
                                       and not type(obj).__module__.startswith("sympy")):
        return _array(np.asarray(obj))
    if isinstance(obj, (list, tuple)):
        if len(obj) > MAX_ITEMS:
            return Other("too large")
        items = [_plain(v, depth + 1) for v in list(obj)]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        if len(obj) > MAX_ITEMS:
            return Other("too large")
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in list(obj.items())}
    return Other(type_name(obj))


def _array(arr: np.ndarray):
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(bool)
    if kind in "iu":
        if arr.size and np.max(np.abs(arr.astype(float))) >= 2**53:
            return arr.astype(float)
        return arr.astype(np.int64)
    if kind == "f":
        return arr.astype(float)
    if kind == "c":
        return arr.astype(complex)
    if kind == "O" and arr.size <= MAX_ITEMS:
        try:
            return arr.astype(complex if any(isinstance(v, complex) for v in arr.flat) else float)
        except (TypeError, ValueError):
            pass
    return Other(f"array of {arr.dtype}")


def type_name(obj) -> str:
    """The type of `obj` as shown to a student (module-qualified unless a builtin), at most 100 characters;
    never raises, whatever the object does."""
    try:
        t = type(obj)
        name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        return name[:100]
    except Exception:
        return "object"


# ---------------------------------------------------------------------------------------------
# equality


def is_number(v) -> bool:
    """A real or complex Python number, not a bool."""
    return isinstance(v, (int, float, complex)) and not isinstance(v, bool)


def number_of_0d(v):
    """The number a 0-d numeric array holds (np.array(2.5) is 2.5); anything else unchanged."""
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "iufc":
        return v.item()
    return v


def values_equal(got, exp, rtol: float, atol: float) -> bool:
    """The value rule (module docstring); ``got`` and ``exp`` are plain values."""
    from .diagnosis import diagnose

    if is_number(exp):
        got = number_of_0d(got)
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
        if not is_number(got):
            return False
        return bool(diagnose(np.asarray(got), np.asarray(exp), rtol=rtol, atol=atol, reveal=False))
    if isinstance(exp, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            return False
        return all(values_equal(g, e, rtol, atol) for g, e in zip(got, exp, strict=True))
    if isinstance(exp, np.ndarray):
        return bool(diagnose(_numeric_or_text(got), exp, rtol=rtol, atol=atol, reveal=False))
    if exp is None:
        return got is None
    return False


def _numeric_or_text(v):
    """An untrusted value for `diagnose`: a value that is not data is described by its type name."""
    if hasattr(v, "type_name") and not isinstance(v, np.ndarray):
        return f"<{v.type_name}>"
    return v


def value_class(v) -> str:
    """The class that decides how a value compares (and is fingerprinted): number, array, seq, str,
    bool, none or other."""
    v = number_of_0d(v)
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if is_number(v):
        return "number"
    if isinstance(v, np.ndarray):
        return "array"
    if isinstance(v, (tuple, list)):
        return "seq"
    if isinstance(v, str):
        return "str"
    if v is None:
        return "none"
    return "other"


def describe(v) -> str:
    """What a value is, for a message: 'a number', 'a tuple', 'an array of shape (2, 3)', ... (never its
    value; int and float are both 'a number')."""
    v = number_of_0d(v)
    if isinstance(v, np.ndarray):
        return f"an array of shape {tuple(v.shape)}"
    if hasattr(v, "type_name"):
        return f"a {v.type_name}"
    if isinstance(v, (bool, np.bool_)):
        return "True or False"
    if is_number(v):
        return "a number"
    names = {tuple: "a tuple", list: "a list", str: "a string", dict: "a dict", type(None): "None"}
    return names.get(type(v), f"a {type(v).__name__}")
