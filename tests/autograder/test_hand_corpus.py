"""Hand derivations end to end through `grade`: honest work in every valid form keeps full marks, and a
differentiation routine reached by any route scores 0 with a message naming it (autograder.trap).

One course holds the five real assignments, released once and graded in ONE `grade --jobs 2` run:
- honest students: student `honest<k>` of an assignment holds the k-th honest variant of every hand
  exercise (the solution where an exercise has fewer), and may add cells after an answer (helpers,
  scratch work, self-checks that differentiate the same or another function) or edit a lesson cell;
  every autograded exercise must score full marks. At least 100 honest answers in all.
- route students: each attacks one exercise through one route (IPython's shell from a cell, a
  `match` capture, `_`, `sys.last_value`, operator/heapq/ufunc `out=` stores, sympy's private entry
  points, the course's own complex-step routine, `%run -i`, a shadowed standard-library module, a pasted
  lesson helper ...): that exercise scores 0 with mistake "forbidden" and a message naming the routine,
  and the student's other exercises (the solutions) keep full marks.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from coursekit import graded_rows

from autograder.notebooks import read_notebook, solution_sources, write_notebook
from autograder.spec import load_exercises

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hand_corpus")]

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ["01_scalar_rules", "02_jacobians", "03_elementwise", "04_chain_rules", "05_neuron_gradient"]


def V(answer: str, *after: str, edit: dict | None = None):
    """A variant: the answer cell's source, cells inserted after it, {lesson cell index: new source}."""
    return {"answer": answer, "after": list(after), "edit": edit or {}}


CHECK_01 = "print(sp.simplify(dp_dx - sp.diff(4 * x**5 - 3 * x**2 + 7, x)) == 0)"

