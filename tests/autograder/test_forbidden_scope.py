"""Which hand exercises a forbidden routine taints: only answers that can reach it."""
from autograder.forbidden import answer_taint, taint


def _answer(cells, answer_cell, name="dp_dx"):
    _, everything = taint(cells)
    return answer_taint(name, cells, everything)


def test_scratch_cell_with_diff_does_not_taint_a_clean_answer():
    cells = [(5, "d = sp.diff(p, x)\nprint(d)"), (7, "dp_dx = 20*x**4 - 6*x")]
    assert _answer(cells, 7) is None


def test_answer_using_diff_itself_is_tainted():
    cells = [(7, "dp_dx = p.diff(x)")]
    assert "diff" in _answer(cells, 7)


def test_answer_reading_a_name_bound_by_a_tainted_cell_is_tainted_transitively():
    cells = [(3, "from sympy import diff as d"), (4, "def helper(e):\n    return d(e, x)"),
             (5, "tmp = helper(p)"), (7, "dp_dx = tmp")]
    why = _answer(cells, 7)
    assert why is not None and "tmp" in why


def test_monkeypatched_attribute_in_a_tainted_cell_taints_answers_using_it():
    cells = [(3, "np.sin = lambda v: sp.lambdify(x, sp.diff(sp.sin(x), x))(v)"), (7, "def dh_dx(v):\n    return np.sin(v)")]
    assert _answer(cells, 7, "dh_dx") is not None


def test_a_cell_that_can_bind_anything_taints_every_answer():
    cells = [(3, "globals()['zz'] = 1"), (7, "dp_dx = 20*x**4 - 6*x")]
    assert "globals" in _answer(cells, 7)


def test_unparseable_tainted_cell_taints_everything():
    cells = [(3, "d = sp.diff(p, x"), (7, "dp_dx = 20*x**4 - 6*x")]
    assert _answer(cells, 7) is not None


def test_deleted_answer_cell_falls_back_to_cells_binding_the_answer_name():
    cells = [(3, "dp_dx = sp.diff(p, x)")]
    assert _answer(cells, None) is not None
    assert _answer([(3, "dp_dx = 20*x**4")], None) is None


def test_fullwidth_identifier_is_normalised_and_caught():
    cells = [(7, "dp_dx = sp.ｄiff(p, x)")]
    assert _answer(cells, 7) is not None


def test_attribute_named_like_a_builtin_is_not_forbidden_but_the_builtin_is():
    assert _answer([(7, "import re\npat = re.compile('x')\ndp_dx = 20*x**4 - 6*x")], 7) is None
    assert _answer([(7, "code = compile('1', 's', 'eval')\ndp_dx = 20*x**4")], 7) is not None


def test_text_that_sympy_would_parse_into_a_routine_is_forbidden():
    for src in ('dp_dx = sp.sympify("diff(4*x**5, x)")', 'dp_dx = sp.S("diff(4*x**5, x)")',
                'from sympy.parsing.sympy_parser import parse_expr\ndp_dx = parse_expr("diff(x**2, x)")'):
        assert _answer([(7, src)], 7) is not None, src
    assert _answer([(7, "dp_dx = sp.S(1) / 2 * x")], 7) is None


def test_star_imports_and_introspection_taint_everything():
    for src in ("from sympy import *", "import inspect\nm = dict(inspect.getmembers(sp))",
                "import pkgutil\nd = pkgutil.resolve_name('sympy:d' + 'iff')", "f = (lambda: 0).__globals__"):
        assert _answer([(3, src), (7, "dp_dx = 20*x**4")], 7) is not None, src


def test_limit_of_a_difference_quotient_is_forbidden():
    assert _answer([(7, "hh = sp.Symbol('hh')\ndp_dx = sp.limit((p.subs(x, x + hh) - p) / hh, hh, 0)")], 7)


def test_reaching_the_graders_objects_taints_everything():
    for src in ("import gc\nch = [o for o in gc.get_objects() if type(o).__name__ == 'Channel']",
                "import sys\nfr = sys._getframe(1).f_globals"):
        assert _answer([(3, src), (7, "dp_dx = 20*x**4")], 7) is not None, src


