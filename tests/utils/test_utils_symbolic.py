"""chainrule_utils.symbolic: safe parsing, layouts, equivalence and how expressions differ."""

import time

import pytest
import sympy

from chainrule_utils.symbolic import (
    ExprReport,
    check_expression,
    compare_expressions,
    equivalent,
    gradient,
    jacobian,
    parse_expression,
)
from chainrule_utils.symbolic.timelimit import call_with_timeout

x, y, x1, x2, x3, u1, u2 = sympy.symbols("x y x1 x2 x3 u1 u2")


# ---------------------------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("expr", [
    2 * x * sympy.cos(x ** 2),
    sympy.Piecewise((x, x > 0), (0, True)),
    sympy.Matrix([[1, x], [2 * y, sympy.exp(x)]]),
    x ** sympy.Rational(1, 3),
    sympy.And(x > 0, x < 1) | (y >= 2),
    sympy.Not(x > 0),
    sympy.Heaviside(x) * sympy.Abs(y) + sympy.sign(x),
    1 / sympy.sinh(x) + sympy.sec(x) - sympy.atan2(y, x),
    sympy.Eq(x, 1),
    sympy.Ne(x, 2),
    sympy.I * x + sympy.pi - sympy.E,
    -sympy.oo,
    sympy.Max(x, 0) + sympy.Min(x, y),
    sympy.log(x) / sympy.log(2),
    sympy.Rational(-3, 7) * x,
    sympy.Integer(10) ** 40,
    sympy.DiracDelta(x) + sympy.re(x) + sympy.im(y),
    sympy.sqrt(x) * sympy.tanh(y) / (1 + sympy.exp(-x)),
])
def test_sympy_printing_round_trips(expr):
    assert parse_expression(str(expr)) == expr


def test_floats_ints_and_rationals():
    assert parse_expression("1/3") == sympy.Rational(1, 3)  # integer division stays exact
    assert parse_expression("0.5") == sympy.Float(0.5)
    assert parse_expression(2) == 2 and parse_expression(0.25) == sympy.Float(0.25)
    assert parse_expression("[[x, 1], [2, y]]") == sympy.Matrix([[x, 1], [2, y]])
    assert parse_expression("ln(x)") == sympy.log(x)


def test_symbols_argument_controls_assumptions():
    p = sympy.Symbol("x", positive=True)
    e = parse_expression("sqrt(x**2)", symbols={"x": p})
    assert e == p
    e = parse_expression("sqrt(x**2)", symbols=[p])
    assert e == p
    assert parse_expression("x + z", symbols="x z").free_symbols == {x, sympy.Symbol("z")}


def test_sympy_objects_pass_through():
    assert parse_expression(x ** 2) == x ** 2
    assert parse_expression(sympy.ImmutableMatrix([x])) == sympy.Matrix([x])


@pytest.mark.parametrize("text, reason", [
    ("x^2", r"\*\*"),
    ("__import__('os').system('true')", "only named functions"),
    ("x.__class__", "attribute"),
    ("().__class__.__bases__[0]", "not allowed"),
    ("open('/etc/passwd')", "not allowed"),
    ("eval('1')", "not allowed"),
    ("sympify('x')", "not allowed"),
    ("lambda: 1", "lambda"),
    ("[i for i in range(9**9)]", "comprehension"),
    ("x[0]", "indexing"),
    ("'text'", "str"),
    ("9**9**9", "too large"),
    ("(2**1000)**1000", "too large"),
    ("2**10**5", "too large"),
    ("x**100000", "too large"),
    ("exp(x, evaluate=False)", "keyword"),
    ("Matrix(100000, 100000, [])", "Matrix"),
    ("Matrix([[1, 2], [3]])", "different lengths"),
    ("(" * 200 + "x" + ")" * 200, "nested"),
    ("-" * 5000 + "x", "nested|too long"),
    ("x" * 20001, "too long"),
    ("1 +", "not a valid expression"),
    ("", "empty"),
    ("sin", "function"),
    ("x if y else 2", "Piecewise"),
    ("{1: 2}", "dict"),
    ("x := 2", "not a valid expression"),
    ("_secret", "not allowed"),
    ("f(x)", "not allowed"),
    ("Piecewise(x, y)", "pairs"),
])
def test_hostile_or_bad_text_is_rejected_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_expression(text)


def test_parsing_hostile_text_is_fast():
    start = time.monotonic()
    for text in ("9**9**9**9", "+".join(["x"] * 3000), "Max(" * 90 + "x" + ")" * 90, "1" * 9999):
        try:
            parse_expression(text)
        except ValueError:
            pass
    assert time.monotonic() - start < 5