# {grade_id: [variant, ...]}: every one a correct answer
HONEST = {
    # -- 01 ------------------------------------------------------------------------------------
    "01_power": [
        V('dp_dx = sp.sympify("20*x**4 - 6*x")'),
        V('dp_dx = sp.S("2*x*(10*x**3 - 3)")'),
        V('from sympy.parsing.sympy_parser import parse_expr\ndp_dx = parse_expr("-6*x + 20*x**4")'),
        V("dp_dx = 20 * x**4 - 6 * x", CHECK_01),
        V("dp_dx = np.float64(20) * x**4 - np.int64(6) * x\n" + CHECK_01),
    ],
    "01_product": [
        V('dq_dx = sp.S("x*(2*sin(x) + x*cos(x))")'),
        V("dq_dx = x**2 * sp.cos(x) + sp.sin(x) * 2 * x",
          "print(sp.simplify(dq_dx - sp.diff(x**2 * sp.sin(x), x)))"),
        V("dq_dx = sp.expand(x * (2 * sp.sin(x) + x * sp.cos(x)))"),
        V("dq_dx = 2 * x * sp.cos(x - sp.pi / 2) + x**2 * sp.sin(x + sp.pi / 2)"),
        V('dq_dx = "2*x*sin(x) + x**2*cos(x)"'),
    ],
    "01_chain_fn": [
        V('_t = sp.Symbol("t")\n_d = sp.lambdify(_t, 6 * _t * sp.cos(3 * _t**2 + 1), "numpy")\n\n\n'
          "def dh_dx(x):\n    return _d(x)\n"),
        V("def dh_dx(x):\n    return outer_prime(inner(x)) * inner_prime(x)\n",
          "def inner(v):\n    return 3 * v**2 + 1\n\n\ndef inner_prime(v):\n    return 6 * v\n",
          "def outer_prime(u):\n    return np.cos(u)\n"),
        V("dh_dx = np.vectorize(lambda v: 6 * v * np.cos(3 * v * v + 1))"),
        V('dh_dx = sp.lambdify(sp.Symbol("x"), sp.parse_expr("6*x*cos(3*x**2 + 1)"), "numpy")'),
        V("def dh_dx(x):\n    return 6 * x * np.cos(3 * x**2 + 1)\n",
          "from chainrule_utils import check_gradient\n"
          "check_gradient(lambda v: float(np.sum(h(v))), dh_dx, np.array([0.3, -0.7]))"),
    ],
    "01_exp_chain": [
        V('dr_dx = sp.S("-2*x*exp(-x**2)")'),
        V("dr_dx = -2 * x / sp.exp(x**2)"),
        V('dr_dx = sp.sympify("-2*x*E**(-x**2)")'),
        V("dr_dx = -2 * x * sp.exp(-x**2)", "print(sp.diff(sp.exp(x), x), sp.diff(sp.exp(-x**2), x))"),
    ],
    "01_which_variable": [
        V('df_dt = "2*x*t"'),
        V("df_dt = sp.S(2) * t * x"),
        V('df_dt = sp.parse_expr("t*x*2")'),
        V("df_dt = 2 * x * t + 0 * sp.cos(x)"),
    ],
    "01_slope": [
        V("slope_at_2 = np.float64(10.0)"),
        V("slope_at_2 = sp.Integer(3 * 2**2 - 2)"),
        V('slope_at_2 = int(sp.S("3*2**2 - 2"))'),
        V("slope_at_2 = (3 * x**2 - 2).subs(x, 2)"),
        V("slope_at_2 = np.int64(10)"),
    ],
    # -- 02 ------------------------------------------------------------------------------------
    "02_partial_expr": [
        V('df_dy = sp.sympify("x**2*cos(y) + 12*x*y**2")'),
        V("df_dy = x * (x * sp.cos(y) + 12 * y**2)"),
        V('df_dy = "12*x*y**2 + x**2*cos(y)"'),
        V('from sympy.parsing.sympy_parser import parse_expr\ndf_dy = parse_expr("x**2*cos(y) + 12*x*y**2")',
          "print(sp.diff(x**2 * sp.sin(y) + 4 * x * y**3, y))"),
    ],
    "02_grad_q": [
        V("def dq_dx(x):\n    x0, x1, x2 = x\n    return np.array([2 * x0 * x1 + np.sin(x0), x0**2 + x2**3, 3 * x1 * x2**2])\n"),
        V('_X = sp.symbols("a b c")\n_g = sp.lambdify(_X, [2 * _X[0] * _X[1] + sp.sin(_X[0]), _X[0]**2 + _X[2]**3,'
          " 3 * _X[1] * _X[2]**2])\n\n\ndef dq_dx(x):\n    return np.array(_g(*x), dtype=float)\n"),
        V("def dq_dx(x):\n    return np.array([d(x) for d in PARTIALS])\n",
          "PARTIALS = [lambda x: 2 * x[0] * x[1] + np.sin(x[0]), lambda x: x[0]**2 + x[2]**3,\n"
          "            lambda x: 3 * x[1] * x[2]**2]"),
        V("def dq_dx(x):\n    g = np.zeros(3)\n    g[0] = 2 * x[0] * x[1] + np.sin(x[0])\n    g[1] = x[0]**2 + x[2]**3\n"
          "    g[2] = 3 * x[1] * x[2]**2\n    return g\n"),
    ],
    "02_jac_h": [
        V("def jac_h(x):\n    a, b = x\n    c = np.cos(a * b)\n    return np.vstack([[2 * a * b, a * a], [np.exp(a), 3], [b * c, a * c]])\n"),
        V('_a, _b = sp.symbols("a b")\n_J = sp.Matrix([[2 * _a * _b, _a**2], [sp.exp(_a), 3], '
          "[_b * sp.cos(_a * _b), _a * sp.cos(_a * _b)]])\n_f = sp.lambdify((_a, _b), _J)\n\n\n"
          "def jac_h(x):\n    return np.array(_f(x[0], x[1]), dtype=float)\n"),
        V("def jac_h(x):\n    rows = [np.array([2 * x[0] * x[1], x[0]**2]), np.array([np.exp(x[0]), 3.0]),\n"
          "            np.cos(x[0] * x[1]) * np.array([x[1], x[0]])]\n    return np.array(rows)\n"),
        V("def jac_h(x):\n    return np.array([[2 * x[0] * x[1], x[0]**2], [np.exp(x[0]), 3.0], "
          "[x[1] * np.cos(x[0] * x[1]), x[0] * np.cos(x[0] * x[1])]])\n",
          "from chainrule_utils import check_jacobian\nprint(check_jacobian(h, jac_h, np.array([0.5, -1.0])))"),
    ],
    "02_jac_affine": [
        V("def jac_affine(A, b, x):\n    return A.copy()\n"),
        V("def jac_affine(A, b, x):\n    return np.array([[A[i][j] for j in range(len(x))] for i in range(len(b))])\n"),
        V("def jac_affine(A, b, x):\n    return A @ np.eye(len(x))\n"),
        V("jac_affine = lambda A, b, x: 1.0 * np.asarray(A)"),
    ],
    # -- 03 ------------------------------------------------------------------------------------
    "03_jac_div_x": [
        V("def jac_div_x(w, x):\n    return -np.diag(w) @ np.diag(1 / x**2)\n"),
        V("def jac_div_x(w, x):\n    return np.diag(-w * x**-2.0)\n"),
        V("def jac_div_x(w, x):\n    return -np.diag(elementwise_div(w, x) / x)\n"),
        V("def jac_div_x(w, x):\n    return np.eye(len(x)) * (-w / x / x)\n"),
    ],
    "03_jac_mul_w": [
        V("def jac_mul_w(w, x):\n    return np.diag(np.asarray(x, dtype=float))\n"),
        V("def jac_mul_w(w, x):\n    return np.eye(len(x)) * x\n"),
        V("def jac_mul_w(w, x):\n    return np.diag(elementwise_mul(np.ones_like(w), x))\n"),
        V("def jac_mul_w(w, x):\n    J = np.zeros((len(w), len(w)))\n    np.fill_diagonal(J, x)\n    return J\n"),
    ],
    "03_d_xz_dz": [
        V("def d_xz_dz(x, z):\n    return x * 1.0\n"),
        V("def d_xz_dz(x, z):\n    return np.array(x) * np.ones(())\n"),
        V("def d_xz_dz(x, z):\n    return np.asarray(x, dtype=np.float64).copy()\n"),
        V("d_xz_dz = lambda x, z: x + 0.0"),
    ],
    "03_d_sumsq_dx": [
        V("def d_sumsq_dx(x):\n    return x + x\n"),
        V("def d_sumsq_dx(x):\n    return np.multiply(2, x)\n"),
        V("def d_sumsq_dx(x):\n    return np.array([2 * v for v in x])\n"),
        V("def d_sumsq_dx(x):\n    return 2 * np.asarray(x, float)\n", "print(sum_sq(np.ones(3)))"),
    ],
    "03_d_dot_dw": [
        V("def d_dot_dw(w, x):\n    return x.astype(float)\n"),
        V("def d_dot_dw(w, x):\n    return np.array(x) + 0 * w\n"),
        V('def d_dot_dw(w, x):\n    return np.einsum("i->i", x)\n'),
        V("def d_dot_dw(w, x):\n    return np.eye(len(w)) @ x\n"),
    ],
    "03_dyi_dxi": [
        V('from sympy.parsing.sympy_parser import parse_expr\ndyi_dxi = parse_expr("-2*x*sin(w)/(x**2+1)**2")'),
        V('dyi_dxi = sp.S("-2*x*sin(w)*(x**2 + 1)**(-2)")'),
        V("dyi_dxi = -2 * x_s * sp.sin(w_s) / (x_s**4 + 2 * x_s**2 + 1)"),
        V("dyi_dxi = -sp.sin(w_s) * 2 * x_s / (1 + x_s**2) ** 2",
          "print(sp.simplify(dyi_dxi - sp.diff(sp.sin(w_s) / (x_s**2 + 1), x_s)))"),
    ],
    # -- 04 ------------------------------------------------------------------------------------
    "04_dexp_sin": [
        V('x = sp.Symbol("x")\ndy_dx_expr = sp.S("2*cos(2*x)*exp(sin(2*x))")'),
        V('x = sp.Symbol("x")\ndy_dx_expr = 2 * (sp.cos(x)**2 - sp.sin(x)**2) * sp.exp(2 * sp.sin(x) * sp.cos(x))'),
        V('x = sp.Symbol("x")\ndy_dx_expr = sp.exp(sp.sin(2 * x)) * sp.cos(2 * x) * 2'),
        V('x = sp.Symbol("x")\ndy_dx_expr = "2*exp(sin(2*x))*cos(2*x)"',
          'print(four_steps([("u", "2*x"), ("v", "sin(u)"), ("y", "exp(v)")], show=False))'),
    ],
    "04_chain_steps": [
        V('derivation = {"intermediates": {"u": "sin(x**2)", "y": "(1 + u)**3"},\n'
          '              "local": {"u": "2*x*cos(x**2)", "y": "3*(1 + u)**2"},\n'
          '              "product": "3*(1 + u)**2 * 2*x*cos(x**2)",\n'
          '              "result": "6*x*cos(x**2)*(sin(x**2) + 1)**2"}'),
        V('_a, _b, _c = sp.symbols("a b c")\n'
          'derivation = {"intermediates": {"a": x**2, "b": sp.sin(_a), "c": 1 + _b, "y": _c**3},\n'
          '              "local": {"a": 2 * x, "b": sp.cos(_a), "c": 1, "y": 3 * _c**2},\n'
          '              "product": 3 * _c**2 * sp.cos(_a) * 2 * x,\n'
          '              "result": sp.expand(6 * x * sp.cos(x**2) * (1 + sp.sin(x**2))**2)}'),
        V('derivation = {"intermediates": {"s": "x**2", "y": "(1 + sin(s))**3"},\n'
          '              "local": {"s": "2*x", "y": "3*cos(s)*(1 + sin(s))**2"},\n'
          '              "product": "3*cos(s)*(1 + sin(s))**2*2*x",\n'
          '              "result": "6*x*cos(x**2)*(1 + sin(x**2))**2"}'),
        V('derivation = {\n    "intermediates": {"u1": "x**2", "u2": "sin(u1)", "u3": "1 + u2", "y": "u3**3"},\n'
          '    "local": {"u1": "2*x", "u2": "cos(u1)", "u3": "1", "y": "3*u3**2"},\n'
          '    "product": "2*x*cos(u1)*3*u3**2",\n    "result": "6*x*(1 + sin(x**2))**2*cos(x**2)",\n}'),
    ],
    "04_total_two_paths": [
        V("def dy_dx_total(x):\n    return x**2 + 2 * x * (x - np.sin(x**2))\n"),
        V("def dy_dx_total(x):\n    return 3 * x**2 - 2 * x * np.sin(x * x)\n"),
        V("def dy_dx_total(x):\n    u = x**2\n    return dF_dx(x, u) + dF_du(x, u) * 2 * x\n",
          "def dF_dx(x, u):\n    return u\n\n\ndef dF_du(x, u):\n    return x - np.sin(u)\n"),
        V("dy_dx_total = lambda x: float(3 * x * x - 2 * x * np.sin(x**2))"),
    ],
    "04_jac_composition": [
        V("def jac_h(x):\n    u0, u1 = x[0] * x[1], x[0] + x[1]**2\n    e = np.exp(u0)\n"
          "    return np.array([[e * x[1] + 1, e * x[0] + 2 * x[1]], [u1 * x[1] + u0, u1 * x[0] + 2 * x[1] * u0]])\n"),
        V("def jac_h(x):\n    u = g_inner(x)\n    Jf = np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n"
          '    Jg = np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n    return np.einsum("ij,jk->ik", Jf, Jg)\n'),
        V("def jac_h(x):\n    u = g_inner(x)\n    Jf = np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n"
          "    Jg = np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n    return (Jg.T @ Jf.T).T\n"),
        V("def jac_h(x):\n    return jac_f(g_inner(x)) @ jac_g(x)\n",
          "def jac_g(x):\n    return np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n\n\n"
          "def jac_f(u):\n    return np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n"),
    ],
    "04_jvp_G": [
        V("def jvp_G(x, v):\n    return np.array([np.cos(x[1]) * v[0] - x[0] * np.sin(x[1]) * v[1], 2 * x[0] * v[0] + v[1]])\n"),
        V("def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n    return np.dot(J, v)\n"),
        V('def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n'
          '    return np.einsum("ij,j->i", J, v)\n'),
        V("def jvp_G(x, v):\n    cols = [np.array([np.cos(x[1]), 2 * x[0]]), np.array([-x[0] * np.sin(x[1]), 1.0])]\n"
          "    return v[0] * cols[0] + v[1] * cols[1]\n"),
    ],
    "04_vjp_G": [
        V("def vjp_G(x, w):\n    return np.array([np.cos(x[1]) * w[0] + 2 * x[0] * w[1], -x[0] * np.sin(x[1]) * w[0] + w[1]])\n"),
        V("def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n    return w @ J\n"),
        V('def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n'
          '    return np.einsum("i,ij->j", w, J)\n'),
        V("def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
          "    return (w[:, None] * J).sum(axis=0)\n"),
    ],
    "04_grad_three_layers": [
        V("def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    return W3.T @ ((1 - v**2) * v)\n"),
        V("def grad_loss3(x):\n    a = W3 @ x\n    return ((1 - np.tanh(a)**2) * np.tanh(a)) @ W3\n"),
        V("def grad_loss3(x):\n    a = W3 @ x\n    return (np.tanh(a) / np.cosh(a)**2) @ W3\n"),
        V('def grad_loss3(x):\n    v = np.tanh(np.einsum("ij,j->i", W3, x))\n    return np.einsum("ij,i->j", W3, v - v**3)\n'),
    ],
    # -- 05 ------------------------------------------------------------------------------------
    "05_relu_jac": [
        V("def relu_jac(x):\n    return np.diag(np.where(x > 0, 1.0, 0.0))\n"),
        V("def relu_jac(x):\n    return np.diag((relu(x) > 0).astype(float))\n"),
        V("def relu_jac(x):\n    return np.diag(np.heaviside(x, 0.0))\n"),
        V("def relu_jac(x):\n    return np.eye(len(x)) * (np.asarray(x) > 0)\n"),
    ],
    "05_act_dw": [
        V("def act_dw(w, b, x):\n    return (activation(w, b, x) > 0) * np.asarray(x, float)\n"),
        V("def act_dw(w, b, x):\n    return np.heaviside(np.dot(w, x) + b, 0.0) * x\n"),
        V("def act_dw(w, b, x):\n    return np.array(x, float) if w @ x + b > 0 else np.zeros_like(x, dtype=float)\n"),
        V("def act_dw(w, b, x):\n    return np.where(w.dot(x) + b > 0, x, 0.0)\n"),
    ],
    "05_dL_dw1": [
        V('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
          'dL_dw1 = sp.sympify("2*(w1*x1 + w2*x2 + b - y)*x1")'),
        V('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
          "dL_dw1 = sp.expand(2 * (w1 * x1 + w2 * x2 + b - y) * x1)"),
        V('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\nv = y - (w1 * x1 + w2 * x2 + b)\n'
          "dL_dw1 = -2 * v * x1"),
        V('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
          'dL_dw1 = sp.parse_expr("2*x1*(b + w1*x1 + w2*x2 - y)")',
          "print(sp.diff((w1 * x1 + w2 * x2 + b - y)**2, w1))"),
    ],
    "05_dC_dw": [
        V('def dC_dw(w, b, X, y):\n    z = X @ w + b\n    e = (z - y) * (z > 0)\n    return 2 * np.einsum("i,ij->j", e, X) / len(y)\n'),
        V("def dC_dw(w, b, X, y):\n    g = np.zeros_like(w, dtype=float)\n    for xi, yi in zip(X, y):\n"
          "        zi = xi @ w + b\n        if zi > 0:\n            g += 2 * (zi - yi) * xi\n    return g / len(y)\n"),
        V("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return 2 * np.mean(((z > 0) * (z - y))[:, None] * X, axis=0)\n"),
        V("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return (2 / X.shape[0]) * X.T @ (np.heaviside(z, 0) * (z - y))\n"),
    ],
    "05_dC_db": [
        V("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return 2 * np.mean((z > 0) * (z - y))\n"),
        V("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return float(np.sum(2 * (z - y) * (z > 0)) / len(y))\n"),
        V("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return np.float64(2 * ((z - y) * (z > 0)).mean())\n"),
        V("def dC_db(w, b, X, y):\n    total = 0.0\n    for xi, yi in zip(X, y):\n        zi = xi @ w + b\n"
          "        total += 2 * (zi - yi) if zi > 0 else 0.0\n    return total / len(y)\n"),
    ],
}