def test_grading_zeroes_a_hand_answer_built_from_samples_of_its_target_only():
    """forbidden_reasons wires target_taint in even when no cell calls a forbidden routine."""
    from types import SimpleNamespace

    from autograder.grading import forbidden_reasons

    def reasons(*student_cells):
        code_cells = [(0, "def h(x):\n    return np.sin(3 * x**2 + 1)", False, "lesson")]
        code_cells += [(n, src, True, "01_dh_answer" if src.startswith("def dh_dx") else None)
                       for n, src in enumerate(student_cells, start=1)]
        ex = SimpleNamespace(grade_id="01_dh", hand=True, answer="dh_dx", answer_cell="01_dh_answer",
                             target="h")
        other = SimpleNamespace(grade_id="01_other", hand=True, answer="d2", answer_cell="01_d2_answer",
                                target="h")
        return forbidden_reasons(SimpleNamespace(code_cells=code_cells), [ex, other])

    sampled = reasons("_xs = np.linspace(-2, 2, 401)\n_ys = h(_xs)",
                      "_slopes = (_ys[1:] - _ys[:-1]) / (_xs[1:] - _xs[:-1])",
                      "def dh_dx(x):\n    return np.interp(x, _xs[1:], _slopes)")
    assert set(sampled) == {"01_dh"} and "`h`" in sampled["01_dh"]
    honest = reasons("print(h(1.0))", "def dh_dx(x):\n    return np.cos(3 * x**2 + 1) * 6 * x")
    assert honest == {}


def test_a_students_own_variable_named_like_a_routine_is_not_a_routine():
    own = "def grad_loss(x):\n    v = np.tanh(W @ x)\n    grad = W.T @ (1 - v**2)\n    return grad"
    assert _answer([(7, own)], 7, "grad_loss") is None
    assert _answer([(7, "grad = W.T @ v\ndC_dw = 2 * grad")], 7, "dC_dw") is None
    # ... but a read before the student's own binding, or after `del`, may reach a routine
    assert _answer([(7, "dC_dw = grad(f)\ngrad = 1")], 7, "dC_dw") is not None
    assert _answer([(7, "grad = 1\ndel grad\ndC_dw = grad(f)")], 7, "dC_dw") is not None


def test_a_statement_that_binds_nothing_taints_nothing():
    cell = "def dq_dx(x):\n    return 2 * x\ncheck_gradient(q, dq_dx, x0).assert_ok()\nprint(numerical_gradient(q, x0))"
    assert _answer([(7, cell)], 7, "dq_dx") is None


def test_values_put_into_an_answer_by_side_effects_are_tainted():
    fill = [(1, "def fill(v):\n    global dq_dx\n    dq_dx = v"), (2, "fill(sp.diff(p, x))")]
    assert _answer(fill, None, "dq_dx") is not None
    box = [(1, "box = {}"), (2, "box['a'] = sp.diff(p, x)"), (3, "dq_dx = box['a']")]
    assert _answer(box, 3, "dq_dx") is not None
    alias = [(1, "dq = np.zeros(3)\nv = dq"), (2, "v[:] = numerical_gradient(f, x0)")]
    assert _answer(alias, 1, "dq") is not None
    method = [(1, "dq = []"), (2, "dq.append(sp.diff(p, x))")]
    assert _answer(method, 1, "dq") is not None


def test_parts_evaluated_in_the_enclosing_scope_are_not_taken_as_locals():
    """A default value, decorator, annotation or a comprehension's first iterable reads the OUTER name,
    even when the function or comprehension has a local of the same name."""
    from autograder.forbidden import scan

    assert scan("def d(x, numerical_jacobian=numerical_jacobian):\n    return numerical_jacobian(f, x)")
    assert scan("d = [numerical_jacobian for numerical_jacobian in [numerical_jacobian(f, x0)]]")
    assert scan("@grad\ndef f(x):\n    grad = 1\n    return x")
    assert scan("ys = [grad * 2 for grad in gs]") == [] and scan("f = lambda gradient: 2 * gradient") == []
