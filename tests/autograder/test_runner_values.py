"""read_answer turns sympy numbers into Python numbers (what the student means by a number)."""
import sympy as sp

from autograder.runner import read_answer
from autograder.wire import decode, encode

x = sp.Symbol("x")


def _value(obj, kind="value"):
    out = read_answer({"ans": obj}, {"answer": "ans", "kind": kind}, 2.0)
    assert out["status"] == "ok", out
    return decode(out["value"])


def test_sympy_numbers_in_value_answers_become_python_numbers():
    assert _value((3 * x**2 - 2).subs(x, 2)) == 10 and type(_value(sp.Integer(10))) is int
    assert _value(sp.sqrt(2)) == 2**0.5
    assert _value((sp.Integer(2), sp.Integer(3))) == (2, 3)
    assert _value(sp.Matrix([[1, sp.Rational(1, 2)]])) == [[1, 0.5]]


def test_symbolic_values_stay_symbolic_and_function_outputs_are_converted():
    out = read_answer({"ans": x + 1}, {"answer": "ans", "kind": "value"}, 2.0)
    assert out["value"]["t"] == "other"
    probes = read_answer({"ans": lambda v: sp.cos(sp.Float(v))},
                         {"answer": "ans", "kind": "function", "probes": [[encode(0.5)]]}, 2.0)["probes"]
    assert abs(decode(probes[0]["ok"]) - 0.8775825618903728) < 1e-15