def test_non_text_input_is_rejected():
    with pytest.raises(ValueError, match="string"):
        parse_expression(object())
    with pytest.raises(ValueError, match="string"):
        parse_expression(None)


# ------------------------------------------------------------------------------------ layouts

def test_jacobian_layouts_seed_003():
    # seed 003 worked example 1: g = (x1^2 + x2, x1 x2)
    J = jacobian(["x1**2 + x2", "x1*x2"], ["x1", "x2"])
    assert J == sympy.Matrix([[2 * x1, 1], [x2, x1]])
    assert jacobian("Matrix([x1**2 + x2, x1*x2])", [x1, x2], layout="denominator") == J.T
    f = u1 + u2 ** 2
    Dh = jacobian(f, [u1, u2]).subs({u1: x1 ** 2 + x2, u2: x1 * x2}) * J
    assert Dh.shape == (1, 2)
    grad = Dh.T.subs({x1: 1, x2: 2})
    assert grad == sympy.Matrix([10, 5])
    with pytest.raises(ValueError, match="layout"):
        jacobian(f, [u1], layout="mixed")


def test_gradient_is_a_column_seed_003_practice():
    # easy practice: f(u) = 2u1 - u2 + u3 with u = (x1, x1 x2, x2^2): grad = (2 - x2, -x1 + 2 x2)
    composed = 2 * x1 - x1 * x2 + x2 ** 2
    assert gradient(composed, "x1 x2") == sympy.Matrix([2 - x2, -x1 + 2 * x2])
    # hard practice: l = x1^2 sin(x2)
    expected = sympy.Matrix([2 * x1 * sympy.sin(x2), x1 ** 2 * sympy.cos(x2)])
    assert gradient("x1**2*sin(x2)", [x1, x2]) == expected
    with pytest.raises(ValueError, match="one scalar"):
        gradient(["x1", "x2"], [x1, x2])


# ------------------------------------------------------------------------------- equivalence

@pytest.mark.parametrize("a, b", [
    ("sin(x)**2 + cos(x)**2", "1"),
    ("6*x**2*cos(x**3)/sin(x**3)", "2*3*x**2*cos(x**3)/sin(x**3)"),  # seed 001: d/dx ln(sin(x^3)^2)
    ("1/(1+exp(-x)) * (1 - 1/(1+exp(-x)))", "exp(-x)/(1+exp(-x))**2"),
    ("2*x3*x1*x2", "2*x1*x2*x3"),  # seed 003 example 3
    ("Matrix([[2*x, 1], [y, x]])", "Matrix([[x + x, 1], [y, x]])"),
    ("(x+1)**2", "x**2 + 2*x + 1"),
    ("tanh(x)", "(exp(2*x) - 1)/(exp(2*x) + 1)"),
])
def test_equivalent_true(a, b):
    assert equivalent(a, b)


@pytest.mark.parametrize("a, b", [
    ("x", "x + 1e-6"),
    ("sin(x)", "cos(x)"),
    ("Matrix([1, x])", "Matrix([[1, x]])"),
    ("x", "Matrix([x])"),
    ("x^2", "x**2"),  # invalid text is never equivalent
    ("log(x**2)", "2*log(x)"),  # differ for negative x
    ("0.3333", "1/3"),
])
def test_equivalent_false(a, b):
    assert not equivalent(a, b)


def test_positive_symbols_make_domain_identities_hold():
    p = sympy.Symbol("x", positive=True)
    assert equivalent("log(x**2)", "2*log(x)", symbols={"x": p})
    assert equivalent("sqrt(x**2)", "x", symbols={"x": p})


def test_equivalent_never_hangs():
    start = time.monotonic()
    equivalent("(x + y + 1)**500 - (1 + x + y)**500", "0", timeout=1.0)
    equivalent("(x + y + 2)**400*(x-y)**300", "expand((x+y+2)**400)", timeout=1.0)
    assert time.monotonic() - start < 6


def test_timelimit_interrupts_and_returns():
    def spin():
        while True:
            pass

    start = time.monotonic()
    finished, value = call_with_timeout(spin, 0.2)
    assert not finished and value is None and time.monotonic() - start < 2
    assert call_with_timeout(lambda a: a + 1, 1.0, 1) == (True, 2)


def test_timelimit_in_a_thread_uses_a_child_process():
    import threading

    out = {}

    def spin():
        while True:
            pass

    def worker():
        out["slow"] = call_with_timeout(spin, 0.3)
        out["fast"] = call_with_timeout(pow, 1.0, 2, 10)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert out == {"slow": (False, None), "fast": (True, 1024)}


