"""A safe parser from text to sympy: ``parse_expression(text, symbols=None)``.

The text is parsed by Python's ``ast`` and the tree is rebuilt node by node into sympy objects;
nothing is ever passed to eval, exec or sympify. Allowed: numbers, names, + - * / ** unary ± ,
comparisons, and/or/not (& | ~), calls to the functions in ``FUNCTIONS`` with positional
arguments, lists/tuples (for Matrix and Piecewise; a top-level list becomes a Matrix). Unknown
names become Symbols. Limits: ``MAX_LENGTH`` characters, ``MAX_DEPTH`` levels of nesting, numeric
exponents up to ``MAX_EXPONENT`` in size, integers up to ``MAX_INT_BITS`` bits, ``MAX_MATRIX`` matrix
entries, ``PARSE_TIMEOUT`` seconds to build; fractional powers of integers over
``MAX_EXACT_ROOT_BITS`` bits stay unevaluated (simplifying them means factoring). Anything else
raises ValueError with a one-line reason. ``str(expr)`` of sympy's output parses back (except
symbols named like Python keywords).
"""

from __future__ import annotations

import ast
import re
import threading

import sympy

from .timelimit import call_with_timeout

MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_EXPONENT = 1000
MAX_INT_BITS = 100_000
MAX_MATRIX = 10_000
MAX_ARGS = 200
MAX_EXACT_ROOT_BITS = 256  # larger integers are not factored to simplify fractional powers
PARSE_TIMEOUT = 2.0
SHORT = 300  # characters: outside the main thread, shorter texts are built without a (forked) limit

FUNCTIONS = {
    name: getattr(sympy, name)
    for name in (
        "sin cos tan cot sec csc asin acos atan acot asec acsc atan2 sinh cosh tanh coth sech csch "
        "asinh acosh atanh acoth exp log sqrt cbrt Abs sign Max Min Heaviside DiracDelta Piecewise "
        "floor ceiling re im conjugate erf Rational Integer Float Eq Ne Lt Le Gt Ge And Or Not"
    ).split()
}
FUNCTIONS.update({"ln": sympy.log, "abs": sympy.Abs, "max": sympy.Max, "min": sympy.Min,
                  "Matrix": None, "ImmutableMatrix": None, "ImmutableDenseMatrix": None})
CONSTANTS = {"E": sympy.E, "pi": sympy.pi, "oo": sympy.oo, "zoo": sympy.zoo, "nan": sympy.nan,
             "I": sympy.I, "True": sympy.true, "False": sympy.false}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge,
            ast.Eq: sympy.Eq, ast.NotEq: sympy.Ne}


def parse_expression(text, symbols=None, *, timeout: float = PARSE_TIMEOUT):
    """Parse ``text`` (a string, a number or a sympy object) into a sympy expression or Matrix.

    symbols: optional names to use for given identifiers: a dict name -> sympy object, an iterable
    of Symbols or names, or a space-separated string. Other names become plain Symbols.
    timeout: seconds allowed to build the sympy object (sympy evaluates as it builds).
    Raises ValueError with a one-line reason when the text is not an allowed expression.
    """
    if isinstance(text, sympy.MatrixBase):
        return sympy.Matrix(text)
    if isinstance(text, sympy.Basic):
        return text
    if isinstance(text, bool):
        return sympy.true if text else sympy.false
    if isinstance(text, int | float):
        return sympy.Integer(text) if isinstance(text, int) else sympy.Float(text)
    if not isinstance(text, str):
        raise ValueError(f"expected a string or a sympy expression, got {type(text).__name__}")
    source = text.strip()
    if not source:
        raise ValueError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ValueError(f"the expression is too long ({len(source)} characters; the limit is {MAX_LENGTH})")
    _check_brackets(source)
    if "^" in source:
        raise ValueError("'^' is not a power in Python: write x**2, not x^2")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else "it is too long or too deeply nested"
        raise ValueError(f"not a valid expression: {msg}") from None
    builder = _Builder(_symbol_table(symbols), source)
    try:
        if len(source) <= SHORT and threading.current_thread() is not threading.main_thread():
            finished, result = True, builder.build(tree.body, 0)  # short: cheap, spare the fork
        else:
            finished, result = call_with_timeout(builder.build, timeout, tree.body, 0)
        if not finished:
            raise ValueError(f"the expression takes too long to build (over {timeout:.3g} s)")
    except ValueError:
        raise
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:
        raise ValueError(f"could not build the expression: {type(exc).__name__}: {_one_line(exc)}") from None
    if isinstance(result, list | tuple):
        result = builder.matrix(result)
    if not isinstance(result, sympy.Basic | sympy.MatrixBase):
        raise ValueError(f"not an expression: {type(result).__name__}")
    return result


