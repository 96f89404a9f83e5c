"""Every rule the course teaches, as data: a LaTeX statement, a note in words, and a checkable claim.

One source of truth for the site's reference page (rendered by build.py) and for
tests/site/test_reference_rules.py, which checks each claim with sympy.

A rule differentiates ``function`` with respect to the variable ``wrt`` and says the result is
``claim``. Both are called with sympy symbols: a scalar variable is a Symbol, a vector variable of length
n is an n×1 Matrix of symbols. Shapes follow the course's numerator layout: the derivative has shape
``f.shape + wrt.shape`` (scalar f and vector x: a length-n gradient, which may be written as a row 1×n or
column n×1; vector f of length m and vector x of length n: an m×n Jacobian, never its transpose).

`check_rule(rule)` differentiates ``function`` with sympy and compares:
- symbolically (simplify the difference to zero) when the rule is stated for generic functions
  f(x), g(x) (sympy undefined functions), which cannot be evaluated at points;
- otherwise exactly at several points (rationals drawn from ``domain``, plus ``points``), so rules with
  max(0, ·) and its Heaviside derivative are checked away from the kink.
It raises `RuleError` with a one-line reason when the claim is wrong.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp


class RuleError(AssertionError):
    """A rule's claimed derivative disagrees with the derivative sympy computes."""


@dataclass(frozen=True)
class Rule:
    key: str
    section: str
    name: str
    statement: str  # display LaTeX
    note: str  # one or two sentences, markdown with $...$ math
    variables: dict  # name -> None (scalar) or n (vector of length n)
    function: Callable
    wrt: str
    claim: Callable
    domain: tuple = (-2, 2)  # values are drawn from here, never closer than 1/4 to 0
    points: tuple = ()  # extra points: dicts name -> value (a number, or a list for a vector)
    errata: tuple = field(default=())  # ERRATA.md ids this rule corrects
    fixed: dict = field(default_factory=dict)  # values used at every point (e.g. eta = 0)


# ----------------------------------------------------------------------------------------------------
# small helpers for writing claims


def _f(name):
    return sp.Function(name)


def active(z):
    """1[z > 0] as a sympy expression (the derivative of max(0, z) away from z = 0)."""
    return sp.Heaviside(z)


def relu(z):
    return sp.Max(0, z)


def ew(fn, v):
    """Apply a scalar sympy function element-wise to a column vector."""
    return v.applyfunc(fn)


def diag(v):
    return sp.diag(*list(v))


def ones(n):
    return sp.ones(n, 1)


def sigmoid(z):
    return 1 / (1 + sp.exp(-z))


# A fixed data set for the neuron rules: N = 4 samples in R², targets y. With the points below some
# samples are active (w·x_i + b > 0) and some are not, so a rule that tests activity once, outside the
# sum over samples, gives a different answer and is caught.
_X = [(1, 2), (-2, 1), (3, -1), (-1, -3)]
_Y = [1, 0, 2, -1]
_NEURON_POINTS = (
    {"w": [sp.Rational(1, 2), sp.Rational(1, 3)], "b": sp.Rational(1, 4)},  # samples 0, 2 active
    {"w": [-1, sp.Rational(1, 2)], "b": sp.Rational(-1, 3)},  # sample 1, 3 active
    {"w": [2, 1], "b": sp.Rational(1, 5)},  # samples 0, 2 active
)


def _samples():
    return [sp.Matrix(x) for x in _X], [sp.Integer(y) for y in _Y]


def mse_loss(w, b):
    """C(w, b) = (1/N) Σ_i (max(0, w·x_i + b) − y_i)²."""
    xs, ys = _samples()
    return sum(((relu(w.dot(x) + b) - y) ** 2 for x, y in zip(xs, ys, strict=True))) / len(xs)


def mse_grad_w(w, b):
    xs, ys = _samples()
    n = len(xs)
    return sum((active(w.dot(x) + b) * (w.dot(x) + b - y) * x for x, y in zip(xs, ys, strict=True)),
               sp.zeros(len(w), 1)) * 2 / n


def mse_grad_b(w, b):
    xs, ys = _samples()
    n = len(xs)
    return sum(active(w.dot(x) + b) * (w.dot(x) + b - y) for x, y in zip(xs, ys, strict=True)) * 2 / n


# Concrete maps for the Jacobian and chain-rule examples (the rules hold for any smooth maps).
def _g3to2(x):
    return sp.Matrix([x[0] * x[1], sp.sin(x[2]) + x[0]])


def _f2to2(u):
    return sp.Matrix([u[0] ** 2 + u[1], sp.exp(u[0]) * u[1]])


def _quotient(w, x):
    return sp.Matrix([w[i] / x[i] for i in range(len(w))])


def _f2to1(u):
    return sp.Matrix([u[0] ** 2 * u[1] + sp.sin(u[1])])


# Fixed numbers for the layer rules (any values would do): W is 2×3, a batch has N = 3 samples.
_LX = sp.Matrix([1, -2, 3])
_LT = sp.Matrix([sp.Rational(1, 2), -1])
_BX = sp.Matrix([[1, 0, -1], [2, 1, 0], [-1, 3, 1]])
_BT = sp.Matrix([[1, 0], [0, -1], [2, 1]])
_BW = sp.Matrix([[1, -1, 2], [0, 3, -2]])
_RW = sp.Matrix([[1, -2], [sp.Rational(1, 2), 1]])