# ---------------------------------------------------------------------------------- reports

def test_compare_kinds():
    d = "2*x*cos(x**2)"
    assert compare_expressions(d, d).kind == "equal"
    assert compare_expressions("-2*x*cos(x**2)", d).kind == "sign"
    r = compare_expressions("x*cos(x**2)", d)
    assert r.kind == "factor" and r.details["factor"] == "1/2"
    r = compare_expressions("2*x + 1", "2*x + 3*x**2 + 1")
    assert r.kind == "missing_term" and r.details["term"] == "3*x**2"
    assert "3*x**2" not in r.message  # naming the term would give the answer away
    r = compare_expressions("cos(x) + x", "cos(x)")
    assert r.kind == "different" and r.details["extra_term"] == "x" and "extra term" in r.message
    r = compare_expressions("x^2", "x**2")
    assert r.kind == "invalid" and "**" in r.message and not r
    assert compare_expressions("sin(x)", "exp(x)").kind == "different"


def test_compare_matrices():
    J = "Matrix([[2*x, 1], [y, x]])"
    assert compare_expressions("Matrix([[2*x, y], [1, x]])", J).details.get("transpose")
    assert compare_expressions("Matrix([[-2*x, -1], [-y, -x]])", J).kind == "sign"
    assert compare_expressions("Matrix([[2*x, 1]])", J).kind == "different"
    assert compare_expressions(J, J)


def test_compare_hints_at_e_for_exp():
    r = compare_expressions("e**x", "exp(x)")
    assert r.kind == "different" and "exp(x)" in r.message


def test_check_expression_assert_ok():
    r = check_expression("2*x", "x + x")
    assert isinstance(r, ExprReport) and r.assert_ok() is r
    with pytest.raises(AssertionError, match="SIGN"):
        check_expression("-2*x", "2*x").assert_ok()


def test_import_of_chainrule_utils_symbolic_attribute():
    import chainrule_utils

    assert chainrule_utils.symbolic.parse_expression is parse_expression


def test_seed_001_log_sin_cube_squared_chain():
    # d/dx ln(sin(x^3)^2) = 6 x^2 cos(x^3) / sin(x^3)
    right = "6*x**2*cos(x**3)/sin(x**3)"
    expected = sympy.diff(sympy.log(sympy.sin(x ** 3) ** 2), x)
    assert check_expression(right, expected, symbols=["x"])
    r = check_expression("3*x**2*cos(x**3)/sin(x**3)", expected, symbols=["x"])  # the 2 of the square lost
    assert r.kind == "factor" and r.details["factor"] == "1/2"
    # erratum 001-54: du/dx * dy/dx instead of du/dx * dy/du gives 4x^2 cos(x^2) for sin(x^2)
    assert not check_expression("4*x**2*cos(x**2)", sympy.diff(sympy.sin(x ** 2), x), symbols=["x"])


def test_string_answers_take_the_expected_answers_assumptions():
    p = sympy.Symbol("x", positive=True)
    expected = 2 * sympy.log(p)
    assert check_expression("log(x**2)", expected, symbols=["x"])
    assert equivalent("sqrt(x**2)", p)
    # a sympy answer built with a plain x is compared by name, not rejected as another variable
    assert check_expression(2 * sympy.log(x), expected)


def test_long_sums_are_flat_not_deep():
    terms = [f"{k}*x**{k % 7}" for k in range(1, 600)]
    e = parse_expression(" + ".join(terms))
    assert e == sum(k * x ** (k % 7) for k in range(1, 600))
    assert parse_expression("a - b + c - d") == sympy.Symbol("a") - sympy.Symbol("b") + sympy.Symbol("c") \
        - sympy.Symbol("d")
    assert parse_expression("a / b * c / d") == sympy.Symbol("a") * sympy.Symbol("c") / (
        sympy.Symbol("b") * sympy.Symbol("d"))


@pytest.mark.parametrize("text", [
    "sqrt(" + "9" * 4000 + ")",               # exact square roots of huge integers would factor them
    "cbrt(" + "7" * 4000 + ")",
    "exp(exp(exp(exp(1000))))",               # mpmath overflows while sympy simplifies: not our crash
    "Max(" + ",".join(f"x{i}" for i in range(190)) + ")",  # sympy's pairwise Max is quadratic
    "floor(pi*10**1000)",
])
def test_expensive_or_overflowing_expressions_are_bounded_and_never_raise(text):
    start = time.monotonic()
    assert equivalent(text, "x", timeout=0.5) is False
    r = compare_expressions(text, "x", timeout=0.5)
    assert r.kind in ("different", "invalid")
    assert time.monotonic() - start < 8


