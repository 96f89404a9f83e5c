"""The run-time trap of hand derivations (autograder.trap), run in the real sandbox.

Each case is a short notebook (cells run through the sandbox exactly as in grading) and one hand
exercise; the assertion is on the trap's report that comes back with the answer: None (nothing counts
against it) for honest work however it is written and whatever else the notebook differentiates, and
the routine's name for an answer a routine computed, by whatever route it was reached.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder import sandbox
from autograder.wire import encode_args

PRE = "import numpy as np\nimport sympy as sp\nx = sp.Symbol('x')\np = 4*x**5 - 3*x**2 + 7\n"
LESSON_H = "def h(x):\n    return np.sin(3 * x**2 + 1)\n"


def _run(cells: list, ex: dict, *, trusted=(0,)):
    """Run `cells` (cell k is instructor code when k is in `trusted`) then extract `ex`; the answer."""
    steps = [{"code": src, "cell": k + 1, "student": k not in trusted} for k, src in enumerate(cells)]
    steps.append({"extract": [ex], "cell": len(cells) + 1})
    run = sandbox.run(steps, limits=sandbox.Limits(timeout=90, cell_timeout=30))
    assert run.ungraded is None, run.ungraded
    return run.answers[(ex["grade_id"], None)], run


def _expr(name="dp_dx"):
    return {"grade_id": "g", "kind": "expression", "answer": name, "hand": True, "target": None}


def _func(name="dh_dx", target="h", args=None):
    probes = [encode_args(a) for a in (args or [[np.array([0.3, -1.2])], [np.array([1.1, 0.4])]])]
    return {"grade_id": "g", "kind": "function", "answer": name, "hand": True, "target": target, "probes": probes}


def _routine(answer) -> str | None:
    why = answer.get("trap")
    return why["routine"] if why else None


# -- honest work: nothing counts -----------------------------------------------------------------

HONEST = {
    "typed": ["dp_dx = 20*x**4 - 6*x"],
    "sympify_text": ["dp_dx = sp.sympify('20*x**4 - 6*x')"],
    "S_text": ["dp_dx = sp.S('x*(20*x**3 - 6)')"],
    "parse_expr": ["from sympy.parsing.sympy_parser import parse_expr\ndp_dx = parse_expr('2*x*(10*x**3 - 3)')"],
    "check_in_same_cell": ["dp_dx = 20*x**4 - 6*x\nassert sp.simplify(dp_dx - sp.diff(p, x)) == 0"],
    "check_in_next_cell": ["dp_dx = 20*x**4 - 6*x", "print(sp.diff(p, x) == dp_dx)"],
    "check_before": ["print(sp.diff(sp.sin(x), x))", "dp_dx = 20*x**4 - 6*x"],
    "factor_and_simplify": ["dp_dx = sp.factor(sp.simplify(20*x**4 - 6*x))"],
    "scratch_diff_elsewhere": ["q = sp.diff(sp.exp(x)*sp.cos(x), x)", "dp_dx = sp.expand(2*x*(10*x**3 - 3))"],
    "lesson_cell_differentiates": ["dp_dx = 20*x**4 - 6*x"],
    "harmless_magics": ["%matplotlib inline\n%time _w = sp.expand('(x + 1)**2')", "dp_dx = 20*x**4 - 6*x"],
    "half_as_S": ["dp_dx = sp.S(20) * x**4 - sp.S(12) / 2 * x"],
}


@pytest.mark.parametrize("case", list(HONEST))
def test_honest_expression_answers_are_clean(case):
    cells = [PRE, *HONEST[case]]
    if case == "lesson_cell_differentiates":  # the instructor's cell uses diff: it never counts
        cells = [PRE + "lesson = sp.diff(p, x)\n", *HONEST[case]]
    answer, _ = _run(cells, _expr())
    assert answer["status"] == "ok" and answer.get("trap") is None, answer


def test_a_typed_expression_equal_to_an_earlier_derivative_is_not_that_derivative():
    """sympy caches expressions: cos(x) typed after diff(sin(x)) would be the very same object, were
    the cache not cleared after each statement that ran a routine."""
    answer, _ = _run([PRE, "d = sp.diff(sp.sin(x), x)\nprint(d)", "dp_dx = sp.cos(x)"], _expr())
    assert answer.get("trap") is None


HONEST_FUNCTIONS = {
    "formula": "def dh_dx(x):\n    return 6 * x * np.cos(3 * x**2 + 1)\n",
    "lambdify_of_hand_result": "_d = sp.lambdify(sp.Symbol('t'), 6*sp.Symbol('t')*sp.cos(3*sp.Symbol('t')**2 + 1))\n"
                               "def dh_dx(x):\n    return _d(x)\n",
    "uses_target_value_at_the_point": "def dh_dx(x):\n    s = h(x)\n    return 6 * x * np.cos(3 * x**2 + 1) + 0 * s\n",
    "helper_in_extra_cell": None,
    "target_read_elsewhere": "print(h(1.0))\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], h(np.array([0., 1.])))\n"
                             "def dh_dx(x):\n    return np.cos(3 * x**2 + 1) * 6 * x\nprint(dh_dx(1.0), h(1.0))\n",
}


@pytest.mark.parametrize("case", list(HONEST_FUNCTIONS))
def test_honest_function_answers_are_clean(case):
    src = HONEST_FUNCTIONS[case]
    cells = [PRE + LESSON_H, src] if src else [
        PRE + LESSON_H, "def inner(v):\n    return 3 * v**2 + 1\n",
        "def dh_dx(x):\n    return np.cos(inner(x)) * 6 * x\n",
        "from chainrule_utils import check_gradient\nprint(check_gradient(lambda v: h(v).sum(), dh_dx, np.ones(2)))"]
    answer, _ = _run(cells, _func())
    assert answer["status"] == "ok" and answer.get("trap") is None, answer


# -- routes to a routine: each one counts, naming it -----------------------------------------------

ROUTES = {
    "direct": ["dp_dx = sp.diff(p, x)"],
    "method": ["dp_dx = p.diff(x)"],
    "sympify_text": ["dp_dx = sp.sympify('diff(4*x**5 - 3*x**2 + 7, x)')"],
    "expand_text": ["dp_dx = sp.expand('di' + 'ff(4*x**5 - 3*x**2 + 7, x)')"],
    "private_dispatch": ["from sympy.core.function import _derivative_dispatch\ndp_dx = _derivative_dispatch(p, x)"],
    "private_eval": ["dp_dx = p._eval_derivative(x)"],
    "Derivative_doit": ["dp_dx = sp.Derivative(p, x).doit()"],
    "limit": ["h_ = sp.Symbol('h')\ndp_dx = sp.limit((p.subs(x, x + h_) - p) / h_, h_, 0)"],
    "series": ["h_ = sp.Symbol('h')\ndp_dx = sp.series(p.subs(x, x + h_), h_, 0, 2).removeO().coeff(h_, 1)"],
    "poly": ["dp_dx = sp.Poly(p, x).diff(x).as_expr()"],
    "ipython_shell": ["quit._ip.run_cell('dp_dx = sp.diff(p, x)')"],
    "displayhook_shell": ["import sys\nsys.displayhook.shell.run_cell('dp_dx = sp.diff(p, x)')"],
    "match_capture": ["match sp.diff(p, x):\n    case dp_dx:\n        pass"],
    "underscore": ["sp.diff(p, x)", "dp_dx = _"],
    "last_value": ["raise ValueError(sp.diff(p, x))", "import sys\ndp_dx = sys.last_value.args[0]"],
    "setitem": ["import operator\noperator.setitem(globals(), 'dp_dx', sp.diff(p, x))"],
    "heapq": ["import heapq\n_h = []\nheapq.heappush(_h, (0, sp.diff(p, x)))", "dp_dx = _h[0][1]"],
    "carried_in_a_variable": ["d = sp.diff(p, x)", "dp_dx = d"],
    "module_written": ["import sys\nopen('mymod.py', 'w').write('import sympy\\nD = sympy.diff\\n')\n"
                       "sys.path.insert(0, '.')\nimport mymod\ndp_dx = mymod.D(p, x)"],
    "shadowed_stdlib": ["import sys\nopen('fractions.py', 'w').write('import sympy\\nx = sympy.Symbol(\"x\")\\n"
                        "R = sympy.diff(4*x**5 - 3*x**2 + 7, x)\\n')\nsys.path.insert(0, '.')\n"
                        "sys.modules.pop('fractions', None)\nimport fractions", "dp_dx = fractions.R"],
    "run_magic": ["open('d.py', 'w').write('dp_dx = sp.diff(p, x)\\n')", "%run -i d.py"],
    "exec_text": ["exec('dp_dx = sp.' + 'diff(p, x)')"],
    "lesson_helper": ["dp_dx = lesson_derivative(p)"],
    "time_magic": ["%time d = sp.diff(p, x)", "dp_dx = d"],
}


@pytest.mark.parametrize("case", list(ROUTES))
def test_a_routine_reached_by_any_route_counts_and_is_named(case):
    pre = PRE + "def lesson_derivative(e):\n    return sp.diff(e, x)\n"
    answer, run = _run([pre, *ROUTES[case]], _expr())
    assert answer["status"] == "ok", (answer, run.cell_errors)
    assert _routine(answer), answer
    assert "sympy" in _routine(answer)


FUNCTION_ROUTES = {
    "diff_when_evaluated": "def dh_dx(x):\n    t = sp.Symbol('t')\n"
                           "    return np.array([float(sp.diff(sp.sin(3*t**2 + 1), t).subs(t, v)) for v in x])\n",
    "numerical_jacobian": "from chainrule_utils import numerical_jacobian\n"
                          "def dh_dx(x):\n    return np.diag(numerical_jacobian(h, x))\n",
    "complex_step_reference": "from chainrule_utils.numdiff import directional_derivative\n"
                              "def dh_dx(x):\n    return directional_derivative(h, x, np.ones_like(x))\n",
    "np_gradient": "def dh_dx(x):\n    g = np.linspace(-3, 3, 20001)\n    return np.interp(x, g, np.gradient(h(g), g))\n",
    "finite_difference_on_target": "_g = h\ndef dh_dx(x):\n    e = 1e-6\n    return (_g(x + e) - _g(x - e)) / (2 * e)\n",
    "complex_step_on_target": "def dh_dx(x):\n    return np.imag(h(x + 1e-30j)) / 1e-30\n",
    "lambdify_of_diff": "_t = sp.Symbol('t')\n_d = sp.lambdify(_t, sp.diff(sp.sin(3*_t**2 + 1), _t))\n"
                        "def dh_dx(x):\n    return _d(x)\n",
    "chebyshev_deriv": "_c = np.polynomial.Chebyshev.interpolate(h, 120, domain=[-3.0, 3.0]).deriv()\n"
                       "def dh_dx(x):\n    return _c(x)\n",
}


@pytest.mark.parametrize("case", list(FUNCTION_ROUTES))
def test_a_function_answer_that_differentiates_counts(case):
    answer, run = _run([PRE + LESSON_H, FUNCTION_ROUTES[case]], _func())
    assert answer["status"] == "ok", (answer, run.cell_errors)
    assert _routine(answer), answer


def test_a_routine_in_a_forked_child_counts():
    """The child's counters are shared with the sandbox: the diff it runs while the answer's
    statement waits for it counts against that answer."""
    cells = [PRE, "import os, pickle\ndef in_child():\n    r, w = os.pipe()\n    if os.fork() == 0:\n"
                  "        os.write(w, pickle.dumps(str(sp.diff(p, x))))\n        os._exit(0)\n"
                  "    os.close(w)\n    os.wait()\n    return pickle.loads(os.read(r, 10000))\n",
             "dp_dx = in_child()"]
    answer, _ = _run(cells, _expr())
    assert _routine(answer) == "sympy's diff"


def test_no_other_program_can_run_in_the_sandbox():
    cells = [PRE, "import subprocess, sys\ntry:\n    subprocess.run([sys.executable, '-c', 'print(1)'], check=True)\n"
                  "    dp_dx = 'ran'\nexcept OSError as e:\n    dp_dx = type(e).__name__"]
    answer, _ = _run(cells, {**_expr(), "hand": False})
    assert answer["text"] == "PermissionError"


def test_statements_of_a_big_cell_are_judged_one_by_one_in_linear_time():
    """10,000 statements, the answer in the middle and a diff far from it: clean, and the trap's own
    work stays a small part of the run."""
    body = "".join(f"v{i} = {i}\n" for i in range(5000)) + "dp_dx = 20*x**4 - 6*x\n" + \
        "".join(f"w{i} = {i}\n" for i in range(5000)) + "check = sp.diff(p, x)\n"
    answer, run = _run([PRE, body], _expr())
    assert answer.get("trap") is None
    assert run.duration < 60


def test_an_expression_typed_before_a_check_is_not_the_checks_result():
    """sympy's cache would hand the very object typed as the answer back from diff when the derivative
    has the same form; the trap clears the cache before each routine the notebook calls."""
    answer, _ = _run([PRE, "dp_dx = x**2 * sp.cos(x) + sp.sin(x) * 2 * x",
                      "print(sp.simplify(dp_dx - sp.diff(x**2 * sp.sin(x), x)))",
                      "print(sp.diff(x * dp_dx, x))"], _expr())
    assert answer.get("trap") is None, answer


SIGMOID = "def s(x):\n    return 1 / (1 + np.exp(-x))\n"


@pytest.mark.parametrize("answer, counts", [
    ("def ds(x):\n    return s(x) * s(-x)\n", False),               # a formula: s at -x, near x only when x ~ 0
    ("def ds(x):\n    return s(x) * (1 - s(x + 1.0)) * 0 + s(x) * s(-x)\n", False),
    ("def ds(x):\n    h = 1e-5\n    return (s(x + h) - s(x - h)) / (2 * h)\n", True),   # a step at every probe
])
def test_the_target_near_one_probe_is_a_formula_near_every_probe_a_step(answer, counts):
    """sigma'(x) = sigma(x) sigma(-x) evaluates the target at -x, a small step from a probe near 0: an
    honest answer keeps its points; a finite difference steps at every probe and counts."""
    probes = [[np.array([0.01, -0.02])], [np.array([1.3, -0.8])], [np.array([-1.7, 2.2])]]
    got, run = _run([PRE + SIGMOID, answer], _func("ds", "s", probes))
    assert got["status"] == "ok", (got, run.cell_errors)
    assert bool(got.get("trap")) is counts, got