def _rows(M):
    """The entries of a matrix row by row, as a column (numpy's ravel)."""
    return sp.Matrix(list(M))


def _batch_loss(X, W, b):
    """L = (1/N) Σ_i ½‖W x_i + b − t_i‖² for the rows x_i of X and t_i of _BT."""
    Z = X * W.T + sp.ones(X.shape[0], 1) * b.T
    return sum((Z - _BT).applyfunc(lambda e: e**2)) / 2 / X.shape[0]


def _batch_delta(X, W, b):
    return (X * W.T + sp.ones(X.shape[0], 1) * b.T - _BT) / X.shape[0]


def _jac(fn, n, at):
    """Jacobian of fn (vector -> vector) at the point `at`, from fn's own symbols."""
    s = sp.Matrix(sp.symbols(f"s0:{n}", real=True))
    return fn(s).jacobian(s).subs(dict(zip(s, at, strict=True)))


x_, y_, n_, c_ = sp.symbols("x y n c", real=True)
X, Y = _f("f")(x_), _f("g")(x_)

# ----------------------------------------------------------------------------------------------------
# the rules, in teaching order

S1 = "Scalar derivative rules"
S2 = "Gradients, Jacobians and layout"
S3 = "Element-wise operators"
S4 = "Scalar expansion"
S5 = "Reductions"
S6 = "Chain rules"
S7 = "A neuron and its loss"
S8 = "Layers and backpropagation"

SHAPE_TABLE = """Which Jacobians multiply for each kind of $f$, $\\mathbf{u}$ and $\\mathbf{x}$ (numerator layout; a
scalar counts as 1, a vector of length $k$ as $k$):

| $f$ | $u$ | $x$ | $\\partial f/\\partial u$ | $\\partial u/\\partial x$ | $\\partial f/\\partial x$ | what the product is |
|---|---|---|---|---|---|---|
| scalar | scalar | scalar | $1\\times 1$ | $1\\times 1$ | $1\\times 1$ | two numbers: the single-variable rule |
| scalar | scalar | vector ($n$) | $1\\times 1$ | $1\\times n$ | $1\\times n$ | a number times a row |
| scalar | vector ($k$) | scalar | $1\\times k$ | $k\\times 1$ | $1\\times 1$ | a row times a column: the total-derivative sum |
| scalar | vector ($k$) | vector ($n$) | $1\\times k$ | $k\\times n$ | $1\\times n$ | a row times a matrix; the gradient is its transpose |
| vector ($m$) | scalar | scalar | $m\\times 1$ | $1\\times 1$ | $m\\times 1$ | a column times a number |
| vector ($m$) | scalar | vector ($n$) | $m\\times 1$ | $1\\times n$ | $m\\times n$ | a column times a row: an outer product |
| vector ($m$) | vector ($k$) | scalar | $m\\times k$ | $k\\times 1$ | $m\\times 1$ | a matrix times a column |
| vector ($m$) | vector ($k$) | vector ($n$) | $m\\times k$ | $k\\times n$ | $m\\times n$ | the vector chain rule |

The inner sizes always match ($k$ with $k$), and the outer Jacobian stands on the left. Checked here on a
scalar $f$ of $\\mathbf{u}\\in\\mathbb{R}^2$ with $\\mathbf{u}(\\mathbf{x})$, $\\mathbf{x}\\in\\mathbb{R}^3$."""

