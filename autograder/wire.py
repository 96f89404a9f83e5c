"""Plain-data encoding of answers between the sandbox and the grader (JSON-able, size-capped).

`encode` runs in the sandbox on whatever the student's code produced and never raises; `decode` runs
in the grader on data that may have been forged, validates every field and raises WireError.
Tags: none, bool, int, float, complex, str, list, tuple, dict, array, other (a type name only).
Non-finite floats are the strings "nan", "inf", "-inf".
"""
from __future__ import annotations

import math

import numpy as np

MAX_NUMBERS = 10**5          # numbers per encoded answer
MAX_CHARS = 20_000           # characters per string
MAX_DEPTH = 20
MAX_ITEMS = 10_000           # elements of a list/tuple/dict
MAX_INT_DIGITS = 400


class WireError(ValueError):
    """Data from the sandbox that does not decode (forged, truncated or oversized)."""


class _Budget:
    def __init__(self, numbers: int = MAX_NUMBERS):
        self.numbers = numbers

    def take(self, n: int) -> None:
        self.numbers -= n
        if self.numbers < 0:
            raise OverflowError(f"answer has more than {MAX_NUMBERS} numbers")


def _f(x: float):
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode(obj, *, _budget: _Budget | None = None, _depth: int = 0) -> dict:
    """A tagged, JSON-able description of `obj` (sandbox side). Never raises."""
    budget = _budget or _Budget()
    try:
        return _encode(obj, budget, _depth)
    except OverflowError as exc:
        return {"t": "other", "type": "too large", "why": str(exc)}
    except RecursionError:
        return {"t": "other", "type": "too deep"}
    except Exception as exc:  # hostile __array__ / __len__ / __str__ ...
        return {"t": "other", "type": _type_name(obj), "why": f"{type(exc).__name__}"}


def _encode(obj, budget: _Budget, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise OverflowError("answer is nested too deeply")
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, (bool, np.bool_)):
        return {"t": "bool", "v": bool(obj)}
    if isinstance(obj, (int, np.integer)):
        text = str(int(obj))
        if len(text) > MAX_INT_DIGITS:
            return {"t": "float", "v": _f(float("inf") if int(obj) > 0 else float("-inf"))}
        budget.take(1)
        return {"t": "int", "v": text}
    if isinstance(obj, (float, np.floating)):
        budget.take(1)
        return {"t": "float", "v": _f(obj)}
    if isinstance(obj, (complex, np.complexfloating)):
        budget.take(2)
        return {"t": "complex", "re": _f(obj.real), "im": _f(obj.imag)}
    if isinstance(obj, str):
        return {"t": "str", "v": str(obj[:MAX_CHARS])}
    if isinstance(obj, np.ndarray) or (hasattr(type(obj), "__array__") and not _is_sympy(obj)):
        arr = np.asarray(obj)
        if arr.dtype.kind in "biufc":
            return _encode_array(arr, budget)
        if arr.dtype.kind == "O" and arr.size <= MAX_ITEMS:
            try:
                num = arr.astype(complex if any(isinstance(v, complex) for v in arr.flat) else float)
                return _encode_array(num, budget)
            except (TypeError, ValueError):
                pass
        return {"t": "other", "type": f"array of {arr.dtype}"}
    if isinstance(obj, (list, tuple)):
        if len(obj) > MAX_ITEMS:
            raise OverflowError(f"answer has more than {MAX_ITEMS} items")
        items = [_encode(v, budget, depth + 1) for v in list(obj)]
        return {"t": "tuple" if isinstance(obj, tuple) else "list", "v": items}
    if isinstance(obj, dict):
        if len(obj) > MAX_ITEMS:
            raise OverflowError(f"answer has more than {MAX_ITEMS} items")
        return {"t": "dict", "v": [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
                                   for k, v in list(obj.items())]}
    return {"t": "other", "type": _type_name(obj)}


def _encode_array(arr: np.ndarray, budget: _Budget) -> dict:
    kind = arr.dtype.kind
    n = int(arr.size) * (2 if kind == "c" else 1)
    budget.take(n)
    shape = [int(s) for s in arr.shape]
    flat = arr.ravel()
    if kind == "b":
        return {"t": "array", "dtype": "bool", "shape": shape, "data": [bool(v) for v in flat]}
    if kind in "iu":
        if flat.size and np.max(np.abs(flat.astype(float))) < 2**53:
            return {"t": "array", "dtype": "int", "shape": shape, "data": [int(v) for v in flat]}
        flat = flat.astype(float)
        kind = "f"
    if kind == "c":
        return {"t": "array", "dtype": "complex", "shape": shape,
                "data": [[_f(v.real), _f(v.imag)] for v in flat.astype(complex)]}
    return {"t": "array", "dtype": "float", "shape": shape, "data": [_f(v) for v in flat.astype(float)]}