def test_comparisons_from_worker_threads_give_the_same_answers():
    import threading

    out = {}

    def worker():
        out["factor"] = compare_expressions("x*cos(x**2)", "2*x*cos(x**2)").kind
        out["equal"] = equivalent("sin(x)**2 + cos(x)**2", "1")
        out["invalid"] = compare_expressions("x^2", "x**2").kind
        try:
            compare_expressions("x", "x^2")  # a broken reference is the caller's bug: it raises
        except ValueError:
            out["bad_reference"] = True

    t = threading.Thread(target=worker)
    t.start()
    t.join(60)
    assert out == {"factor": "factor", "equal": True, "invalid": "invalid", "bad_reference": True}


def test_a_forgotten_inner_derivative_is_named_as_a_missing_factor():
    r = compare_expressions("cos(x**2)", "2*x*cos(x**2)")
    assert r.kind == "different" and r.details["missing_factor"] == "2*x" and "inner function" in r.message
    assert "2*x" not in r.message  # the factor is not printed: with it the answer would be given away
    r = compare_expressions("4*x**2*cos(x**2)", "2*x*cos(x**2)")
    assert r.details["extra_factor"] == "2*x"
    r = compare_expressions("sin(x)", "exp(x)")  # a quotient of unrelated functions is not "a factor"
    assert r.kind == "different" and "missing_factor" not in r.details and "extra_factor" not in r.details


def test_an_outer_alarm_is_not_swallowed(monkeypatch):
    """A notebook runner's shorter cell time limit must still end the cell, not become a verdict."""
    import signal

    from chainrule_utils.symbolic import compare as compare_module

    class CellTimeout(TimeoutError):
        pass

    def on_alarm(signum, frame):
        raise CellTimeout("cell timed out")

    def spin(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(compare_module, "_probe_table", spin)
    monkeypatch.setattr(compare_module.sympy, "simplify", spin)
    monkeypatch.setattr(compare_module.sympy, "cancel", spin)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for call in (lambda: compare_expressions("sin(x)", "cos(x)", timeout=30.0),
                     lambda: equivalent("sin(x)", "cos(x)", timeout=30.0)):
            signal.setitimer(signal.ITIMER_REAL, 0.3)  # shorter than the comparison's own limit
            start = time.monotonic()
            with pytest.raises(CellTimeout):
                call()
            assert time.monotonic() - start < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_longer_outer_alarm_is_re_armed_after_a_limited_call():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda s, f: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 3.0)
        call_with_timeout(lambda: None, 0.5)
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 2.0 < remaining <= 3.0 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_timeout_swallowed_by_a_finalizer_fires_again():
    """The alarm can fire inside a __del__ (or a weakref callback), where Python ignores the exception:
    the limit must still end the call, not let it run on."""
    calls = []

    class Slow:
        def __del__(self):
            calls.append(1)
            end = time.monotonic() + (0.3 if len(calls) == 1 else 0.0)
            while time.monotonic() < end:  # the first finalizer outlasts the 0.1 s limit
                pass

    def work():
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            Slow()
        return "ran to the end"

    t0 = time.monotonic()
    finished, value = call_with_timeout(work, 0.1)
    assert (finished, value) == (False, None)
    assert time.monotonic() - t0 < 1.5


def test_a_deadline_landing_as_the_call_returns_leaves_no_alarm_behind():
    """Hundreds of calls that finish right about at their (CPU-time) deadline: the Timeout never escapes,
    and no armed timer or handler is left to fire later in unrelated code (it once crashed a grader)."""
    import signal
    import time

    from chainrule_utils.symbolic.timelimit import SIGNAL, TIMER, Timeout, call_with_timeout

    def busy(seconds):  # CPU time: the limit counts it
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        return 1

    before = signal.getsignal(SIGNAL)
    outcomes = set()
    for i in range(240):   # from half the limit to twice it, across the kernel's timer tick
        finished, value = call_with_timeout(busy, 0.01, 0.005 + (i % 8) * 0.002)
        outcomes.add(finished)
        assert value == (1 if finished else None)
        assert signal.getitimer(TIMER)[0] == 0
        assert signal.getsignal(SIGNAL) is before
    assert outcomes == {True, False}
    try:
        time.sleep(0.1)
    except Timeout:
        raise AssertionError("a stray Timeout fired after the calls") from None