RULES: list[Rule] = [
    # --- scalar rules -------------------------------------------------------------------------------
    Rule("constant", S1, "Constant", r"\frac{d}{dx}\,c = 0",
         "A constant does not move when $x$ moves.",
         {"x": None, "c": None}, lambda x, c: c, "x", lambda x, c: 0),
    Rule("power", S1, "Power", r"\frac{d}{dx}\,x^n = n\,x^{n-1}",
         "Bring the exponent down and lower it by one; it holds for any real $n$ where $x^n$ is defined.",
         {"x": None, "n": None}, lambda x, n: x**n, "x", lambda x, n: n * x ** (n - 1),
         domain=(sp.Rational(1, 4), 3), errata=("001-15",)),
    Rule("const_multiple", S1, "Constant multiple", r"\frac{d}{dx}\,c\,f(x) = c\,\frac{df}{dx}",
         "A constant factor passes through the derivative.",
         {"x": None, "c": None}, lambda x, c: c * _f("f")(x), "x", lambda x, c: c * _f("f")(x).diff(x)),
    Rule("sum", S1, "Sum", r"\frac{d}{dx}\big(f(x) + g(x)\big) = \frac{df}{dx} + \frac{dg}{dx}",
         "The derivative of a sum is the sum of the derivatives (so $\\frac{d}{dx}$ is linear).",
         {"x": None}, lambda x: _f("f")(x) + _f("g")(x), "x",
         lambda x: _f("f")(x).diff(x) + _f("g")(x).diff(x)),
    Rule("product", S1, "Product", r"\frac{d}{dx}\,f(x)\,g(x) = \frac{df}{dx}\,g(x) + f(x)\,\frac{dg}{dx}",
         "Each factor takes its turn being differentiated while the other stays put; it is **not** "
         "the product of the derivatives.",
         {"x": None}, lambda x: _f("f")(x) * _f("g")(x), "x",
         lambda x: _f("f")(x).diff(x) * _f("g")(x) + _f("f")(x) * _f("g")(x).diff(x)),
    Rule("exp_log", S1, "Exponential and logarithm", r"\frac{d}{dx}\,e^{x} = e^{x}, \qquad "
         r"\frac{d}{dx}\,\ln x = \frac{1}{x}\ (x > 0)",
         "Checked here on $e^{x} + \\ln x$.",
         {"x": None}, lambda x: sp.exp(x) + sp.log(x), "x", lambda x: sp.exp(x) + 1 / x,
         domain=(sp.Rational(1, 4), 3)),
    Rule("trig", S1, "Sine and cosine", r"\frac{d}{dx}\sin x = \cos x, \qquad \frac{d}{dx}\cos x = -\sin x",
         "The sign appears on the derivative of the cosine. Checked on $\\sin x + 2\\cos x$.",
         {"x": None}, lambda x: sp.sin(x) + 2 * sp.cos(x), "x", lambda x: sp.cos(x) - 2 * sp.sin(x)),
    Rule("sigmoid", S1, "Logistic sigmoid",
         r"\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \frac{d\sigma}{dx} = \sigma(x)\,\big(1 - \sigma(x)\big)",
         "The sigmoid squashes one number into $(0, 1)$. It is not the softmax, which maps a vector to a "
         "probability vector: $\\sigma(x)$ is the first entry of $\\operatorname{softmax}([x, 0])$.",
         {"x": None}, lambda x: sigmoid(x), "x", lambda x: sigmoid(x) * (1 - sigmoid(x)), errata=("000-07",)),
    Rule("relu", S1, "Rectifier (ReLU)", r"\frac{d}{dz}\max(0, z) = \mathbb{1}[z > 0] = "
         r"\begin{cases} 0 & z < 0 \\ 1 & z > 0 \end{cases}",
         "At $z = 0$ there is a kink and no derivative; code picks a value there by convention.",
         {"z": None}, relu, "z", active),
    # --- gradients and Jacobians --------------------------------------------------------------------
    Rule("partials", S2, "Partial derivatives and the gradient",
         r"f(x, y) = 3x^2y:\quad \frac{\partial f}{\partial x} = 6xy,\ \ \frac{\partial f}{\partial y} = 3x^2,"
         r"\quad \nabla f = \begin{bmatrix} 6xy \\ 3x^2 \end{bmatrix}",
         "A partial derivative treats every other variable as a constant. The gradient collects the "
         "partials and has the shape of the input.",
         {"v": 2}, lambda v: 3 * v[0] ** 2 * v[1], "v", lambda v: sp.Matrix([6 * v[0] * v[1], 3 * v[0] ** 2])),
    Rule("jacobian_layout", S2, "Jacobian (numerator layout)",
         r"\mathbf{f}: \mathbb{R}^n \to \mathbb{R}^m,\quad J = \frac{\partial \mathbf{f}}{\partial \mathbf{x}}"
         r"\in \mathbb{R}^{m \times n},\quad J_{ij} = \frac{\partial f_i}{\partial x_j}",
         "One row per output, one column per input: row $i$ is the gradient of $f_i$ laid on its side. "
         "Checked on $\\mathbf{f}(\\mathbf{x}) = [x_0x_1,\\ \\sin x_2 + x_0]$, whose Jacobian is "
         "$\\begin{bmatrix} x_1 & x_0 & 0 \\\\ 1 & 0 & \\cos x_2 \\end{bmatrix}$ (2×3).",
         {"x": 3}, _g3to2, "x", lambda x: sp.Matrix([[x[1], x[0], 0], [1, 0, sp.cos(x[2])]])),
    Rule("identity", S2, "Identity", r"\frac{\partial \mathbf{x}}{\partial \mathbf{x}} = I",
         "Each output depends on its own input only, with slope 1.",
         {"x": 3}, lambda x: x, "x", lambda x: sp.eye(3)),
    Rule("linear", S2, "Matrix times vector", r"\frac{\partial (W\mathbf{x})}{\partial \mathbf{x}} = W",
         "A linear map is its own Jacobian. Checked with a fixed 2×3 matrix $W$.",
         {"x": 3}, lambda x: sp.Matrix([[1, -2, 3], [0, 4, -1]]) * x, "x",
         lambda x: sp.Matrix([[1, -2, 3], [0, 4, -1]])),
    # --- element-wise -------------------------------------------------------------------------------
    Rule("add_w", S3, "Sum, w.r.t. either operand",
         r"\frac{\partial (\mathbf{w} + \mathbf{x})}{\partial \mathbf{w}} = "
         r"\frac{\partial (\mathbf{w} + \mathbf{x})}{\partial \mathbf{x}} = I",
         "Element-wise operators give diagonal Jacobians: $y_i$ depends only on $w_i$ and $x_i$.",
         {"w": 3, "x": 3}, lambda w, x: w + x, "w", lambda w, x: sp.eye(3)),
    Rule("add_x", S3, "Sum, w.r.t. x", r"\frac{\partial (\mathbf{w} + \mathbf{x})}{\partial \mathbf{x}} = I",
         "(The second half of the line above, checked separately.)",
         {"w": 3, "x": 3}, lambda w, x: w + x, "x", lambda w, x: sp.eye(3)),
    Rule("sub_w", S3, "Difference, w.r.t. w", r"\frac{\partial (\mathbf{w} - \mathbf{x})}{\partial \mathbf{w}} = I",
         "", {"w": 3, "x": 3}, lambda w, x: w - x, "w", lambda w, x: sp.eye(3)),
    Rule("sub_x", S3, "Difference, w.r.t. x", r"\frac{\partial (\mathbf{w} - \mathbf{x})}{\partial \mathbf{x}} = -I",
         "The subtracted operand brings a minus sign.",
         {"w": 3, "x": 3}, lambda w, x: w - x, "x", lambda w, x: -sp.eye(3)),
    Rule("mul_w", S3, "Hadamard product, w.r.t. w",
         r"\frac{\partial (\mathbf{w} \otimes \mathbf{x})}{\partial \mathbf{w}} = \operatorname{diag}(\mathbf{x})",
         "", {"w": 3, "x": 3}, lambda w, x: w.multiply_elementwise(x), "w", lambda w, x: diag(x)),
    Rule("mul_x", S3, "Hadamard product, w.r.t. x",
         r"\frac{\partial (\mathbf{w} \otimes \mathbf{x})}{\partial \mathbf{x}} = \operatorname{diag}(\mathbf{w})",
         "Each operand's derivative is a diagonal matrix holding the *other* operand.",
         {"w": 3, "x": 3}, lambda w, x: w.multiply_elementwise(x), "x", lambda w, x: diag(w)),
    Rule("div_w", S3, "Element-wise quotient, w.r.t. w",
         r"\frac{\partial (\mathbf{w} \oslash \mathbf{x})}{\partial \mathbf{w}} = "
         r"\operatorname{diag}\!\Big(\frac{1}{x_i}\Big)",
         "", {"w": 3, "x": 3}, _quotient, "w",
         lambda w, x: diag(ew(lambda t: 1 / t, x)), errata=("001-37",)),
    Rule("div_x", S3, "Element-wise quotient, w.r.t. x",
         r"\frac{\partial (\mathbf{w} \oslash \mathbf{x})}{\partial \mathbf{x}} = "
         r"\operatorname{diag}\!\Big(-\frac{w_i}{x_i^2}\Big)",
         "Note the minus sign and the square: $\\frac{d}{dx}\\frac{w}{x} = -\\frac{w}{x^2}$.",
         {"w": 3, "x": 3}, _quotient, "x",
         lambda w, x: diag([-w[i] / x[i] ** 2 for i in range(3)]), errata=("001-37", "001-38")),
    Rule("unary", S3, "A scalar function applied element-wise",
         r"\frac{\partial}{\partial \mathbf{x}} \max(0, \mathbf{x}) = "
         r"\operatorname{diag}\big(\mathbb{1}[x_i > 0]\big)",
         "An $n \\times n$ diagonal **matrix**; the vector of 0s and 1s is only its diagonal. In general "
         "$\\partial f(\\mathbf{x})/\\partial \\mathbf{x} = \\operatorname{diag}(f'(x_i))$.",
         {"x": 3}, lambda x: ew(relu, x), "x", lambda x: diag(ew(active, x)), errata=("001-88", "002-24")),
    # --- scalar expansion ---------------------------------------------------------------------------
    Rule("expand_add_x", S4, "Vector plus scalar, w.r.t. the vector",
         r"\frac{\partial (\mathbf{x} + z)}{\partial \mathbf{x}} = I",
         "Adding a scalar $z$ to a vector means adding it to every entry: $\\mathbf{x} + z\\mathbf{1}$.",
         {"x": 3, "z": None}, lambda x, z: x + z * ones(3), "x", lambda x, z: sp.eye(3)),
    Rule("expand_add_z", S4, "Vector plus scalar, w.r.t. the scalar",
         r"\frac{\partial (\mathbf{x} + z)}{\partial z} = \mathbf{1}",
         "Every output moves one-for-one with $z$: a column of ones (shape $n$, not $n \\times n$).",
         {"x": 3, "z": None}, lambda x, z: x + z * ones(3), "z", lambda x, z: ones(3)),
    Rule("expand_mul_x", S4, "Vector times scalar, w.r.t. the vector",
         r"\frac{\partial (z\,\mathbf{x})}{\partial \mathbf{x}} = z\,I", "",
         {"x": 3, "z": None}, lambda x, z: z * x, "x", lambda x, z: z * sp.eye(3)),
    Rule("expand_mul_z", S4, "Vector times scalar, w.r.t. the scalar",
         r"\frac{\partial (z\,\mathbf{x})}{\partial z} = \mathbf{x}", "",
         {"x": 3, "z": None}, lambda x, z: z * x, "z", lambda x, z: x),
    # --- reductions ---------------------------------------------------------------------------------
    Rule("sum_reduce", S5, "Sum of the entries",
         r"y = \textstyle\sum_i x_i:\quad \frac{\partial y}{\partial \mathbf{x}} = \mathbf{1}^\top,"
         r"\quad \nabla_{\mathbf{x}}\, y = \mathbf{1}",
         "Every entry counts once. The Jacobian of a scalar is a row; the gradient is the same numbers as a "
         "vector shaped like $\\mathbf{x}$.",
         {"x": 3}, lambda x: sum(x), "x", lambda x: ones(3).T),
    Rule("sum_scaled", S5, "Sum of a scaled vector",
         r"y = \textstyle\sum_i z\,x_i:\quad \frac{\partial y}{\partial z} = \sum_i x_i,\quad "
         r"\nabla_{\mathbf{x}}\, y = z\,\mathbf{1}",
         "Checked w.r.t. $z$ (the other half follows from the rules above).",
         {"x": 3, "z": None}, lambda x, z: sum(z * x), "z", lambda x, z: sum(x)),
    Rule("dot_w", S5, "Dot product",
         r"y = \mathbf{w} \cdot \mathbf{x}:\quad \frac{\partial y}{\partial \mathbf{w}} = \mathbf{x}^\top,"
         r"\quad \frac{\partial y}{\partial \mathbf{x}} = \mathbf{w}^\top",
         "The dot product is a sum of a Hadamard product: $\\mathbf{1}^\\top \\operatorname{diag}(\\mathbf{x}) "
         "= \\mathbf{x}^\\top$.",
         {"w": 3, "x": 3}, lambda w, x: w.dot(x), "w", lambda w, x: x.T),
    Rule("dot_x", S5, "Dot product, w.r.t. x", r"\frac{\partial (\mathbf{w}\cdot\mathbf{x})}{\partial \mathbf{x}} "
         r"= \mathbf{w}^\top", "", {"w": 3, "x": 3}, lambda w, x: w.dot(x), "x", lambda w, x: w.T),
    # --- chain rules --------------------------------------------------------------------------------
    Rule("chain_single", S6, "Single-variable chain rule",
         r"y = f(u),\ u = g(x):\quad \frac{dy}{dx} = \frac{dy}{du}\,\frac{du}{dx} = f'\big(g(x)\big)\,g'(x)",
         "Differentiate the outer function at the inner value, times the inner derivative.",
         {"x": None}, lambda x: _f("f")(_f("g")(x)), "x",
         lambda x: sp.Subs(_f("f")(sp.Symbol("u")).diff(sp.Symbol("u")), sp.Symbol("u"), _f("g")(x))
         * _f("g")(x).diff(x), errata=("001-54",)),
    Rule("chain_total", S6, "Total-derivative chain rule",
         r"y = f\big(x, u_1(x), \dots, u_k(x)\big):\quad \frac{dy}{dx} = \frac{\partial f}{\partial x} + "
         r"\sum_{i=1}^{k} \frac{\partial f}{\partial u_i}\,\frac{du_i}{dx}",
         "When $x$ reaches $y$ along several paths, add up the paths. Dropping the direct term "
         "$\\partial f/\\partial x$ (a partial instead of the total derivative) is a classic mistake. Checked "
         "on $f(x, u) = x^2u + \\sin u$ with $u = e^x$.",
         {"x": None},
         lambda x: (x**2 * sp.exp(x) + sp.sin(sp.exp(x))), "x",
         lambda x: (lambda u: (sp.diff(x**2 * u + sp.sin(u), x) + sp.diff(x**2 * u + sp.sin(u), u)
                               * sp.diff(sp.exp(x), x)).subs(u, sp.exp(x)))(sp.Symbol("u"))),
    Rule("chain_vector", S6, "Vector chain rule",
         r"\frac{\partial}{\partial \mathbf{x}}\,\mathbf{f}\big(\mathbf{g}(\mathbf{x})\big) = "
         r"\frac{\partial \mathbf{f}}{\partial \mathbf{g}}\,\frac{\partial \mathbf{g}}{\partial \mathbf{x}}",
         "Multiply the Jacobians, outer on the left: $(m\\times k)(k \\times n) = m \\times n$. Checked with "
         "$\\mathbf{g}: \\mathbb{R}^3 \\to \\mathbb{R}^2$ and $\\mathbf{f}: \\mathbb{R}^2 \\to \\mathbb{R}^2$.",
         {"x": 3}, lambda x: _f2to2(_g3to2(x)), "x",
         lambda x: _jac(_f2to2, 2, _g3to2(x)) * _jac(_g3to2, 3, x)),
    Rule("chain_shapes", S6, "Shapes in the chain rule",
         r"\frac{\partial f}{\partial \mathbf{x}} = \frac{\partial f}{\partial \mathbf{u}}\,"
         r"\frac{\partial \mathbf{u}}{\partial \mathbf{x}}",
         SHAPE_TABLE,
         {"x": 3}, lambda x: _f2to1(_g3to2(x))[0], "x",
         lambda x: _jac(_f2to1, 2, _g3to2(x)) * _jac(_g3to2, 3, x)),
    Rule("chain_elementwise", S6, "Chain rule through element-wise functions",
         r"\frac{\partial}{\partial \mathbf{x}}\,f\big(g(\mathbf{x})\big) = "
         r"\operatorname{diag}\big(f'(g(x_i))\,g'(x_i)\big)",
         "Products of diagonal matrices stay diagonal. Checked with $f = \\sin$, $g(t) = t^2$.",
         {"x": 3}, lambda x: ew(lambda t: sp.sin(t**2), x), "x",
         lambda x: diag([sp.cos(x[i] ** 2) * 2 * x[i] for i in range(3)])),
    Rule("pushforward", S6, "Pushforward (Jacobian–vector product)",
         r"\frac{d}{dt}\,\mathbf{f}(\mathbf{x} + t\,\mathbf{v}) = J(\mathbf{x} + t\,\mathbf{v})\,\mathbf{v}",
         "A small arrow $\\mathbf{v}$ at the input becomes the arrow $J\\mathbf{v}$ at the output.",
         {"t": None, "x": 3, "v": 3}, lambda t, x, v: _g3to2(x + t * v), "t",
         lambda t, x, v: _jac(_g3to2, 3, x + t * v) * v),
    Rule("pullback", S6, "Pullback (vector–Jacobian product)",
         r"\nabla_{\mathbf{x}}\big(\mathbf{w}^\top \mathbf{f}(\mathbf{x})\big) = J(\mathbf{x})^\top \mathbf{w}",
         "A gradient $\\mathbf{w}$ at the output pulls back to $J^\\top\\mathbf{w}$ at the input; "
         "$\\langle J\\mathbf{v}, \\mathbf{w}\\rangle = \\langle \\mathbf{v}, J^\\top\\mathbf{w}\\rangle$.",
         {"x": 3, "w": 2}, lambda x, w: w.dot(_g3to2(x)), "x", lambda x, w: _jac(_g3to2, 3, x).T * w),
    Rule("softmax", S6, "Softmax Jacobian",
         r"\mathbf{s} = \operatorname{softmax}(\mathbf{x}),\ s_i = \frac{e^{x_i}}{\sum_j e^{x_j}}:\quad "
         r"\frac{\partial \mathbf{s}}{\partial \mathbf{x}} = \operatorname{diag}(\mathbf{s}) - \mathbf{s}\,\mathbf{s}^\top",
         "Unlike an element-wise function, every output depends on every input, so the Jacobian is full.",
         {"x": 3}, lambda x: ew(sp.exp, x) / sum(ew(sp.exp, x)), "x",
         lambda x: (lambda s: diag(s) - s * s.T)(ew(sp.exp, x) / sum(ew(sp.exp, x)))),
    # --- neuron -------------------------------------------------------------------------------------
    Rule("neuron_w", S7, "Neuron activation, w.r.t. the weights",
         r"a = \max(0, \mathbf{w}\cdot\mathbf{x} + b):\quad \frac{\partial a}{\partial \mathbf{w}} = "
         r"\mathbb{1}[\mathbf{w}\cdot\mathbf{x} + b > 0]\;\mathbf{x}^\top",
         "Chain rule through $z = \\mathbf{w}\\cdot\\mathbf{x} + b$: $\\mathbb{1}[z>0]$ times "
         "$\\partial z/\\partial \\mathbf{w} = \\mathbf{x}^\\top$. Checked with $\\mathbf{x} = (1, 2)$.",
         {"w": 2, "b": None}, lambda w, b: relu(w.dot(sp.Matrix([1, 2])) + b), "w",
         lambda w, b: active(w.dot(sp.Matrix([1, 2])) + b) * sp.Matrix([1, 2]).T,
         points=({"w": [1, 1], "b": 1}, {"w": [-1, -1], "b": 1})),
    Rule("neuron_b", S7, "Neuron activation, w.r.t. the bias",
         r"\frac{\partial a}{\partial b} = \mathbb{1}[\mathbf{w}\cdot\mathbf{x} + b > 0]", "",
         {"w": 2, "b": None}, lambda w, b: relu(w.dot(sp.Matrix([1, 2])) + b), "b",
         lambda w, b: active(w.dot(sp.Matrix([1, 2])) + b),
         points=({"w": [1, 1], "b": 1}, {"w": [-1, -1], "b": 1})),
    Rule("mse_w", S7, "MSE loss, w.r.t. the weights",
         r"C = \frac{1}{N}\sum_{i=1}^{N} \big(\max(0, \mathbf{w}\cdot\mathbf{x}_i + b) - y_i\big)^2,\ \ "
         r"e_i = \mathbf{w}\cdot\mathbf{x}_i + b - y_i:\quad"
         r"\nabla_{\mathbf{w}} C = \frac{2}{N}\sum_{i=1}^{N} \mathbb{1}[\mathbf{w}\cdot\mathbf{x}_i + b > 0]"
         r"\; e_i\, \mathbf{x}_i",
         "The activity test belongs **inside** the sum: each sample is active or not on its own. Checked on "
         "a batch of four samples where some are active and some are not.",
         {"w": 2, "b": None}, mse_loss, "w", mse_grad_w, points=_NEURON_POINTS,
         errata=("001-93", "001-95")),
    Rule("mse_b", S7, "MSE loss, w.r.t. the bias",
         r"\frac{\partial C}{\partial b} = \frac{2}{N}\sum_{i=1}^{N} \mathbb{1}[\mathbf{w}\cdot\mathbf{x}_i + b > 0]\; e_i",
         "Twice the average error over all $N$ samples, where inactive samples contribute zero. It is not "
         "\"the average error\": the square brings the factor 2.",
         {"w": 2, "b": None}, mse_loss, "b", mse_grad_b, points=_NEURON_POINTS,
         errata=("001-102", "001-103", "001-104", "002-35")),
    Rule("descent", S7, "A gradient-descent step lowers the loss",
         r"\mathbf{w} \leftarrow \mathbf{w} - \eta\,\nabla_{\mathbf{w}} C:\quad "
         r"\frac{d}{d\eta}\, C\big(\mathbf{w} - \eta\,\nabla_{\mathbf{w}} C\big)\Big|_{\eta = 0} = "
         r"-\big\lVert \nabla_{\mathbf{w}} C \big\rVert^2 \le 0",
         "Training updates the **weights** $\\mathbf{w}$ (and $b$), never the input $\\mathbf{x}$: a small "
         "step against the gradient lowers the loss at rate $\\lVert\\nabla C\\rVert^2$.",
         {"eta": None, "w": 2, "b": None},
         lambda eta, w, b: mse_loss(w - eta * mse_grad_w(w, b), b), "eta",
         lambda eta, w, b: -(mse_grad_w(w, b).T * mse_grad_w(w, b))[0, 0],
         points=_NEURON_POINTS, fixed={"eta": 0},
         errata=("001-98", "002-31")),
    # --- layers and backpropagation -----------------------------------------------------------------
    Rule("dense_W", S8, "Dense layer, w.r.t. the weight matrix",
         r"\mathbf{z} = W\mathbf{x} + \mathbf{b},\ \pmb{\delta} = \nabla_{\mathbf{z}}L:\quad "
         r"\nabla_W L = \pmb{\delta}\,\mathbf{x}^\top,\quad \nabla_{\mathbf{x}}L = W^\top\pmb{\delta},"
         r"\quad \nabla_{\mathbf{b}}L = \pmb{\delta}",
         "An outer product with the shape of $W$: rows for the outputs, columns for the inputs. Checked for "
         "$W\\in\\mathbb{R}^{2\\times3}$ (flattened row by row) and $L = \\frac12\\lVert W\\mathbf{x} - \\mathbf{t}"
         "\\rVert^2$, so $\\pmb{\\delta} = W\\mathbf{x} - \\mathbf{t}$.",
         {"w": 6}, lambda w: ((w.reshape(2, 3) * _LX - _LT).T * (w.reshape(2, 3) * _LX - _LT))[0, 0] / 2, "w",
         lambda w: _rows((w.reshape(2, 3) * _LX - _LT) * _LX.T)),
    Rule("batch_W", S8, "A minibatch, w.r.t. the weights",
         r"Z = XW^\top + \mathbf{1}\mathbf{b}^\top,\ \Delta = \nabla_Z L:\quad \nabla_W L = \Delta^\top X,"
         r"\quad \nabla_X L = \Delta W",
         "Samples are the rows of $X$. For a mean loss $L = \\frac1N\\sum_i \\ell_i$ the rows of $\\Delta$ already "
         "carry the $\\frac1N$. Checked on $N = 3$ samples with $L = \\frac1N\\sum_i\\frac12\\lVert\\mathbf{z}_i - "
         "\\mathbf{t}_i\\rVert^2$.",
         {"w": 6, "b": 2}, lambda w, b: _batch_loss(_BX, w.reshape(2, 3), b), "w",
         lambda w, b: _rows(_batch_delta(_BX, w.reshape(2, 3), b).T * _BX)),
    Rule("batch_b", S8, "A minibatch, w.r.t. the bias",
         r"\nabla_{\mathbf{b}}L = \Delta^\top\mathbf{1} = \sum_{i=1}^{N}\pmb{\delta}_i",
         "The bias is shared by every sample, so the contributions of the samples add: a **sum** of the rows "
         "of $\\Delta$, not their mean (the mean's $\\frac1N$ is already inside $\\Delta$).",
         {"b": 2}, lambda b: _batch_loss(_BX, _BW, b), "b",
         lambda b: _batch_delta(_BX, _BW, b).T * sp.ones(3, 1)),
    Rule("softmax_ce", S8, "Cross-entropy of a softmax, w.r.t. the logits",
         r"\ell = -\log \operatorname{softmax}(\mathbf{z})_k = \log\textstyle\sum_j e^{z_j} - z_k:\quad "
         r"\nabla_{\mathbf{z}}\,\ell = \mathbf{s} - \mathbf{e}_k",
         "Prediction minus one-hot target. Compute it with the largest logit subtracted first (the softmax "
         "does not change), so nothing overflows. Checked for $K = 3$ classes and $k = 1$.",
         {"z": 3}, lambda z: sp.log(sum(ew(sp.exp, z))) - z[1], "z",
         lambda z: ew(sp.exp, z) / sum(ew(sp.exp, z)) - sp.Matrix([0, 1, 0])),
    Rule("fan_out", S8, "Reverse mode: contributions add where a value fans out",
         r"\bar{\mathbf{u}} = \sum_{v\ \text{child of}\ u}\Big(\frac{\partial v}{\partial u}\Big)^{\!\top}"
         r"\bar{\mathbf{v}},\qquad \mathbf{h} = \mathbf{x} + \tanh(W\mathbf{x}):\quad "
         r"\nabla_{\mathbf{x}}L = \bar{\mathbf{h}} + W^\top\big((1 - \mathbf{v}\otimes\mathbf{v})\otimes\bar{\mathbf{h}}\big)",
         "Each node's gradient is the sum of one vector–Jacobian product per edge leaving it. In a residual "
         "block $\\mathbf{x}$ reaches $\\mathbf{h}$ directly and through the layer ($\\mathbf{v} = \\tanh(W\\mathbf{x})$), "
         "so both pullbacks are added. Checked with $L = \\frac12\\lVert\\mathbf{h}\\rVert^2$ "
         "($\\bar{\\mathbf{h}} = \\mathbf{h}$) and a fixed $2\\times2$ matrix $W$.",
         {"x": 2}, lambda x: ((x + ew(sp.tanh, _RW * x)).T * (x + ew(sp.tanh, _RW * x)))[0, 0] / 2, "x",
         lambda x: (lambda v, h: h + _RW.T * (v.applyfunc(lambda t: 1 - t**2)).multiply_elementwise(h))(
             ew(sp.tanh, _RW * x), x + ew(sp.tanh, _RW * x))),
]


