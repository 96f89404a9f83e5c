"""Units of the grading core that need no sandbox: assembly, static scan, wire format, judging."""
from __future__ import annotations

import math

import numpy as np
import pytest
from coursekit import code, tiny_notebook

from autograder.assemble import assemble
from autograder.judge import judge
from autograder.notebooks import cell_by_grade_id
from autograder.spec import Exercise, WrongAnswer
from autograder.wire import WireError, decode, encode
from chainrule_utils.chain_steps import chain_credit
from chainrule_utils.values import values_equal


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_assemble_restores_deleted_and_edited_locked_cells():
    released = tiny_notebook()
    sub = tiny_notebook()
    sub.cells[5].source = "print('edited test')"              # edited test cell -> released version
    del sub.cells[7]                                           # deleted test cell t_expr -> put back
    del sub.cells[2]                                           # deleted lesson cell -> put back first
    sub.cells.insert(3, code("scratch = 1"))                   # a cell the student added
    sub.cells.append(sub.cells[4].copy())                      # a duplicated locked test cell counts once
    cell_by_grade_id(sub, "t_jac_answer").source = "def dh_dx(x):\n    return x\n"  # the student's answer
    out = assemble(sub, released)
    ids = _ids(out.notebook)
    assert ids.index("lesson_h") < ids.index("t_jac_answer")
    assert ids.index("t_expr") == ids.index("t_expr_answer") + 1
    assert ids.count("t_jac") == 1
    assert cell_by_grade_id(out.notebook, "t_jac").source == released.cells[5].source
    assert out.test_cells["t_expr"] == ids.index("t_expr") + 1  # cells are numbered from 1
    written = {src.strip(): student for _, src, student, _ in out.code_cells}
    assert written["scratch = 1"] is True
    assert written[released.cells[1].source.strip()] is False     # unchanged unlocked lesson code
    assert written["def dh_dx(x):\n    return x"] is True          # an answer cell the student wrote
    assert written[released.cells[6].source.strip()] is False     # an answer cell left as released


@pytest.mark.parametrize("value", [
    None, True, 3, -2**70, 2.5, float("nan"), float("-inf"), 1 + 2j, "text", (2, 3), [1, [2.0, "a"]],
    {"a": "x**2", "b": {"c": "1"}}, np.arange(6.0).reshape(2, 3), np.array([1 + 1j, np.inf]),
    np.array([True, False]), np.int64(4),
])
def test_wire_round_trip(value):
    back = decode(encode(value))
    if isinstance(value, np.ndarray):
        assert back.shape == value.shape and np.array_equal(back, value, equal_nan=True)
    elif isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value


@pytest.mark.parametrize("forged", [
    {"t": "array", "dtype": "float", "shape": [2, 2], "data": [1.0]},
    {"t": "array", "dtype": "object", "shape": [1], "data": [1]},
    {"t": "array", "dtype": "float", "shape": [1], "data": ["__import__('os')"]},
    {"t": "int", "v": "9" * 5000},
    {"t": "eval", "v": "1"},
    "not a dict",
])
def test_wire_rejects_forged_data(forged):
    with pytest.raises(WireError):
        decode(forged)


def test_encode_never_raises_on_hostile_objects():
    class Evil:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    assert encode(Evil())["t"] == "other"
    assert encode(np.zeros(10**6))["t"] == "other"  # over the size cap


def test_value_rule():
    assert values_equal((2, 3), (2, 3), 1e-7, 0) and values_equal([2, 3], (2, 3), 1e-7, 0)
    assert not values_equal((3, 2), (2, 3), 1e-7, 0)
    assert not values_equal(True, 1, 1e-7, 0) and not values_equal(1, True, 1e-7, 0)
    assert values_equal(10.0, 10, 1e-7, 0) and not values_equal(10.5, 10, 1e-7, 0)
    assert values_equal(" Numerator ", "numerator", 1e-7, 0)
    assert values_equal(1.0 + 1e-9, 1.0, 1e-7, 0) and not values_equal(1.0 + 1e-9, 1.0, 1e-11, 0)


def _ex(kind, spec, wrong=()):
    return Exercise("g", "nb", 2.0, kind, spec["answer"], "g_answer", spec, tuple(wrong), spec.get("hand", False))


def _probes(arrays):
    return {"status": "ok", "probes": [{"ok": encode(a)} for a in arrays]}