def _is_sympy(obj) -> bool:
    return type(obj).__module__.startswith("sympy")


def _type_name(obj) -> str:
    from chainrule_utils.values import type_name  # here, not at import: kinds import this module

    return type_name(obj)


# ---------------------------------------------------------------------------------------------
# grader side


def _num(v) -> float:
    if isinstance(v, bool):
        raise WireError("a number is a boolean")
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:  # a JSON integer beyond the float range: never sent by encode()
            raise WireError("a number out of the float range") from None
    if isinstance(v, float):
        return v
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise WireError(f"not a number: {str(v)[:20]!r}")


def decode(data):
    """The Python value described by `data` (grader side); raises WireError on anything malformed.

    Arrays come back as numpy arrays, "other" as an `Opaque` (a type name only). Every failure while
    decoding (overflow, recursion, odd types, memory) is a WireError, never anything else.
    """
    try:
        return _decode(data)
    except WireError:
        raise
    except (ArithmeticError, RecursionError, MemoryError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"undecodable answer data ({type(exc).__name__})") from None


def _decode(data, *, _depth: int = 0):
    if _depth > MAX_DEPTH + 2:
        raise WireError("nested too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise WireError("not a tagged value")
    t = data["t"]
    v = data.get("v")
    if t == "none":
        return None
    if t == "bool":
        if not isinstance(v, bool):
            raise WireError("bad bool")
        return v
    if t == "int":
        if not isinstance(v, str) or len(v) > MAX_INT_DIGITS + 1:
            raise WireError("bad int")
        try:
            return int(v)
        except ValueError:
            raise WireError("bad int") from None
    if t == "float":
        return _num(v)
    if t == "complex":
        return complex(_num(data.get("re")), _num(data.get("im")))
    if t == "str":
        if not isinstance(v, str) or len(v) > MAX_CHARS:
            raise WireError("bad string")
        return v
    if t in ("list", "tuple"):
        if not isinstance(v, list) or len(v) > MAX_ITEMS:
            raise WireError("bad list")
        items = [_decode(x, _depth=_depth + 1) for x in v]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        if not isinstance(v, list) or len(v) > MAX_ITEMS:
            raise WireError("bad dict")
        out = {}
        for pair in v:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("bad dict item")
            key = _decode(pair[0], _depth=_depth + 1)
            try:
                out[key] = _decode(pair[1], _depth=_depth + 1)
            except TypeError:
                raise WireError("unhashable dict key") from None
        return out
    if t == "array":
        return _decode_array(data)
    if t == "other":
        return Opaque(str(data.get("type", "object"))[:100], str(data.get("why", ""))[:100])
    raise WireError(f"unknown tag {t[:20]!r}")


def _decode_array(data: dict) -> np.ndarray:
    shape, values, dtype = data.get("shape"), data.get("data"), data.get("dtype")
    if not isinstance(shape, list) or len(shape) > 32 or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_NUMBERS for s in shape
    ):
        raise WireError("bad array shape")
    size = math.prod(shape)
    if not isinstance(values, list) or len(values) != size or size > MAX_NUMBERS:
        raise WireError("array data does not match its shape")
    if dtype == "bool":
        if not all(isinstance(x, bool) for x in values):
            raise WireError("bad bool array")
        return np.array(values, dtype=bool).reshape(shape)
    if dtype == "int":
        if not all(isinstance(x, int) and not isinstance(x, bool) and abs(x) < 2**63 for x in values):
            raise WireError("bad int array")
        return np.array(values, dtype=np.int64).reshape(shape)
    if dtype == "float":
        return np.array([_num(x) for x in values], dtype=float).reshape(shape)
    if dtype == "complex":
        if not all(isinstance(x, list) and len(x) == 2 for x in values):
            raise WireError("bad complex array")
        return np.array([complex(_num(a), _num(b)) for a, b in values], dtype=complex).reshape(shape)
    raise WireError("bad array dtype")


class Opaque:
    """A student value the sandbox could not send as data (only its type name is known)."""

    def __init__(self, type_name: str, why: str = ""):
        self.type_name = type_name
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Opaque) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)


def encode_args(args: list) -> list:
    """Probe arguments (floats and float arrays from the grader) for the job file."""
    return [encode(a) for a in args]