# ----------------------------------------------------------------------------------------------------
# checking


def make_symbols(variables: dict) -> dict:
    """Sympy symbols for each variable: a Symbol for a scalar, an n×1 Matrix of Symbols for a vector."""
    out = {}
    for name, n in variables.items():
        if n is None:
            out[name] = sp.Symbol(name, real=True)
        else:
            out[name] = sp.Matrix(sp.symbols(f"{name}_0:{n}", real=True))
    return out


def true_derivative(rule: Rule, syms: dict):
    """sympy's derivative of rule.function w.r.t. rule.wrt as a sympy Array of shape f.shape + wrt.shape."""
    f = sp.sympify(rule.function(**syms))
    v = syms[rule.wrt]
    f_vec = isinstance(f, sp.MatrixBase)
    v_vec = isinstance(v, sp.MatrixBase)
    if f_vec and v_vec:
        return sp.Array(f.jacobian(v))
    if f_vec:
        return sp.Array([e.diff(v) for e in f])
    if v_vec:
        return sp.Array([f.diff(e) for e in v])
    return sp.Array([f.diff(v)])


def _as_array(value, expected_shape: tuple):
    """The claim as a sympy Array in the course's shape; a 1×n or n×1 matrix stands for a length-n vector."""
    value = sp.sympify(value)
    if isinstance(value, sp.MatrixBase):
        rows, cols = value.shape
        if len(expected_shape) == 1 and 1 in (rows, cols):
            return sp.Array(list(value))
        return sp.Array(value)
    if isinstance(value, sp.NDimArray):
        return value
    return sp.Array([value])