# edits of unlocked lesson cells (index in the released notebook -> appended text), by assignment
LESSON_EDITS = {"01_scalar_rules": (3, "\nprint('my own note: the limit is', exact_slope)\n"),
                "03_elementwise": (3, "\n# I changed nothing that matters here\n"),
                "04_chain_rules": (3, "\nprint(sp.diff(g_after_f, x))\n"),
                "05_neuron_gradient": (3, "\nprint(activation(w_demo, b_demo, x_on))\n")}

# route students: (exercise attacked, answer cell, cells after it); each computes the exact answer
POLY = "4*x**5 - 3*x**2 + 7"
ROUTES = {
    "ipython_quit": ("01_power", f'quit._ip.run_cell("dp_dx = sp.diff({POLY}, x)")', []),
    "ipython_displayhook": ("01_product", 'import sys\nsys.displayhook.shell.run_cell("dq_dx = sp.diff(x**2*sp.sin(x), x)")', []),
    "match_capture": ("01_exp_chain", "match sp.diff(sp.exp(-x**2), x):\n    case dr_dx:\n        pass", []),
    "underscore": ("01_which_variable", "sp.diff(x**2 * t**2, t)", ["df_dt = _"]),
    "last_value": ("02_partial_expr", "raise ValueError(sp.diff(x**2*sp.sin(y) + 4*x*y**3, y))",
                   ["import sys\ndf_dy = sys.last_value.args[0]"]),
    "setitem": ("04_dexp_sin", 'import operator\nx = sp.Symbol("x")\n'
                               'operator.setitem(globals(), "dy_dx_expr", sp.diff(sp.exp(sp.sin(2*x)), x))', []),
    "ufunc_out": ("01_slope", "slope_at_2 = np.zeros(())\n"
                              "np.add(float(sp.diff(x**3 - 2*x, x).subs(x, 2)), 0.0, out=slope_at_2)", []),
    "heappush": ("05_dL_dw1", 'import heapq\nw1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
                              "_h = []\nheapq.heappush(_h, (0, sp.diff((w1*x1 + w2*x2 + b - y)**2, w1)))",
                 ["dL_dw1 = _h[0][1]"]),
    "private_dispatch": ("03_dyi_dxi", "from sympy.core.function import _derivative_dispatch\n"
                                       "dyi_dxi = _derivative_dispatch(sp.sin(w_s) / (x_s**2 + 1), x_s)", []),
    "private_eval_derivative": ("01_power", f"dp_dx = ({POLY})._eval_derivative(x)", []),
    "complex_step_reference": ("02_grad_q", "from chainrule_utils import numerical_gradient\n\n\n"
                                            "def dq_dx(x):\n    return numerical_gradient(q, x, method='complex')\n", []),
    "run_magic": ("01_power", 'open("deriv.py", "w").write("dp_dx = sp.diff(4*x**5 - 3*x**2 + 7, x)\\n")',
                  ["%run -i deriv.py"]),
    "shadowed_stdlib": ("01_exp_chain", "import sys\nopen('fractions.py', 'w').write('import sympy\\n"
                                        "x = sympy.Symbol(\"x\")\\nR = sympy.diff(sympy.exp(-x**2), x)\\n')\n"
                                        "sys.path.insert(0, '.')\nsys.modules.pop('fractions', None)\n"
                                        "import fractions\ndr_dx = fractions.R", []),
    "pasted_lesson_helper": ("04_dexp_sin", 'x = sp.Symbol("x")\n'
                                            'dy_dx_expr = four_steps([("u", "2*x"), ("v", "sin(u)"), ("y", "exp(v)")], '
                                            "show=False)", []),
    "np_gradient": ("03_d_sumsq_dx", "def d_sumsq_dx(x):\n    return np.array([np.gradient([sum_sq(x + (k - 1) * 1e-4 * e)"
                                     " for k in range(3)], 1e-4)[1] for e in np.eye(len(x))])\n", []),
    "finite_difference_on_target": ("05_dC_db", "def dC_db(w, b, X, y):\n    e = 1e-7\n"
                                                "    return (mse_loss(w, b + e, X, y) - mse_loss(w, b - e, X, y)) / (2 * e)\n", []),
    "numerical_jacobian": ("04_jac_composition", "from chainrule_utils import numerical_jacobian\n\n\n"
                                                 "def jac_h(x):\n    return numerical_jacobian(h_composed, x, method='complex')\n", []),
    "chain_steps_diff": ("04_chain_steps", 'u = sp.Symbol("u")\n'
                                           'derivation = {"intermediates": {"u": "x**2", "y": "(1 + sin(u))**3"},\n'
                                           '              "local": {"u": str(sp.diff(x**2, x)), '
                                           '"y": str(sp.diff((1 + sp.sin(u))**3, u))},\n'
                                           '              "product": "3*cos(u)*(1 + sin(u))**2*2*x",\n'
                                           '              "result": "6*x*cos(x**2)*(1 + sin(x**2))**2"}', []),
}