def _one_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _check_brackets(source: str) -> None:
    depth = 0
    for ch in source:
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"the expression is nested too deeply (more than {MAX_DEPTH} brackets)")
        elif ch in ")]}":
            depth -= 1


def _symbol_table(symbols) -> dict:
    if symbols is None:
        return {}
    if isinstance(symbols, str):
        symbols = symbols.replace(",", " ").split()
    if isinstance(symbols, dict):
        return {str(k): v for k, v in symbols.items()}
    table = {}
    for s in symbols:
        sym = sympy.Symbol(s) if isinstance(s, str) else s
        table[str(sym)] = sym
    return table


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Builder:
    def __init__(self, symbols: dict, source: str):
        self.symbols = symbols
        self.source = source

    def build(self, node, depth):
        if depth > MAX_DEPTH:
            raise ValueError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ValueError(f"{_describe(node)} is not allowed in an expression")
        return method(node, depth + 1)

    # leaves -------------------------------------------------------------------------------
    def _Constant(self, node, depth):
        value = node.value
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise ValueError("an integer in the expression is too large")
            return sympy.Integer(value)
        if isinstance(value, float):
            text = ast.get_source_segment(self.source, node) or repr(value)
            try:
                return sympy.Float(text.replace("_", ""))
            except TimeoutError:  # an outer time limit must still fire
                raise
            except Exception:
                return sympy.Float(value)
        if isinstance(value, complex):
            return sympy.Float(value.real) + sympy.Float(value.imag) * sympy.I
        raise ValueError(f"{type(value).__name__} constants ({_short(repr(value))}) are not allowed")

    def _Name(self, node, depth):
        name = node.id
        if name in self.symbols:
            return self.symbols[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ValueError(f"{name} is a function: call it, e.g. {name}(x)")
        if not _NAME.match(name):
            raise ValueError(f"the name {name!r} is not allowed (names start with a letter)")
        return sympy.Symbol(name)

    # operators ----------------------------------------------------------------------------
    def _BinOp(self, node, depth):
        if isinstance(node.op, ast.BitXor):
            raise ValueError("'^' is not a power in Python: write x**2, not x^2")
        if isinstance(node.op, ast.BitAnd | ast.BitOr):
            left, right = self.build(node.left, depth), self.build(node.right, depth)
            return sympy.And(left, right) if isinstance(node.op, ast.BitAnd) else sympy.Or(left, right)
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ValueError(f"the operator {type(node.op).__name__} is not allowed (use + - * / **)")
        if op in "+-*/":
            return self._chain(node, depth)
        left, right = self.build(node.left, depth), self.build(node.right, depth)
        for side in (left, right):
            if isinstance(side, list | tuple):
                raise ValueError("arithmetic on a list is not allowed: wrap it in Matrix(...)")
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return left / right
        return self._power(left, right)

    def _chain(self, node, depth):
        """A left-leaning chain a + b - c + ... (or a * b / c ...) built as one sum (product), so a
        long sum costs no nesting depth and no quadratic re-flattening."""
        family = (ast.Add, ast.Sub) if isinstance(node.op, ast.Add | ast.Sub) else (ast.Mult, ast.Div)
        links = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, family):
            links.append((type(node.op), node.right))
            node = node.left
        operands = [(None, self.build(node, depth))]
        operands += [(op, self.build(right, depth)) for op, right in reversed(links)]
        values = [v for _, v in operands]
        if any(isinstance(v, list | tuple) for v in values):
            raise ValueError("arithmetic on a list is not allowed: wrap it in Matrix(...)")
        if all(isinstance(v, sympy.Expr) for v in values):
            if family[0] is ast.Add:
                return sympy.Add(*[v if op is not ast.Sub else -v for op, v in operands])
            return sympy.Mul(*[v if op is not ast.Div else sympy.Pow(v, -1) for op, v in operands])
        result = values[0]  # matrices (or booleans, which sympy rejects with its own message)
        for op, v in operands[1:]:
            result = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                      ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}[op](result, v)
        return result

    def _power(self, base, exponent):
        if isinstance(exponent, sympy.Basic) and exponent.is_Number:
            if exponent.is_finite is not False and abs(exponent) > MAX_EXPONENT:
                raise ValueError(f"the exponent {_short(str(exponent))} is too large "
                                 f"(the limit is {MAX_EXPONENT})")
            if isinstance(base, sympy.Basic) and base.is_Rational and exponent.is_Rational:
                bits = max(abs(base.p).bit_length(), abs(base.q).bit_length())
                if bits * abs(exponent) > MAX_INT_BITS:
                    raise ValueError("the power is too large to compute")
                if not exponent.is_Integer and bits > MAX_EXACT_ROOT_BITS:
                    return sympy.Pow(base, exponent, evaluate=False)  # no factoring of huge integers
        return base ** exponent

    def _UnaryOp(self, node, depth):
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not | ast.Invert):
            return sympy.Not(operand)
        raise ValueError(f"the operator {type(node.op).__name__} is not allowed")

    def _BoolOp(self, node, depth):
        values = [self.build(v, depth) for v in node.values]
        return sympy.And(*values) if isinstance(node.op, ast.And) else sympy.Or(*values)

    def _Compare(self, node, depth):
        left = self.build(node.left, depth)
        parts = []
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.build(comp, depth)
            rel = _COMPARE.get(type(op))
            if rel is None:
                raise ValueError(f"the comparison {type(op).__name__} is not allowed")
            parts.append(rel(left, right))
            left = right
        return parts[0] if len(parts) == 1 else sympy.And(*parts)

    # calls and containers -----------------------------------------------------------------
    def _Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise ValueError(f"only named functions may be called, not {_describe(node.func)}")
        name = node.func.id
        if name not in FUNCTIONS:
            raise ValueError(f"the function {name!r} is not allowed (allowed are sympy's elementary "
                             "functions such as sin, exp, log, sqrt, Abs, Piecewise, Matrix)")
        if node.keywords:
            raise ValueError(f"keyword arguments are not allowed (in {name}(...))")
        if len(node.args) > MAX_ARGS:
            raise ValueError(f"too many arguments to {name}")
        args = [self.build(a, depth) for a in node.args]
        if FUNCTIONS[name] is None:  # Matrix
            if len(args) != 1 or not isinstance(args[0], list | tuple):
                raise ValueError("write a matrix as Matrix([[a, b], [c, d]]) (one list argument)")
            return self.matrix(args[0])
        if name == "Piecewise":
            for piece in args:
                if not (isinstance(piece, tuple | list) and len(piece) == 2):
                    raise ValueError("Piecewise takes (value, condition) pairs")
            args = [tuple(p) for p in args]
        elif any(isinstance(a, list | tuple) for a in args):
            raise ValueError(f"{name} does not take a list argument")
        if name in ("Integer", "Float", "Rational") and not all(
                isinstance(a, sympy.Basic) and a.is_Number for a in args):
            raise ValueError(f"{name}(...) takes numbers")
        if name in ("sqrt", "cbrt") and len(args) == 1:
            return self._power(args[0], sympy.Rational(1, 2 if name == "sqrt" else 3))
        return FUNCTIONS[name](*args)

    def _List(self, node, depth):
        if len(node.elts) > MAX_MATRIX:
            raise ValueError("the list is too long")
        return [self.build(e, depth) for e in node.elts]

    def _Tuple(self, node, depth):
        return tuple(self._List(node, depth))

    def matrix(self, rows):
        rows = list(rows)
        if rows and all(isinstance(r, list | tuple) for r in rows):
            width = len(rows[0])
            if any(len(r) != width for r in rows):
                raise ValueError("the rows of the matrix have different lengths")
            if len(rows) * width > MAX_MATRIX:
                raise ValueError("the matrix is too large")
            cells = [list(r) for r in rows]
        elif any(isinstance(r, list | tuple) for r in rows):
            raise ValueError("mix of numbers and lists in a matrix")
        else:
            cells = rows
        for cell in (c for row in cells for c in (row if isinstance(row, list) else [row])):
            if isinstance(cell, list | tuple) or not isinstance(cell, sympy.Expr):
                raise ValueError("matrix entries must be expressions")
        return sympy.Matrix(cells)


def _describe(node) -> str:
    names = {"Attribute": "attribute access (a.b)", "Subscript": "indexing (a[i])", "Lambda": "a lambda",
             "NamedExpr": "assignment (:=)", "Starred": "unpacking (*)", "JoinedStr": "an f-string",
             "ListComp": "a comprehension", "GeneratorExp": "a generator", "DictComp": "a comprehension",
             "SetComp": "a comprehension", "Dict": "a dict", "Set": "a set", "IfExp": "a conditional (a if c "
             "else b; use Piecewise)", "Await": "await", "Yield": "yield", "Slice": "slicing"}
    return names.get(type(node).__name__, type(node).__name__)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