def _flat(arr) -> list:
    return list(arr.reshape(len(arr))) if arr.rank() > 1 else list(arr)


def _has_undefined(expr) -> bool:
    return bool(sp.sympify(expr).atoms(sp.core.function.AppliedUndef)) if not isinstance(expr, sp.NDimArray) \
        else any(_has_undefined(e) for e in expr)


def _pin(value_for, name, value):
    def pinned(n_name, n):
        if n_name == name:
            return [sp.nsimplify(t) for t in value] if n is not None else sp.nsimplify(value)
        return value_for(n_name, n)
    return pinned


def _draw_points(rule: Rule, syms: dict, count: int, seed: int) -> list[dict]:
    """Substitution dicts: the rule's fixed points, then `count` random rational points from its domain."""
    rng = random.Random(seed)
    lo, hi = (sp.Rational(v) for v in rule.domain)
    subs_list = []

    def one(value_for):
        subs = {}
        for name, s in syms.items():
            if name in rule.fixed:
                value_for = _pin(value_for, name, rule.fixed[name])
            if isinstance(s, sp.MatrixBase):
                vals = value_for(name, len(s))
                subs.update(dict(zip(s, vals, strict=True)))
            else:
                subs[s] = value_for(name, None)
        return subs

    for p in rule.points:
        def fixed(name, n, p=p):
            if name in p:
                v = p[name]
                return [sp.nsimplify(t) for t in v] if n is not None else sp.nsimplify(v)
            return draw(name, n)
        subs_list.append(one(fixed))

    def draw_scalar():
        while True:
            v = lo + (hi - lo) * sp.Rational(rng.randint(0, 1000), 1000)
            if abs(v) >= sp.Rational(1, 4):
                return v

    def draw(name, n):
        return [draw_scalar() for _ in range(n)] if n is not None else draw_scalar()

    for _ in range(count):
        subs_list.append(one(draw))
    return subs_list


