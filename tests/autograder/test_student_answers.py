"""The grader is right about students it has not seen: for every autograded exercise of the
source notebooks, correct answers written differently from the solution score full marks, and
plausible wrong answers that are NOT in the exercise's catalogue score 0 with a message that is true
(no catalogued mistake the student did not make) and does not print the reference answer.

Per assignment, one course is released and graded ONCE (`grade --jobs 2`): student `right<k>` holds
the k-th correct alternative of every exercise, `wrong<k>` the k-th wrong answer (exercises without a
k-th case keep the solution). A wrong case is `W(code, *allowed, kind=...)`: `allowed` are the catalogue
ids it may legitimately be diagnosed as (none for the uncatalogued ones, at least two per exercise);
`kind` pins the mistake id (the sweep's best finds were added to the catalogues: they must be
recognised). chain_steps answers wrong in one part keep credit for the others by design, so there
"wrong" means less than full marks.

Student `cat<k>` holds the k-th CATALOGUED wrong answer of every exercise: the grader must name that
mistake with the catalogue's sentence, and so must the self-check.

The visible self-checks of the student copy (`check(<grade_id>, answer)`, chainrule_utils.selfcheck,
with the release's selfcheck.json) must agree with the grader: per assignment ONE kernel runs the
released notebook, then each case's answer cell and the visible part of its test cell (`selfcheck`
fixture). A correct case passes; a wrong one fails naming the grader's mistake (the same catalogued
mistake and sentence; the same generic diagnosis where the grader's is systematic). Neither the
self-check's output nor the feedback pages (`feedback`, rendered for every case) contain the expected
answer: its numbers at the self-check's points, its formula (normalised text), its shape tuple, or a
line of the solution.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from coursekit import graded_rows

from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook
from autograder.spec import load_exercises

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("student_answers")]

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def W(code, *allowed, kind=None):
    """A wrong answer; `allowed`: catalogue ids it may be diagnosed as; `kind`: the mistake id it must get."""
    return (code, frozenset(allowed), kind)


# {assignment: {grade_id: {"right": [answer cell source, ...], "wrong": [W(...), ...]}}}
CASES = {
    "01_scalar_rules": {
        "01_power": {
            "right": ["dp_dx = x * (20 * x**3 - 6)\n",
                      "dp_dx = '-6*x + 20*x**4'\n",
                      "_x = sp.Symbol('x', real=True)\ndp_dx = sp.Integer(20) * _x**4 - 6.0 * _x\n"],
            "wrong": [W("dp_dx = 20 * x**4 - 6\n"), W("dp_dx = 20 * x**4 - 3 * x\n"),
                      W("dp_dx = 4 * x**4 - 3 * x\n")],
        },
        "01_product": {
            "right": ["dq_dx = x * (2 * sp.sin(x) + x * sp.cos(x))\n",
                      "dq_dx = 'x**2*cos(x) + 2*x*sin(x)'\n"],
            "wrong": [W("dq_dx = 2 * x * sp.sin(x) - x**2 * sp.cos(x)\n"),
                      W("dq_dx = 2 * x * sp.cos(x) + x**2 * sp.sin(x)\n"),
                      W("dq_dx = 2 * sp.sin(x) + x**2 * sp.cos(x)\n")],
        },
        "01_chain_fn": {
            "right": ["def dh_dx(x):\n    x = np.asarray(x, dtype=float)\n    return 6.0 * x * np.cos(1 + 3 * x * x)\n",
                      "import math\n\n\ndef dh_dx(x):\n    out = np.empty(np.shape(x))\n"
                      "    for i, v in np.ndenumerate(np.asarray(x, dtype=float)):\n"
                      "        out[i] = 6 * v * math.cos(3 * v**2 + 1)\n    return out\n",
                      "def dh_dx(x):\n    u = 3 * x**2 + 1\n    du = 6 * x\n    return np.cos(u) * du\n",
                      "def dh_dx(x):\n    derivative = np.cos(3 * x**2 + 1) * 6 * x\n    return derivative\n"],
            "wrong": [W("def dh_dx(x):\n    return np.cos(3 * x**2 + 1) * 3 * x\n"),
                      W("def dh_dx(x):\n    return np.cos(3 * x**2 + 1) * (6 * x + 1)\n"),
                      W("def dh_dx(x):\n    return np.cos(3 * x**2 + 1) * 6\n"),
                      # works on a vector only; the prompt asks for any shape
                      W("import math\n\n\ndef dh_dx(x):\n    return np.array([6 * v * math.cos(3 * v**2 + 1) for v in x])\n",
                        kind="error")],
        },
        "01_exp_chain": {
            "right": ["dr_dx = -2 * x / sp.exp(x**2)\n", "dr_dx = -x * 2 * sp.E**(-x**2)\n",
                      "dr_dx = '-2*x*exp(-x**2)'\n"],
            "wrong": [W("dr_dx = -2 * x * sp.exp(-2 * x)\n"), W("dr_dx = -x * sp.exp(-x**2)\n"),
                      W("dr_dx = -2 * x * sp.exp(x**2)\n")],
        },
        "01_which_variable": {
            "right": ["df_dt = 2 * t * x\n", "df_dt = 't*x*2'\n", "df_dt = x * t + t * x\n"],
            "wrong": [W("df_dt = 2 * x\n"), W("df_dt = 2 * t * x + t**2\n"), W("df_dt = x * t\n")],
        },
        "01_slope": {
            "right": ["slope_at_2 = 10.0\n", "slope_at_2 = np.float64(3 * 4 - 2)\n",
                      "slope_at_2 = np.int64(10)\n",
                      "slope_at_2 = np.array(3.0 * 2**2 - 2)\n"],  # a 0-d array holds one number
            "wrong": [W("slope_at_2 = 3 * 2**2 + 2\n"), W("slope_at_2 = 3 * 2 - 2\n", "value_not_slope"),
                      W("slope_at_2 = 3 * 2**2 - 2 * 2\n"),
                      W("slope_at_2 = np.array(14.0)\n", kind="wrong")],  # a wrong number, not a wrong type
        },
        "01_compose": {
            "right": ["compositions = (-1, 5)\n", "compositions = tuple([(2 - 3) ** 3, 2**3 - 3])\n",
                      "compositions = (-1.0, 5.0)\n"],
            "wrong": [W("compositions = (-1, -1)\n"), W("compositions = (-8, -8)\n"),
                      W("compositions = (1, 5)\n")],
        },
    },
    "02_jacobians": {
        "02_partial_expr": {
            "right": ["df_dy = x * (x * sp.cos(y) + 12 * y**2)\n", "df_dy = '12*x*y**2 + x**2*cos(y)'\n"],
            "wrong": [W("df_dy = x**2 * sp.cos(y) + 12 * y**2\n"),
                      W("df_dy = x**2 * sp.cos(y) + 4 * x * 3 * y**3\n"),
                      W("df_dy = 2 * x * sp.cos(y) + 12 * x * y**2\n")],
        },
        "02_grad_q": {
            "right": ["def dq_dx(x):\n    x1, x2, x3 = x\n"
                      "    return np.array([2 * x1 * x2 + np.sin(x1), x1**2 + x3**3, 3 * x2 * x3**2])\n",
                      "def dq_dx(x):\n    g = np.zeros(3)\n    g[0] = 2 * x[0] * x[1] + np.sin(x[0])\n"
                      "    g[1] = x[0] ** 2 + x[2] ** 3\n    g[2] = 3 * x[1] * x[2] ** 2\n    return g\n",
                      "def dq_dx(x):\n    return [2 * x[0] * x[1] + np.sin(x[0]), x[0] ** 2 + x[2] ** 3, 3 * x[1] * x[2] ** 2]\n",
                      # the student tests the answer in its own cell: the check is not part of the answer
                      "def dq_dx(x):\n    x1, x2, x3 = x\n"
                      "    return np.array([2 * x1 * x2 + np.sin(x1), x1**2 + x3**3, 3 * x2 * x3**2])\n\n\n"
                      "check_gradient(q, dq_dx, np.array([0.3, 0.5, -1.0])).assert_ok()\n"],
            "wrong": [W("def dq_dx(x):\n    x1, x2, x3 = x\n"
                        "    return np.array([2 * x1 * x2 + np.sin(x1), x1**2 + 3 * x2 * x3**2, 3 * x2 * x3**2])\n"),
                      W("def dq_dx(x):\n    return np.array([2 * x[0] * x[1] + np.sin(x[1]), x[0] ** 2 + x[2] ** 3,"
                        " 3 * x[1] * x[2] ** 2])\n"),
                      W("def dq_dx(x):\n    x1, x2, x3 = x\n    return np.array([[2 * x1 * x2 + np.sin(x1)],"
                        " [x1**2 + x3**3], [3 * x2 * x3**2]])\n")],
        },
        "02_jac_h": {
            "right": ["def jac_h(x):\n    a, b = x\n    c = np.cos(a * b)\n"
                      "    return np.vstack([[2 * a * b, a * a], [np.exp(a), 3], [b * c, a * c]])\n",
                      "def jac_h(x):\n    J = np.empty((3, 2))\n    J[:, 0] = [2 * x[0] * x[1], np.exp(x[0]), x[1] * np.cos(x[0] * x[1])]\n"
                      "    J[:, 1] = [x[0] ** 2, 3, x[0] * np.cos(x[0] * x[1])]\n    return J\n",
                      "def jac_h(x):\n    c = np.cos(np.prod(x))\n"
                      "    return np.column_stack([[2 * x[0] * x[1], np.exp(x[0]), x[1] * c],"
                      " [x[0] ** 2, 3.0, x[0] * c]])\n"],
            "wrong": [W("def jac_h(x):\n    a, b = x\n    c = np.cos(a * b)\n"
                        "    return np.array([[2 * a * b, a * a], [np.exp(a), 3 * b], [b * c, a * c]])\n"),
                      W("def jac_h(x):\n    a, b = x\n    c = np.cos(a * b)\n"
                        "    return np.array([[2 * a * b, a * a], [np.exp(a), 3], [a * c, b * c]])\n"),
                      W("def jac_h(x):\n    a, b = x\n    c = np.cos(a * b)\n"
                        "    return np.array([[2 * a * b, a * a], [np.exp(a), 3], [b * c, a * c]]).reshape(3, 2)[::-1]\n")],
        },
        "02_shape_a": {
            "right": ["shape_a = tuple([2, 3])\n", "shape_a = np.zeros((2, 3)).shape\n", "shape_a = [2, 3]\n"],
            "wrong": [W("shape_a = (2, 2)\n"), W("shape_a = (3, 3)\n"), W("shape_a = (1, 3)\n")],
        },
        "02_shape_b": {
            "right": ["shape_b = tuple([1, 4])\n", "shape_b = np.ones((1, 4)).shape\n"],
            "wrong": [W("shape_b = (1, 1)\n"), W("shape_b = (1,)\n"), W("shape_b = (2, 4)\n")],
        },
        "02_shape_c": {
            "right": ["shape_c = (2, 3) + (4,)\n", "shape_c = np.zeros((2, 3, 4)).shape\n"],
            "wrong": [W("shape_c = (2, 3)\n"), W("shape_c = (3, 2, 4)\n"), W("shape_c = (24,)\n")],
        },
        "02_jac_affine": {
            "right": ["def jac_affine(A, b, x):\n    return A.copy()\n",
                      "def jac_affine(A, b, x):\n    return A @ np.eye(len(x))\n",
                      "def jac_affine(A, b, x):\n    m, n = np.shape(A)\n"
                      "    return np.array([[A[i][j] for j in range(n)] for i in range(m)])\n"],
            "wrong": [W("def jac_affine(A, b, x):\n    return A + b[:, None]\n", "b_in_jacobian", kind="b_in_jacobian"),
                      W("def jac_affine(A, b, x):\n    return A @ np.diag(x)\n"),
                      W("def jac_affine(A, b, x):\n    return np.outer(A @ x + b, x)\n")],
        },
        "02_linapprox": {
            "right": ["F_pred = np.array([12.6, 4.8])\n",
                      "F_pred = F_num(np.array([2.0, 1.0])) + np.dot(np.array([[12, 12], [2, 8]]), [0.1, -0.05])\n",
                      "F_pred = [12.6, 4.8]\n"],
            "wrong": [W("_x0, _dx = np.array([2.0, 1.0]), np.array([0.1, -0.05])\n"
                        "F_pred = F_num(_x0) + J_num(_x0 + _dx) @ _dx\n"),
                      W("_x0, _dx = np.array([2.0, 1.0]), np.array([0.1, -0.05])\n"
                        "F_pred = F_num(_x0) - J_num(_x0) @ _dx\n"),
                      W("F_pred = F_num(np.array([2.0, 1.0])) + np.array([[12.0, 6.0], [2.0, 8.0]]) @ np.array([0.1, -0.05])\n")],
        },
    },
    "03_elementwise": {
        "03_jac_div_x": {
            "right": ["def jac_div_x(w, x):\n    return np.diag(-w * x**-2.0)\n",
                      "def jac_div_x(w, x):\n    return -np.diag(w) @ np.diag(1 / x**2)\n",
                      "def jac_div_x(w, x):\n    return np.eye(len(x)) * (-w / x**2)\n"],
            "wrong": [W("def jac_div_x(w, x):\n    return -np.outer(w, 1 / x**2)\n", "not_diagonal", kind="not_diagonal"),
                      W("def jac_div_x(w, x):\n    return np.diag(-1 / x**2)\n"),
                      W("def jac_div_x(w, x):\n    return np.diag(-x / w**2)\n")],
        },
        "03_jac_mul_w": {
            "right": ["def jac_mul_w(w, x):\n    return np.eye(len(x)) * x\n",
                      "def jac_mul_w(w, x):\n    return np.diagflat(x)\n",
                      "def jac_mul_w(w, x):\n    J = np.zeros((len(w), len(w)))\n    for i in range(len(w)):\n"
                      "        J[i, i] = x[i]\n    return J\n"],
            "wrong": [W("def jac_mul_w(w, x):\n    return np.eye(len(x)) * w\n", "wrong_operand", kind="wrong_operand"),
                      W("def jac_mul_w(w, x):\n    return np.outer(x, np.ones_like(x))\n"),
                      W("def jac_mul_w(w, x):\n    return np.diag(x) + np.diag(w)\n")],
        },
        "03_d_xz_dz": {
            "right": ["def d_xz_dz(x, z):\n    return x.copy()\n",
                      "def d_xz_dz(x, z):\n    return x * 1.0 + 0 * z\n",
                      "def d_xz_dz(x, z):\n    return np.array([float(v) for v in x])\n"],
            "wrong": [W("def d_xz_dz(x, z):\n    return x * z\n", kind="wrong"),  # not "a constant factor"
                      W("def d_xz_dz(x, z):\n    return np.ones_like(x)\n"),
                      W("def d_xz_dz(x, z):\n    return np.reshape(x, (1, -1))\n")],
        },
        "03_d_sumsq_dx": {
            "right": ["def d_sumsq_dx(x):\n    return x + x\n",
                      "def d_sumsq_dx(x):\n    return np.array([2 * v for v in x])\n",
                      "def d_sumsq_dx(x):\n    return np.ones(len(x)) @ np.diag(2 * x)\n"],
            "wrong": [W("def d_sumsq_dx(x):\n    return 2 * np.sum(x) * np.ones_like(x)\n"),
                      W("def d_sumsq_dx(x):\n    return np.full_like(x, 2.0)\n"),
                      W("def d_sumsq_dx(x):\n    return 2 * x.sum()\n")],
        },
        "03_d_dot_dw": {
            "right": ["def d_dot_dw(w, x):\n    return x + 0 * w\n",
                      "def d_dot_dw(w, x):\n    return np.ones(len(w)) @ np.diag(x)\n"],
            "wrong": [W("def d_dot_dw(w, x):\n    return w * x\n"),
                      W("def d_dot_dw(w, x):\n    return np.dot(w, x) * x\n", kind="wrong"),
                      W("def d_dot_dw(w, x):\n    return np.ones_like(w)\n")],
        },
        "03_shape_dy_dz": {
            "right": ["shape_dy_dz = tuple([5, 1])\n", "shape_dy_dz = np.zeros((5, 1)).shape\n"],
            "wrong": [W("shape_dy_dz = (1, 1)\n"), W("shape_dy_dz = (5, 6)\n"), W("shape_dy_dz = (6, 1)\n")],
        },
        "03_shape_dsum_dx": {
            "right": ["shape_dsum_dx = tuple([1, 5])\n", "shape_dsum_dx = np.zeros((1, 5)).shape\n"],
            "wrong": [W("shape_dsum_dx = (1,)\n"), W("shape_dsum_dx = (5,)\n"), W("shape_dsum_dx = (1, 6)\n")],
        },
        "03_dyi_dxi": {
            "right": ["dyi_dxi = -2 * x_s * sp.sin(w_s) * (x_s**2 + 1) ** -2\n",
                      "dyi_dxi = '-2*x*sin(w)/(1 + x**2)**2'\n",
                      "dyi_dxi = sp.sin(w_s) * (-1) * (x_s**2 + 1) ** (-2) * 2 * x_s\n"],
            "wrong": [W("dyi_dxi = -2 * x_s * sp.cos(w_s) / (x_s**2 + 1) ** 2\n"),
                      W("dyi_dxi = -x_s * sp.sin(w_s) / (x_s**2 + 1) ** 2\n"),
                      W("dyi_dxi = sp.sin(w_s) / (2 * x_s)\n")],
        },
    },
    "04_chain_rules": {
        "04_dexp_sin": {
            "right": ['x = sp.Symbol("x")\ndy_dx_expr = 2 * sp.cos(2 * x) * sp.E ** sp.sin(2 * x)\n',
                      'x = sp.Symbol("x")\ndy_dx_expr = "exp(sin(2*x))*cos(2*x)*2"\n'],
            "wrong": [W('x = sp.Symbol("x")\ndy_dx_expr = sp.exp(sp.sin(2 * x)) * sp.cos(2 * x) * 2 * x\n', "inner_derivative_2x", kind="inner_derivative_2x"),
                      W('x = sp.Symbol("x")\ndy_dx_expr = 2 * sp.exp(sp.cos(2 * x))\n'),
                      W('x = sp.Symbol("x")\ndy_dx_expr = 2 * sp.cos(x) * sp.exp(sp.sin(2 * x))\n')],
        },
        "04_chain_steps": {
            "right": ['derivation = {"intermediates": {"a": "x**2", "b": "1 + sin(a)", "y": "b**3"},\n'
                      '              "local": {"a": "2*x", "b": "cos(a)", "y": "3*b**2"},\n'
                      '              "product": "3*b**2*cos(a)*2*x",\n'
                      '              "result": "6*x*cos(x**2)*(sin(x**2) + 1)**2"}\n',
                      'derivation = {"intermediates": {"v": "x*x", "s": "sin(v)", "p": "s + 1", "y": "p*p*p"},\n'
                      '              "local": {"v": "x + x", "s": "cos(v)", "p": "1.0", "y": "3*p**2"},\n'
                      '              "product": "2*x * cos(v) * 1 * 3*p**2",\n'
                      '              "result": "6*x*(1 + sin(x**2))**2*cos(x**2)"}\n',
                      # sympy objects and a plain int instead of strings
                      '_u1, _u2, _u3 = sp.symbols("u1 u2 u3")\n_x = sp.Symbol("x")\n'
                      'derivation = {"intermediates": {"u1": _x**2, "u2": sp.sin(_u1), "u3": 1 + _u2, "y": _u3**3},\n'
                      '              "local": {"u1": 2 * _x, "u2": sp.cos(_u1), "u3": 1, "y": 3 * _u3**2},\n'
                      '              "product": 3 * _u3**2 * sp.cos(_u1) * 2 * _x,\n'
                      '              "result": 6 * _x * sp.cos(_x**2) * (1 + sp.sin(_x**2)) ** 2}\n'],
            "wrong": [W('derivation = {"intermediates": {"u1": "x**2", "u2": "sin(u1)", "u3": "1 + u2", "y": "u3**3"},\n'
                        '              "local": {"u1": "2*x", "u2": "cos(u1)", "u3": "1", "y": "3*u3"},\n'
                        '              "product": "3*u3 * cos(u1) * 2*x",\n'
                        '              "result": "6*x*cos(x**2)*(1 + sin(x**2))"}\n'),
                      W('derivation = {"intermediates": {"u1": "x**2", "u2": "sin(u1)", "u3": "1 + u2", "y": "u3**3"},\n'
                        '              "local": {"u1": "2*x", "u2": "cos(u1)", "u3": "1", "y": "3*u3**2"},\n'
                        '              "product": "3*u3**2 * cos(u1) * 2*x",\n'
                        '              "result": "6*x*cos(x**2)*(1 + sin(x**2))**3"}\n'),
                      W('derivation = {"intermediates": {"u1": "x**2", "u2": "sin(u1)", "u3": "1 + u2", "y": "u3**3"},\n'
                        '              "local": {"u1": "2*x", "u2": "cos(x)", "u3": "1", "y": "3*u3**2"},\n'
                        '              "product": "3*u3**2 * cos(x) * 2*x",\n'
                        '              "result": "6*x*cos(x)*(1 + sin(x**2))**2"}\n')],
        },
        "04_total_two_paths": {
            "right": ["def dy_dx_total(x):\n    return 3 * x**2 - 2 * x * np.sin(x**2)\n",
                      "import math\n\n\ndef dy_dx_total(x):\n    u = x * x\n    return u + 2 * x * (x - math.sin(u))\n"],
            "wrong": [W("def dy_dx_total(x):\n    return x**2 + (x - np.sin(x**2))\n"),
                      W("def dy_dx_total(x):\n    return x**2 + (x + np.sin(x**2)) * 2 * x\n"),
                      W("def dy_dx_total(x):\n    return x + (x - np.sin(x**2)) * 2 * x\n")],
        },
        "04_jac_composition": {
            "right": ["def jac_h(x):\n    a, b = x\n    e = np.exp(a * b)\n"
                      "    return np.array([[b * e + 1, a * e + 2 * b], [2 * a * b + b**3, a**2 + 3 * a * b**2]])\n",
                      "def jac_h(x):\n    u = g_inner(x)\n    Jg = np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n"
                      "    Jf = np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n    return np.einsum('ij,jk->ik', Jf, Jg)\n"],
            "wrong": [W("def jac_h(x):\n    u = g_inner(x)\n    Jg = np.array([[x[1], 1.0], [x[0], 2 * x[1]]])\n"
                        "    Jf = np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n    return Jf @ Jg\n"),
                      W("def jac_h(x):\n    u = g_inner(x)\n    Jg = np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n"
                        "    Jf = np.array([[np.exp(u[0]), 1.0], [u[0], u[1]]])\n    return Jf @ Jg\n"),
                      W("def jac_h(x):\n    u = g_inner(x)\n    Jg = np.array([[x[1], x[0]], [1.0, 2 * x[1]]])\n"
                        "    Jf = np.array([[np.exp(u[0]), 1.0], [u[1], u[0]]])\n    return Jf.T @ Jg\n")],
        },
        "04_jvp_G": {
            "right": ["def jvp_G(x, v):\n    return np.array([np.cos(x[1]) * v[0] - x[0] * np.sin(x[1]) * v[1],"
                      " 2 * x[0] * v[0] + v[1]])\n",
                      "def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                      "    return (J * v).sum(axis=1)\n"],
            "wrong": [W("def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                        "    return (J * v).sum(axis=0)\n", "summed_columns", kind="summed_columns"),
                      W("def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 0.0]])\n"
                        "    return J @ v\n"),
                      W("def jvp_G(x, v):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                        "    return np.array([x[0] * np.cos(x[1]), x[0] ** 2 + x[1]]) + J @ v\n")],
        },
        "04_vjp_G": {
            "right": ["def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                      "    return w @ J\n",
                      "def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                      "    return (J * w[:, None]).sum(axis=0)\n"],
            "wrong": [W("def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                        "    return (J * w).sum(axis=0)\n", "broadcast_columns", kind="broadcast_columns"),
                      W("def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                        "    return J.T @ w[::-1]\n"),
                      W("def vjp_G(x, w):\n    J = np.array([[np.cos(x[1]), -x[0] * np.sin(x[1])], [2 * x[0], 1.0]])\n"
                        "    return (J * w[:, None]).sum(axis=1)\n")],
        },
        "04_shape_chain": {
            "right": ["shape_dy_dx = tuple(np.zeros((2, 5)).shape)\n", "shape_dy_dx = (int(2.0), 5)\n"],
            "wrong": [W("shape_dy_dx = (2, 3)\n"), W("shape_dy_dx = (5, 5)\n"), W("shape_dy_dx = (4, 3)\n")],
        },
        "04_grad_three_layers": {
            "right": ["def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    return (1 - v**2) * v @ W3\n",
                      "def grad_loss3(x):\n    a = W3 @ x\n    return np.einsum('ij,i->j', W3, np.tanh(a) / np.cosh(a) ** 2)\n",
                      "def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    return v @ np.diag(1 - v**2) @ W3\n",
                      # a local variable named like a routine is not a routine
                      "def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    grad = W3.T @ ((1 - v**2) * v)\n    return grad\n"],
            "wrong": [W("def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    return W3.T @ ((1 - v) ** 2 * v)\n", "tanh_derivative_squared", kind="tanh_derivative_squared"),
                      W("def grad_loss3(x):\n    a = W3 @ x\n    v = np.tanh(a)\n    return W3.T @ ((1 - v**2) * a)\n"),
                      W("def grad_loss3(x):\n    v = np.tanh(W3 @ x)\n    return W3.T @ (1 - v**2)\n")],
        },
    },
    "05_neuron_gradient": {
        "05_relu_jac": {
            "right": ["def relu_jac(x):\n    return np.diag(np.where(x > 0, 1.0, 0.0))\n",
                      "def relu_jac(x):\n    return np.eye(len(x)) * (x > 0)\n",
                      "def relu_jac(x):\n    n = len(x)\n    J = np.zeros((n, n))\n    for i in range(n):\n"
                      "        if x[i] > 0:\n            J[i, i] = 1\n    return J\n"],
            "wrong": [W("def relu_jac(x):\n    return np.diag(np.sign(x))\n"),
                      W("def relu_jac(x):\n    return np.outer(x > 0, x > 0).astype(float)\n"),
                      W("def relu_jac(x):\n    return np.diag((x >= 0).astype(float))\n", "kink_convention", kind="kink_convention")],
        },
        "05_relu_jac_shape": {
            "right": ["relu_jac_shape = tuple([7] * 2)\n", "relu_jac_shape = np.eye(7).shape\n"],
            "wrong": [W("relu_jac_shape = (7, 1)\n"), W("relu_jac_shape = (1, 1)\n"), W("relu_jac_shape = (49,)\n")],
        },
        "05_act_dw": {
            "right": ["def act_dw(w, b, x):\n    z = np.dot(w, x) + b\n    return np.where(z > 0, x, 0.0 * x)\n",
                      "def act_dw(w, b, x):\n    x = np.asarray(x, dtype=float)\n    if w @ x + b > 0:\n"
                      "        return x\n    return np.zeros_like(x)\n"],
            "wrong": [W("def act_dw(w, b, x):\n    return np.maximum(0.0, np.dot(w, x) + b) * np.asarray(x, dtype=float)\n"),
                      W("def act_dw(w, b, x):\n    return float(np.dot(w, x) > 0) * np.asarray(x, dtype=float)\n", "indicator_without_b", kind="indicator_without_b"),
                      W("def act_dw(w, b, x):\n    if np.dot(w, x) + b > 0:\n        return np.asarray(x, dtype=float)\n"
                        "    return 0.0\n")],
        },
        "05_dL_dw1": {
            "right": ['w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
                      'dL_dw1 = 2 * x1 * (b + w1 * x1 + w2 * x2 - y)\n',
                      'w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y")\n'
                      'dL_dw1 = "2*w1*x1**2 + 2*x1*(w2*x2 + b - y)"\n'],
            "wrong": [W('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
                        'dL_dw1 = 2 * (w1 * x1 + w2 * x2 + b - y) * w1\n'),
                      W('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
                        'dL_dw1 = 2 * (w1 * x1 + w2 * x2 + b - y) * (x1 + x2)\n'),
                      W('w1, w2, x1, x2, b, y = sp.symbols("w1 w2 x1 x2 b y", real=True)\n'
                        'dL_dw1 = 2 * (w1 * x1 + b - y) * x1\n')],
        },
        "05_dC_dw": {
            "right": ["def dC_dw(w, b, X, y):\n    N, n = X.shape\n    g = np.zeros(n)\n    for i in range(N):\n"
                      "        z = X[i] @ w + b\n        if z > 0:\n            g += 2 * (z - y[i]) * X[i]\n    return g / N\n",
                      "def dC_dw(w, b, X, y):\n    z = X @ w + b\n    r = np.where(z > 0, z - y, 0.0)\n"
                      "    return 2 * np.einsum('i,ij->j', r, X) / len(y)\n",
                      "def dC_dw(w, b, X, y):\n    z = X @ w + b\n    e = np.maximum(z, 0) - y\n"
                      "    return np.mean(2 * (e * (z > 0))[:, None] * X, axis=0)\n"],
            "wrong": [W("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return 2.0 * (X.T @ ((z > 0) * (z - y)))\n"),
                      W("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return 2.0 / X.shape[1] * (X.T @ ((z > 0) * (z - y)))\n", "mean_over_features", kind="mean_over_features"),
                      W("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return 2 * np.mean(X * ((z > 0) * (z - y))[:, None], axis=1)\n"),
                      W("def dC_dw(w, b, X, y):\n    z = X @ w + b\n    return 2 / len(y) * (X.T @ ((X @ w > 0) * (z - y)))\n", "indicator_without_b", kind="indicator_without_b")],
        },
        "05_dC_db": {
            "right": ["def dC_db(w, b, X, y):\n    total = 0.0\n    for xi, yi in zip(X, y):\n        z = np.dot(w, xi) + b\n"
                      "        if z > 0:\n            total += 2 * (z - yi)\n    return total / len(y)\n",
                      "def dC_db(w, b, X, y):\n    z = X @ w + b\n    return 2 * np.mean(np.where(z > 0, np.maximum(z, 0) - y, 0))\n",
                      "def dC_db(w, b, X, y):\n    z = X @ w + b\n    return np.array(2 / len(y) * np.sum((z > 0) * (z - y)))\n"],
            "wrong": [W("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return float(2.0 * np.sum((z > 0) * (z - y)))\n"),
                      W("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return 2 / len(y) * ((z > 0) * (z - y))\n"),
                      W("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return float(2 / len(y) * np.sum((z > 0) * (z - y) * X[:, 0]))\n"),
                      W("def dC_db(w, b, X, y):\n    z = X @ w + b\n    return 2 / len(y) * np.sum((X @ w > 0) * (z - y))\n", "indicator_without_b", kind="indicator_without_b")],
        },
        "05_augment_x": {
            "right": ["def augment_x(x):\n    return np.concatenate([x, [1.0]])\n",
                      "def augment_x(x):\n    return np.hstack((x, 1))\n",
                      "def augment_x(x):\n    return np.r_[x, 1.0]\n"],
            "wrong": [W("def augment_x(x):\n    return np.insert(x, 1, 1.0)\n"),
                      W("def augment_x(x):\n    return np.append(x, [1.0, 1.0])\n"),
                      W("def augment_x(x):\n    return np.concatenate([x, np.ones_like(x)])\n")],
        },
        "05_gd_step": {
            "right": ["def gd_step(params, g, lr):\n    return params - lr * g\n",
                      "def gd_step(params, g, lr):\n    return np.subtract(params, np.multiply(lr, g))\n",
                      "def gd_step(params, g, lr):\n    new = np.array(params, dtype=float)\n    new -= lr * np.asarray(g)\n"
                      "    return new\n"],
            "wrong": [W("def gd_step(params, g, lr):\n    return params - g / lr\n"),
                      W("def gd_step(params, g, lr):\n    return params - lr * params\n"),
                      W("def gd_step(params, g, lr):\n    return params - lr * np.sign(g)\n")],
        },
    },
    "06_backprop": {
        "06_layer_shapes": {
            "right": ["layer_shapes = [(4, 4, 3), (4, 3), (4, 12)]\n",
                      "layer_shapes = (np.zeros((4, 4, 3)).shape, np.zeros((4, 3)).shape, (4, 4 * 3))\n",
                      "layer_shapes = tuple(tuple(int(v) for v in s) for s in [[4, 4, 3], [4, 3], [4, 12]])\n"],
            "wrong": [W("layer_shapes = ((4, 3, 4), (4, 3), (4, 12))\n"),
                      W("layer_shapes = ((4, 4, 3), (4, 3), (12,))\n"),
                      W("layer_shapes = ((4, 4, 3), (4, 3), (4, 3))\n"),
                      W("layer_shapes = ((4, 4, 3), (3, 4), (4, 12))\n", "gradient_transposed",
                        kind="gradient_transposed")],
        },
        "06_dense_relu_grad_W": {
            "right": ["def dense_relu_grad_W(W, b, x, g):\n    z = np.einsum('ij,j->i', W, x) + b\n"
                      "    return np.einsum('i,j->ij', g * (z > 0), x)\n",
                      "def dense_relu_grad_W(W, b, x, g):\n    d = (g * (W @ x + b > 0)).reshape(-1, 1)\n"
                      "    return d @ x.reshape(1, -1)\n",
                      "def dense_relu_grad_W(W, b, x, g):\n    out = np.zeros_like(W)\n    for k in range(W.shape[0]):\n"
                      "        if W[k] @ x + b[k] > 0:\n            out[k] = g[k] * x\n    return out\n",
                      "def dense_relu_grad_W(W, b, x, g):\n    M = np.diag((W @ x + b > 0).astype(float))\n"
                      "    return M @ np.outer(g, x)\n"],
            "wrong": [W("def dense_relu_grad_W(W, b, x, g):\n    return np.outer(g, x) * (W > 0)\n"),
                      W("def dense_relu_grad_W(W, b, x, g):\n    z = W @ x + b\n"
                        "    return np.outer(g * (z > 0), np.maximum(0.0, x))\n"),
                      W("def dense_relu_grad_W(W, b, x, g):\n    z = W @ x + b\n    return np.outer(g * (z > 0), W @ x)\n"),
                      W("def dense_relu_grad_W(W, b, x, g):\n    return np.outer(x, g * (W @ x + b > 0))\n", "transpose",
                        kind="transpose")],
        },
        "06_batch_grad_W": {
            "right": ["def batch_grad_W(X, Delta):\n    return np.einsum('ik,ij->kj', Delta, X)\n",
                      "def batch_grad_W(X, Delta):\n    return (X.T @ Delta).T\n",
                      "def batch_grad_W(X, Delta):\n    return sum(np.outer(d, x) for d, x in zip(Delta, X))\n",
                      "def batch_grad_W(X, Delta):\n    return np.tensordot(Delta, X, axes=(0, 0))\n"],
            "wrong": [W("def batch_grad_W(X, Delta):\n    return np.outer(Delta.sum(axis=0), X.sum(axis=0))\n"),
                      W("def batch_grad_W(X, Delta):\n    return Delta.T @ X[::-1]\n"),
                      W("def batch_grad_W(X, Delta):\n    return X.T @ Delta / len(X)\n"),
                      W("def batch_grad_W(X, Delta):\n    return Delta.T @ X / X.shape[0]\n", "averaged_again",
                        kind="averaged_again")],
        },
        "06_batch_grad_b": {
            "right": ["def batch_grad_b(Delta):\n    return Delta.sum(axis=0)\n",
                      "def batch_grad_b(Delta):\n    return np.einsum('ij->j', Delta)\n",
                      "def batch_grad_b(Delta):\n    return Delta.T @ np.ones(Delta.shape[0])\n",
                      "def batch_grad_b(Delta):\n    g = np.zeros(Delta.shape[1])\n    for row in Delta:\n        g += row\n"
                      "    return g\n"],
            "wrong": [W("def batch_grad_b(Delta):\n    return Delta[0] * len(Delta)\n"),
                      W("def batch_grad_b(Delta):\n    return Delta.sum(axis=0) / Delta.shape[1]\n"),
                      W("def batch_grad_b(Delta):\n    return Delta.max(axis=0)\n"),
                      W("def batch_grad_b(Delta):\n    return np.mean(Delta, axis=0)\n", "averaged", kind="averaged")],
        },
        "06_batch_grad_X": {
            "right": ["def batch_grad_X(W, Delta):\n    return (W.T @ Delta.T).T\n",
                      "def batch_grad_X(W, Delta):\n    return np.einsum('ik,kj->ij', Delta, W)\n",
                      "def batch_grad_X(W, Delta):\n    return np.stack([W.T @ d for d in Delta])\n"],
            "wrong": [W("def batch_grad_X(W, Delta):\n    return np.tile((Delta @ W).mean(axis=0), (len(Delta), 1))\n"),
                      W("def batch_grad_X(W, Delta):\n    return Delta @ np.abs(W)\n"),
                      W("def batch_grad_X(W, Delta):\n    return np.sign(Delta) @ W\n"),
                      W("def batch_grad_X(W, Delta):\n    return (Delta @ W).sum(axis=0)\n", "summed_over_batch",
                        kind="summed_over_batch")],
        },
        "06_relu_backward": {
            "right": ["def relu_backward(Z, G):\n    return G * (Z > 0)\n",
                      "def relu_backward(Z, G):\n    return G * np.heaviside(Z, 0.0)\n",
                      "def relu_backward(Z, G):\n    mask = np.maximum(0.0, Z) > 0\n    return np.where(mask, G, 0)\n",
                      "def relu_backward(Z, G):\n    out = np.array(G, dtype=float)\n    out[Z <= 0] = 0.0\n    return out\n"],
            "wrong": [W("def relu_backward(Z, G):\n    return G * (Z < 0)\n"),
                      W("def relu_backward(Z, G):\n    return G * np.sign(Z)\n"),
                      W("def relu_backward(Z, G):\n    return G * np.heaviside(Z, 0.5)\n"),
                      W("def relu_backward(Z, G):\n    return G * np.maximum(Z, 0)\n", "relu_value_as_slope",
                        kind="relu_value_as_slope")],
        },
        "06_softmax_jac": {
            "right": ["def softmax_jac(z):\n    s = softmax(z)\n    return np.diag(s) - s[:, None] * s[None, :]\n",
                      "def softmax_jac(z):\n    s = softmax(z)\n    return s[:, None] * (np.eye(len(z)) - s[None, :])\n",
                      "def softmax_jac(z):\n    e = np.exp(z - z.max())\n    s = e / e.sum()\n"
                      "    return np.einsum('i,ij->ij', s, np.eye(len(s))) - np.einsum('i,j->ij', s, s)\n",
                      "from scipy.special import softmax as scipy_softmax\n\n\ndef softmax_jac(z):\n"
                      "    s = scipy_softmax(z)\n    return np.diag(s) - np.outer(s, s)\n"],
            "wrong": [W("def softmax_jac(z):\n    s = softmax(z)\n    return np.eye(len(z)) - np.outer(np.ones(len(z)), s)\n"),
                      W("def softmax_jac(z):\n    s = softmax(z)\n    return np.diag(s) - np.outer(s, 1 - s)\n"),
                      W("def softmax_jac(z):\n    s = softmax(z)\n    return np.outer(s, 1 - s)\n"),
                      W("def softmax_jac(z):\n    s = softmax(z)\n    return np.diag(s * (1 - s))\n",
                        "elementwise_sigmoid", kind="elementwise_sigmoid")],
        },
        "06_ce_backward": {
            "right": ["def ce_backward(Z, labels):\n    N, K = Z.shape\n    return (softmax_rows(Z) - np.eye(K)[labels]) / N\n",
                      "def ce_backward(Z, labels):\n    top = Z.max(axis=1, keepdims=True)\n"
                      "    lse = top + np.log(np.exp(Z - top).sum(axis=1, keepdims=True))\n"
                      "    Y = (np.arange(Z.shape[1]) == labels[:, None]).astype(float)\n"
                      "    return (np.exp(Z - lse) - Y) / len(Z)\n",
                      "def ce_backward(Z, labels):\n    out = np.empty_like(Z)\n    for i, (z, k) in enumerate(zip(Z, labels)):\n"
                      "        s = softmax(z)\n        s[k] -= 1\n        out[i] = s / len(Z)\n    return out\n"],
            "wrong": [W("def ce_backward(Z, labels):\n    N, K = Z.shape\n    return (softmax_rows(Z) - np.eye(K)[labels]) / K\n"),
                      W("def ce_backward(Z, labels):\n    N, K = Z.shape\n    return (softmax_rows(Z) - np.eye(K)[labels[::-1]]) / N\n"),
                      W("def ce_backward(Z, labels):\n    N, K = Z.shape\n    return (np.exp(Z) - np.eye(K)[labels]) / N\n"),
                      W("def ce_backward(Z, labels):\n    N, K = Z.shape\n    return (np.eye(K)[labels] - softmax_rows(Z)) / N\n",
                        "sign", kind="sign")],
        },
        "06_residual_grad": {
            "right": ["def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    h = x + v\n    return h + ((1 - v**2) * h) @ W_res\n",
                      "def residual_grad(x):\n    u = W_res @ x\n    h = x + np.tanh(u)\n"
                      "    J = np.eye(3) + np.diag(1 / np.cosh(u) ** 2) @ W_res\n    return J.T @ h\n",
                      # a local variable named like a routine is not a routine
                      "def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    h = x + v\n    grad = h.copy()\n"
                      "    grad += W_res.T @ ((1 - v * v) * h)\n    return grad\n"],
            "wrong": [W("def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    h = x + v\n    return h + W_res.T @ ((1 - v**2) * v)\n"),
                      W("def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    return x + v + W_res.T @ (1 - v**2)\n"),
                      W("def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    h = x + v\n    return x + W_res.T @ ((1 - v**2) * h)\n"),
                      W("def residual_grad(x):\n    v = np.tanh(W_res @ x)\n    h = x + v\n    return W_res.T @ ((1 - v**2) * h)\n",
                        "missing_skip", kind="missing_skip")],
        },
        "06_net_grad_W1": {
            "right": [
                # composed from the student's own layer functions
                "def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                "    D2 = ce_backward(Z2, labels)\n    return batch_grad_W(X, relu_backward(Z1, batch_grad_X(W2, D2)))\n",
                "def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                "    S = softmax_rows(Z2)\n    S[np.arange(len(X)), labels] -= 1\n"
                "    D1 = np.einsum('ik,kh->ih', S / len(X), W2) * (A1 > 0)\n    return np.einsum('ih,in->hn', D1, X)\n",
                "def net_grad_W1(W1, b1, W2, b2, X, labels):\n    g = np.zeros_like(W1)\n"
                "    for x, k in zip(X, labels):\n        z1 = W1 @ x + b1\n        s = softmax(W2 @ np.maximum(z1, 0) + b2)\n"
                "        s[k] -= 1\n        g += np.outer((W2.T @ s) * (z1 > 0), x)\n    return g / len(X)\n"],
            "wrong": [W("def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                        "    D2 = (softmax_rows(Z2) - np.eye(W2.shape[0])[labels]) / len(X)\n"
                        "    return ((D2 @ W2) * (X @ W1.T > 0)).T @ X\n"),
                      W("def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                        "    D2 = (softmax_rows(Z2) - np.eye(W2.shape[0])[labels]) / len(X)\n"
                        "    return ((D2 @ W2) * (Z1 > 0)).T @ X / len(X)\n"),
                      W("def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                        "    D2 = (softmax_rows(Z2) - np.eye(W2.shape[0])[labels]) / len(X)\n"
                        "    return ((D2 @ W2) * (Z1 > 0) * (1 - Z1)).T @ X\n"),
                      W("def net_grad_W1(W1, b1, W2, b2, X, labels):\n    Z1, A1, Z2 = net_forward(W1, b1, W2, b2, X)\n"
                        "    D2 = (softmax_rows(Z2) - np.eye(W2.shape[0])[labels]) / len(X)\n    return (D2 @ W2).T @ X\n",
                        "missing_mask", kind="missing_mask")],
        },
    },
}

# cases that show a known gap: {(assignment, student, gid): reason}. The three found by this sweep (a
# local variable named like a routine, a self-check next to the answer's def) are fixed in forbidden.py.
XFAIL: dict = {}


def _source(a: str) -> Path:
    return REPO / "course" / "source" / a / f"{a}.ipynb"


def _cli(course: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "autograder", "--course", str(course), *args], cwd=course,
                          capture_output=True, text=True, timeout=900)


def _exercises(a: str) -> dict:
    return {ex.grade_id: ex for ex in load_exercises(_source(a))}


def _cases(a: str, kind: str, gid: str) -> list[str]:
    """The answer cell sources of one kind of case for one exercise (cat: the catalogue's code)."""
    if kind == "cat":
        return [w.code for w in _exercises(a)[gid].wrong]
    items = CASES[a][gid][kind]
    return items if kind == "right" else [item[0] for item in items]


def _students(a: str) -> dict:
    """{student: {answer cell id: source}}: right<k> / wrong<k> / cat<k> as described in the module
    docstring."""
    sols = solution_sources(read_notebook(_source(a)))
    out = {}
    for kind in ("right", "wrong", "cat"):
        depth = max(len(_cases(a, kind, gid)) for gid in CASES[a])
        for k in range(depth):
            answers = {}
            for gid in CASES[a]:
                items = _cases(a, kind, gid)
                answers[f"{gid}_answer"] = items[k] if k < len(items) else sols[f"{gid}_answer"]
            out[f"{kind}{k}"] = answers
    return out


def grade_assignment(a: str, root: Path) -> dict:
    """Release `a` in a fresh course under `root`, grade every case student in one run, write the
    feedback pages.

    Returns {"rows": {student: {grade_id: ResultRow}}, "subs": {student: SubmissionRow}, "run": proc}."""
    course = root / "course"
    (course / "source" / a).mkdir(parents=True)
    shutil.copy2(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy2(_source(a), course / "source" / a / f"{a}.ipynb")
    r = _cli(course, "release", a)
    assert r.returncode == 0, r.stdout + r.stderr
    released = read_notebook(course / "release" / a / f"{a}.ipynb")
    for student, answers in _students(a).items():
        write_notebook(with_answers(released, answers), course / "submitted" / student / a / f"{a}.ipynb")
    run = _cli(course, "grade", a, "--jobs", "2", "--force")
    feedback = _cli(course, "feedback", a)
    subs, rows = graded_rows(course, a)
    return {"rows": rows, "subs": subs, "run": run, "course": course, "feedback": feedback}


_GRADED: dict = {}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    def get(a: str) -> dict:
        if a not in _GRADED:
            _GRADED[a] = grade_assignment(a, tmp_path_factory.mktemp(a))
        return _GRADED[a]
    return get


_PROBE = """
def _selfcheck_probe(_gid, _name):
    import json as _json

    from chainrule_utils.selfcheck import evaluate, load

    try:
        _r = evaluate(load()["exercises"][_gid], globals()[_name])
        print("SELFCHECK" + _json.dumps([_r.right, _r.mistake, _r.message]))
    except KeyError:
        print("SELFCHECK" + _json.dumps([False, "missing", None]))
"""


def run_selfchecks(a: str, course: Path) -> dict:
    """{(grade_id, kind, k): {"passed", "output", "right", "mistake", "message"}}: the released notebook
    runs once in one kernel (with the solutions, in the release folder beside selfcheck.json), then for
    each case its answer cell, the visible part of its test cell, and the self-check's finding."""
    from jupyter_client.manager import start_new_kernel

    from autograder.spec import is_test_cell, nbgrader_meta

    folder = course / "release" / a
    released = read_notebook(folder / f"{a}.ipynb")
    sols = solution_sources(read_notebook(_source(a)))
    exercises = _exercises(a)
    # generous start-up time: on a loaded 2-core machine (pytest -n 2 with sandboxes) 60 s was seen to pass
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(folder), startup_timeout=300)

    def run(code: str):
        out = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(code, timeout=120, output_hook=hook)["content"]
        return reply["status"] == "ok", "".join(out).strip()

    results = {}
    try:
        run("%matplotlib agg")
        run(_PROBE)
        tests = {}
        for cell in released.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if cell.cell_type != "code":
                continue
            if gid in sols:
                run(sols[gid])
            elif is_test_cell(cell):
                tests[gid] = cell.source
            else:
                run(cell.source)
        for gid in CASES[a]:
            for kind in ("right", "wrong", "cat"):
                for k, code in enumerate(_cases(a, kind, gid)):
                    run(code)
                    passed, output = run(tests[gid])
                    _, probe = run(f"_selfcheck_probe({gid!r}, {exercises[gid].answer!r})")
                    line = next((x for x in probe.splitlines() if x.startswith("SELFCHECK")), "SELFCHECK[null]")
                    right, mistake, message = (json.loads(line[len("SELFCHECK"):]) + [None, None, None])[:3]
                    results[(gid, kind, k)] = {"passed": passed, "output": output, "right": right,
                                               "mistake": mistake, "message": message}
            run(sols[f"{gid}_answer"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return results


_CHECKED: dict = {}


@pytest.fixture(scope="module")
def selfcheck(graded):
    def get(a: str) -> dict:
        if a not in _CHECKED:
            _CHECKED[a] = run_selfchecks(a, graded(a)["course"])
        return _CHECKED[a]
    return get


def _params(kind: str):
    out = []
    for a, exercises in CASES.items():
        for gid in exercises:
            for k in range(len(_cases(a, kind, gid))):
                key = (a, f"{kind}{k}", gid)
                marks = [pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else []
                out.append(pytest.param(a, gid, k, id=f"{gid}-{kind}{k}", marks=marks))
    return out


def _row(graded, a: str, student: str, gid: str):
    g = graded(a)
    sub = g["subs"].get(student)
    assert sub is not None, f"{student} not graded: {g['run'].stderr[-1500:]}"
    assert sub.status == "graded", f"{student}: {sub.status} ({sub.reason})"
    return g["rows"][student][gid]


def test_case_table_covers_every_exercise_with_enough_cases():
    for a, exercises in CASES.items():
        ids = {ex.grade_id for ex in load_exercises(_source(a))}
        assert set(exercises) == ids, a
        for gid, case in exercises.items():
            assert len(case["right"]) >= 2 and len(case["wrong"]) >= 3, gid
            assert sum(not allowed for _, allowed, _ in case["wrong"]) >= 2, gid


@pytest.mark.parametrize(("a", "gid", "k"), _params("right"))
def test_correct_alternative_scores_full_marks(graded, a, gid, k):
    row = _row(graded, a, f"right{k}", gid)
    assert row.score == row.max_score, f"{CASES[a][gid]['right'][k]!r} -> {row.mistake}: {row.message}"
    assert row.mistake is None


_EXPECTED_NUMBER = re.compile(r"expected:? -?\d")


@pytest.mark.parametrize(("a", "gid", "k"), _params("wrong"))
def test_uncatalogued_mistake_scores_zero_with_a_true_message(graded, a, gid, k):
    code, allowed, kind = CASES[a][gid]["wrong"][k]
    row = _row(graded, a, f"wrong{k}", gid)
    ex = _exercises(a)[gid]
    if ex.kind == "chain_steps":
        assert row.score < row.max_score, f"{code!r} scored {row.score}/{row.max_score}"
    else:
        assert row.score == 0, f"{code!r} scored {row.score}/{row.max_score}"
    assert row.mistake and row.message, f"{code!r}: no diagnosis"
    if kind is not None:
        assert row.mistake == kind, f"{code!r}: {row.mistake}: {row.message}"
    catalogue = {w.mistake: w.message for w in ex.wrong}
    if row.message in catalogue.values():
        assert row.mistake in allowed, f"{code!r} was told a catalogued mistake it did not make: {row.message}"
    # never the reference answer: no expected value, no solution text
    assert not _EXPECTED_NUMBER.search(row.message), row.message
    sol = solution_sources(read_notebook(_source(a)))[f"{gid}_answer"]
    body = [ln.split("=", 1)[-1].strip() for ln in sol.splitlines()
            if ln.strip() and "SOLUTION" not in ln and not ln.lstrip().startswith(("#", "def ", '"""'))]
    for text in body:
        if len(text) >= 8:
            assert text not in row.message, f"message leaks {text!r}: {row.message}"


def _named_by_grader(ex, k: int, mistake: str) -> bool:
    """The grader names catalogued answer k by its own id, or by an earlier entry with the same values."""
    return mistake == ex.wrong[k].mistake or mistake in {w.mistake for w in ex.wrong[:k]}


@pytest.mark.parametrize(("a", "gid", "k"), _params("cat"))
def test_catalogued_mistake_is_named_by_grader_and_self_check_alike(graded, selfcheck, a, gid, k):
    ex = _exercises(a)[gid]
    w = ex.wrong[k]
    row = _row(graded, a, f"cat{k}", gid)
    assert row.score <= w.max_score * row.max_score + 1e-9, f"{w.mistake} scored {row.score}"
    assert _named_by_grader(ex, k, row.mistake), f"{w.mistake}: the grader says {row.mistake}: {row.message}"
    found = selfcheck(a)[(gid, "cat", k)]
    assert not found["passed"], f"{w.mistake}: the self-check passes it: {found['output']}"
    assert (found["mistake"], found["message"]) == (row.mistake, row.message), \
        f"{w.mistake}: grader {row.mistake}: {row.message} / self-check {found['mistake']}: {found['message']}"
    assert row.message in found["output"], found["output"]


# mistakes whose name does not depend on where the answer is evaluated: the self-check (its own fixed
# points) must name them as the grader (random points) does
SAME_EVERYWHERE = {"sign", "factor", "transpose", "diag_only", "diag_vector", "diag_matrix", "shape",
                   "approximate", "not_callable", "bad_type", "unanswered", "error", "invalid", "missing_term",
                   "nonfinite"}


def _selfcheck_params():
    out = []
    for a, exercises in CASES.items():
        for gid, case in exercises.items():
            for kind in ("right", "wrong"):
                for k in range(len(case[kind])):
                    out.append(pytest.param(a, gid, kind, k, id=f"{gid}-{kind}{k}"))
    return out


@pytest.mark.parametrize(("a", "gid", "kind", "k"), _selfcheck_params())
def test_visible_self_check_agrees_with_the_grader(graded, selfcheck, a, gid, kind, k):
    found = selfcheck(a)[(gid, kind, k)]
    code = _cases(a, kind, gid)[k]
    row = _row(graded, a, f"{kind}{k}", gid)
    if kind == "right":
        assert found["passed"] and found["right"], f"a correct answer fails its self-check: {code!r} -> {found}"
        return
    assert not found["passed"] and not found["right"], f"a wrong answer passes its self-check: {code!r}"
    catalogued = {w.mistake for w in _exercises(a)[gid].wrong}
    if row.mistake in catalogued or row.mistake in SAME_EVERYWHERE:
        assert (found["mistake"], found["message"] if row.mistake in catalogued else found["mistake"]) == \
            (row.mistake, row.message if row.mistake in catalogued else row.mistake), \
            f"{code!r}: grader {row.mistake}: {row.message} / self-check {found['mistake']}: {found['message']}"
    else:  # a diagnosis that depends on the points (which entries, how many points): never a catalogued one
        assert found["mistake"] not in catalogued, f"{code!r}: the self-check claims {found['mistake']}"


# ---------------------------------------------------------------------------------------------
# nothing gives the answer away


def _norm(text: str) -> str:
    """Formula text without spaces, multiplication signs and with one power notation."""
    text = text.replace("²", "^2").replace("**", "^").replace("−", "-")
    return re.sub(r"[\s*]", "", text).lower()


def _secrets(a: str, course: Path) -> dict:
    """{grade_id: (texts, numbers, formulas)}: normalised texts, numbers and sympy expressions that would
    give each answer away, from the reference run at the self-check's own fixed points
    (autograder.selfchecks)."""
    import sympy

    from autograder import sandbox, selfchecks
    from autograder.course import Course
    from autograder.grading import build_reference, load_plan
    from autograder.kinds import kind_of
    from chainrule_utils.symbolic import parse_expression

    c = Course.open(course)
    plan = load_plan(c, a)
    refs = build_reference(plan, limits=sandbox.Limits(), protect=[c.root],
                           rng=np.random.default_rng(selfchecks.seed_of(a)))
    out = {}
    for nb in plan.notebooks:
        for ex in nb.exercises:
            entry = refs[nb.stem].entries[ex.grade_id]
            kind = kind_of(ex.kind)
            texts, numbers, formulas = set(), [], []
            if ex.kind == "expression":
                e = parse_expression(entry["expected"]["text"])
                for form in {e, sympy.expand(e), sympy.factor(e)}:
                    texts.add(_norm(str(form)))
                    texts |= {_norm(str(t)) for t in sympy.Add.make_args(form) if sympy.count_ops(t) >= 1}
                    factors = sympy.Mul.make_args(form)[:6]
                    products = [sympy.Mul(*c) for r in range(1, len(factors)) for c in combinations(factors, r)]
                    formulas += [t for t in [*sympy.Add.make_args(form), *products]
                                 if t.free_symbols and sympy.count_ops(t) >= 1]
                formulas.append(e)
            elif ex.kind == "chain_steps":
                d = kind.observed(entry["expected"])
                var = sympy.Symbol(ex.spec["variable"])
                df = sympy.diff(parse_expression(ex.spec["function"], {ex.spec["variable"]: var}), var)
                texts |= {_norm(str(df)), _norm(str(d.get("result"))), _norm(str(d.get("product")))}
                formulas.append(df)
            elif ex.kind == "function":
                numbers = [v for value in kind.reference(entry["expected"], "reference")
                           for v in np.ravel(np.asarray(value, dtype=float))]
            else:
                from chainrule_utils.fingerprint import value_numbers

                value = kind.reference(entry["expected"], "reference")
                if isinstance(value, tuple):  # a shape, or a tuple of shapes
                    texts |= {_norm(str(v)) for v in (value, *value) if isinstance(v, tuple)}
                numbers = [float(np.real(v)) for v in value_numbers(value)]
            out[ex.grade_id] = ({t for t in texts if len(t) >= 3}, numbers, formulas)
    return out


def _shown(v: float) -> list[str]:
    """How a number could be printed: 3 to 6 significant digits (numbers with fewer digits are too
    common in sentences to tell anything)."""
    digits = f"{abs(v):.6g}".replace(".", "").replace("-", "").lstrip("0").split("e")[0].rstrip("0")
    if len(digits) < 3 or not np.isfinite(v):
        return []
    return sorted({f"{v:.{n}g}" for n in range(3, 7)} | {f"{v:.{n}f}" for n in range(2, 5)})


def _stated_formulas(text: str) -> list[str]:
    """What a sentence states a formula to be: the text after each '=' up to the end of its clause, and
    each shorter run of its first words (prose may follow the formula)."""
    out = []
    for part in text.split("=")[1:]:
        words = re.split(r"[;:,]|\.(?:\s|$)|\bnot\b|\bso\b|\bbut\b", part)[0].split()[:12]
        out += [" ".join(words[:n]) for n in range(len(words), 0, -1)]
    return out


def _same_formula(clause: str, formula) -> bool:
    """Whether `clause` (prose math: implicit products, ^ and ²) is `formula`, or minus it, numerically."""
    import random

    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    names = {str(s): s for s in formula.free_symbols}
    try:
        got = parse_expr(clause.replace("²", "^2").replace("·", "*"), local_dict=dict(names),
                         transformations=standard_transformations + (implicit_multiplication_application,
                                                                     convert_xor))
    except Exception:  # noqa: BLE001  (prose that is not a formula)
        return False
    if not isinstance(got, sympy.Expr) or not got.free_symbols or not got.free_symbols <= set(names.values()):
        return False
    rng = random.Random(0)
    for sign in (1, -1):
        ok = True
        for _ in range(3):
            point = {s: rng.uniform(0.3, 1.7) for s in names.values()}
            try:
                a, b = complex(got.evalf(subs=point)), complex(sign * formula.evalf(subs=point))
            except (TypeError, ValueError):
                ok = False
                break
            ok = ok and abs(a - b) <= 1e-9 * max(1.0, abs(b))
        if ok:
            return True
    return False


def _leaks(text: str, secrets) -> list[str]:
    texts, numbers, formulas = secrets
    text = re.sub(r"\bgot -?[\d.]+(e[+-]?\d+)?", "got ...", text)  # the student's own value
    found = [t for t in texts if t in _norm(text)]
    for clause in _stated_formulas(text):
        found += [f"{clause} (= {f})" for f in formulas if _same_formula(clause, f)]
    for v in numbers:
        for shown in _shown(float(v)):
            if re.search(rf"(?<![\d.]){re.escape(shown)}(?!\d)", text):
                found.append(shown)
    return found



@pytest.mark.parametrize("a", list(CASES))
def test_no_self_check_output_or_feedback_gives_the_answer_away(graded, selfcheck, a):
    g = graded(a)
    assert g["feedback"].returncode == 0, g["feedback"].stderr
    secrets = _secrets(a, g["course"])
    checked = selfcheck(a)
    problems = []
    for (gid, kind, k), found in checked.items():
        if kind == "right":
            continue
        for leak in _leaks(found["output"], secrets[gid]):
            problems.append(f"self-check of {gid} {kind}{k} shows {leak!r}: {found['output']}")
    pages = sorted((g["course"] / "feedback").glob(f"*/{a}/{a}.html"))
    assert len(pages) == len(g["subs"]), [p.parent.parent.name for p in pages]
    for page in pages:
        html = page.read_text()
        messages = re.findall(r'<p class="message[^"]*">(.*?)</p>', html, flags=re.S)
        sections = re.findall(r'<section class="exercise[^"]*" id="([^"]+)">(.*?)</section>', html, flags=re.S)
        for gid, body in sections:
            for msg in re.findall(r'<p class="message[^"]*">(.*?)</p>', body, flags=re.S):
                for leak in _leaks(msg, secrets.get(gid, (set(), []))):
                    problems.append(f"feedback {page.parent.parent.name}/{gid} shows {leak!r}: {msg}")
        for msg in messages:
            if "`" in msg:
                problems.append(f"feedback {page.parent.parent.name}: raw backticks in {msg!r}")
        if "diagnosis:" in html:
            problems.append(f"feedback {page.parent.parent.name}: an internal mistake id is shown")
    assert not problems, "\n".join(problems[:30])