def test_judge_function_uses_catalogue_then_diagnosis():
    xs = [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, -1.0], [2.0, 0.0]])]
    ex = _ex("function", {"kind": "function", "answer": "f", "args": []},
             [WrongAnswer("layout", "Rows are outputs.", "...")])
    ref = {"expected": _probes(xs), "wrong": [_probes([x.T for x in xs])]}
    assert judge(ex, ref, _probes(xs)).credit == 1.0
    v = judge(ex, ref, _probes([x.T for x in xs]))
    assert (v.credit, v.mistake, v.message) == (0.0, "layout", "Rows are outputs.")
    v = judge(ex, ref, _probes([-x for x in xs]))
    assert (v.credit, v.mistake) == (0.0, "sign")
    v = judge(ex, ref, {"status": "ok", "probes": [{"error": "ZeroDivisionError: x"}, {"ok": encode(xs[1])}]})
    assert v.mistake == "error" and "ZeroDivisionError" in v.message
    assert judge(ex, ref, {"status": "ok", "probes": [{"ok": {"t": "array"}}] * 2}).mistake == "invalid"
    assert judge(ex, ref, None).mistake == "missing"
    assert judge(ex, ref, {"status": "not_callable", "type": "int"}).mistake == "not_callable"


def test_hand_function_close_but_not_exact_is_called_an_approximation():
    xs = [np.array([1.0, -2.0, 0.3]), np.array([0.7, 5.0, -1.1])]
    ex = _ex("function", {"kind": "function", "answer": "f", "args": [], "hand": True, "rtol": 1e-11})
    ref = {"expected": _probes(xs), "wrong": []}
    v = judge(ex, ref, _probes([x * (1 + 3e-9) for x in xs]))   # what a central difference gives
    assert (v.credit, v.mistake) == (0.0, "approximate")
    assert judge(ex, ref, _probes([x * (1 + 1e-13) for x in xs])).credit == 1.0   # rounding only
    assert judge(ex, ref, _probes([x * 1.01 for x in xs])).mistake != "approximate"   # just wrong


def test_judge_expression_parses_safely():
    ex = _ex("expression", {"kind": "expression", "answer": "e", "symbols": ["x"]},
             [WrongAnswer("missing_inner", "Inner derivative!", "...")])
    ref = {"expected": {"status": "ok", "text": "3*x**2*cos(x**3)"},
           "wrong": [{"status": "ok", "text": "cos(x**3)"}]}
    assert judge(ex, ref, {"status": "ok", "text": "cos(x**3)*x**2*3"}).credit == 1.0
    assert judge(ex, ref, {"status": "ok", "text": "cos(x**3)"}).mistake == "missing_inner"
    assert judge(ex, ref, {"status": "ok", "text": "__import__('os').system('true')"}).mistake == "invalid"
    assert judge(ex, ref, {"status": "ok", "text": "-3*x**2*cos(x**3)"}).mistake == "sign"


def test_chain_credit_four_parts():
    good = {"intermediates": {"u1": "x**3", "u2": "sin(u1)", "u3": "u2**2", "y": "log(u3)"},
            "local": {"u1": "3*x**2", "u2": "cos(u1)", "u3": "2*u2", "y": "1/u3"},
            "product": "1/u3 * 2*u2 * cos(u1) * 3*x**2",
            "result": "6*x**2*cos(x**3)/sin(x**3)"}
    parts, msg = chain_credit("log(sin(x**3)**2)", "x", good)
    assert parts == {"intermediates": 1, "local": 1, "product": 1, "result": 1} and msg is None
    other = {"intermediates": {"u": "x**3", "y": "log(sin(u)**2)"}, "local": {"u": "3*x**2",
                                                                                "y": "2*cos(u)/sin(u)"},
             "product": "2*cos(u)/sin(u) * 3*x**2", "result": "6*x**2*cos(x**3)/sin(x**3)"}
    assert sum(chain_credit("log(sin(x**3)**2)", "x", other)[0].values()) == 4  # any valid choice
    bad_local = dict(good, local=dict(good["local"], u2="-cos(u1)"))
    parts, msg = chain_credit("log(sin(x**3)**2)", "x", bad_local)
    assert parts == {"intermediates": 1, "local": 0, "product": 1, "result": 1} and "u2" in msg
    bad_result = dict(good, result="6*x**2*cos(u1)/sin(x**3)")
    parts, msg = chain_credit("log(sin(x**3)**2)", "x", bad_result)
    assert parts["result"] == 0 and "only" in msg
    assert sum(chain_credit("log(sin(x**3)**2)", "x", "not a dict")[0].values()) == 0
    wrong_compose = dict(good, intermediates=dict(good["intermediates"], u3="u2**3"))
    assert chain_credit("log(sin(x**3)**2)", "x", wrong_compose)[0]["intermediates"] == 0