def check_rule(rule: Rule, *, count: int = 4, seed: int = 0) -> None:
    """Raise RuleError (one line) unless rule.claim equals sympy's derivative of rule.function."""
    syms = make_symbols(rule.variables)
    exact = true_derivative(rule, syms)
    claim = _as_array(rule.claim(**syms), exact.shape)
    if claim.shape != exact.shape:
        raise RuleError(f"rule {rule.key!r}: claimed derivative has shape {claim.shape}, "
                        f"the derivative has shape {exact.shape}")
    flat_exact, flat_claim = _flat(exact), _flat(claim)
    if _has_undefined(exact) or _has_undefined(claim):
        for i, (e, c) in enumerate(zip(flat_exact, flat_claim, strict=True)):
            if sp.simplify(sp.expand(e.doit() - sp.sympify(c).doit())) != 0:
                raise RuleError(f"rule {rule.key!r}: entry {i} is {c}, the derivative is {e}")
        return
    for subs in _draw_points(rule, syms, count, seed):
        for i, (e, c) in enumerate(zip(flat_exact, flat_claim, strict=True)):
            ev = complex(sp.N(sp.sympify(e).subs(subs), 30))
            cv = complex(sp.N(sp.sympify(c).subs(subs), 30))
            if abs(ev - cv) > 1e-12 * max(1.0, abs(ev)):
                at = {str(k): str(v) for k, v in subs.items()}
                raise RuleError(f"rule {rule.key!r}: entry {i} is {cv.real:.6g}, the derivative is "
                                f"{ev.real:.6g} at {at}")


SECTIONS = [S1, S2, S3, S4, S5, S6, S7, S8]