def _cli(course: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=1500)


def _solutions(a: str) -> dict:
    return solution_sources(read_notebook(REPO / "course" / "source" / a / f"{a}.ipynb"))


def _notebook(released, sols: dict, variants: dict, edit=None):
    """The released notebook with every answer cell solved; `variants`: {answer cell id: V(...)}."""
    nb = read_notebook_copy(released)
    cells = []
    for i, cell in enumerate(nb.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if edit is not None and i == edit[0]:
            cell.source += edit[1]
        if gid in variants:
            cell.source = variants[gid]["answer"]
            cells.append(cell)
            for extra in variants[gid]["after"]:
                from nbformat.v4 import new_code_cell

                cells.append(new_code_cell(extra))
            continue
        if gid in sols:
            cell.source = sols[gid]
        cells.append(cell)
    nb.cells = cells
    return nb


def read_notebook_copy(nb):
    import copy

    return copy.deepcopy(nb)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand_corpus")
    course = root / "course"
    for a in ASSIGNMENTS:
        shutil.copytree(REPO / "course" / "source" / a, course / "source" / a)
    shutil.copy2(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    r = _cli(course, "release")
    assert r.returncode == 0, r.stderr[-2000:]
    honest, routes = {}, {}
    for a in ASSIGNMENTS:
        released = read_notebook(course / "release" / a / f"{a}.ipynb")
        sols = _solutions(a)
        exercises = {ex.grade_id: ex for ex in load_exercises(course / "source" / a / f"{a}.ipynb")}
        mine = {gid: v for gid, v in HONEST.items() if gid in exercises}
        for k in range(max(len(v) for v in mine.values())):
            variants = {exercises[g].answer_cell: v[k] for g, v in mine.items() if k < len(v)}
            student = f"honest{k}_{a[:2]}"
            edit = LESSON_EDITS.get(a) if k == 0 else None
            write_notebook(_notebook(released, sols, variants, edit), course / "submitted" / student / a / f"{a}.ipynb")
            honest[student] = (a, sorted(g for g, v in mine.items() if k < len(v)))
        for name, (gid, answer, after) in ROUTES.items():
            if gid not in exercises:
                continue
            variants = {exercises[gid].answer_cell: V(answer, *after)}
            student = f"route_{name}"
            write_notebook(_notebook(released, sols, variants), course / "submitted" / student / a / f"{a}.ipynb")
            routes[student] = (a, gid)
    run = _cli(course, "grade", "--jobs", "2")
    rows = {}
    for a in ASSIGNMENTS:
        _, by_student = graded_rows(course, a)
        rows.update({(a, s): r for s, r in by_student.items()})
    return {"run": run, "rows": rows, "honest": honest, "routes": routes}


def test_the_corpus_holds_at_least_100_honest_answers_and_every_route():
    assert sum(len(v) for v in HONEST.values()) >= 100
    assert len(ROUTES) >= 15


def test_grading_the_corpus_completes(corpus):
    assert corpus["run"].returncode == 0, corpus["run"].stderr[-3000:]


def _honest_students() -> list[str]:
    """honest<k>_<nn>: one student per variant index of each assignment (grade ids start with nn)."""
    most = {}
    for gid, variants in HONEST.items():
        most[gid[:2]] = max(most.get(gid[:2], 0), len(variants))
    return [f"honest{k}_{nn}" for nn, n in sorted(most.items()) for k in range(n)]


@pytest.mark.parametrize("student", _honest_students())
def test_honest_work_in_any_valid_form_keeps_full_marks(corpus, student):
    a, _ = corpus["honest"][student]
    rows = corpus["rows"].get((a, student))
    assert rows, f"{student} was not graded: {corpus['run'].stderr[-2000:]}"
    lost = [(r.grade_id, r.score, r.max_score, r.mistake, r.message) for r in rows.values()
            if r.kind == "auto" and r.score != r.max_score]
    assert not lost, lost


@pytest.mark.parametrize("student", [f"route_{name}" for name in ROUTES])
def test_a_routine_reached_by_any_route_scores_zero_and_is_named(corpus, student):
    a, gid = corpus["routes"][student]
    rows = corpus["rows"].get((a, student))
    assert rows, f"{student} was not graded: {corpus['run'].stderr[-2000:]}"
    row = rows[gid]
    assert row.score == 0 and row.mistake == "forbidden", (row.score, row.mistake, row.message)
    routine = row.detail.get("reason", "")
    assert any(name in row.message for name in ("sympy", "numpy", "chainrule_utils", "mse_loss")), row.message
    assert routine and routine in row.message
    others = [(r.grade_id, r.score, r.message) for g, r in rows.items()
              if g != gid and r.kind == "auto" and r.score != r.max_score]
    assert not others, others
