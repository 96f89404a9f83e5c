"""Static scan of student-written cells for differentiation routines (hand-derivation exercises).

Runs in the grader's process on source text only (nothing is executed). `scan` lists the forbidden
names a cell mentions (identifier, attribute, argument or imported name; complex literals too: complex
steps give exact derivatives). `taint` then decides which answers that affects: a cell that uses a
routine taints the names it binds, an answer that reads a tainted name (transitively) is tainted, and a
cell that can bind anything (eval, globals, setattr, open, import *, inspect, ...) taints every hand
answer. So a scratch cell that tries `sp.diff` costs nothing unless an answer uses what it made.
Strings and comments are not scanned (a docstring may say "derivative"); every way to turn text into a
routine (sympify, sp.S("..."), parse_expr, getattr, eval, __import__, importlib, ...) is forbidden
itself. Cells that do not parse are scanned token by token and taint everything.
Limit: a derivative computed by hand-written finite differences or complex steps on a re-typed copy of
the function cannot be told from a formula by reading the code; the exactness tolerance stops plain
finite differences, not high-order stencils (see AUTHORING.md).
"""
from __future__ import annotations

import ast
import io
import re
import tokenize

FORBIDDEN = frozenset({
    # differentiation routines
    "diff", "Derivative", "derivative", "jacobian", "gradient", "grad", "hessian",
    "approx_derivative", "approx_fprime", "check_grad", "idiff", "differentiate", "fdiff",
    "numdifftools", "jax", "torch", "autograd", "tensorflow", "finite_diff", "finite_diff_weights",
    "directional_derivative", "lambdify", "limit", "series", "mpmath",
    # text that sympy turns into a routine: sympify("diff(...)")
    "sympify", "parse_expr", "parse_latex", "sympy_parser",
    # complex steps
    "complex", "imag", "emath", "scimath", "complex128", "complex64", "complexfloating", "csingle",
    "cdouble", "iscomplex",
    # ways to hide a name
    "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "importlib", "modules", "__dict__", "__builtins__", "builtins", "attrgetter",
    "methodcaller", "__getattribute__", "__code__", "pickle", "marshal", "runpy", "subprocess",
    "ctypes", "get_ipython", "run_line_magic", "run_cell_magic",
    "inspect", "pkgutil", "resolve_name", "__globals__", "__subclasses__", "__closure__", "open",
    # reaching the grader's own objects in the sandbox (its channel, frames)
    "gc", "get_objects", "get_referrers", "_getframe", "currentframe", "f_globals", "f_locals", "f_back",
})
# Builtins that are only dangerous as bare names: `re.compile` or `file.open` as attributes are fine
# (the module that would reach the builtin, `builtins`, is itself forbidden).
NAME_ONLY = frozenset({"compile", "eval", "exec", "vars", "globals", "locals", "getattr", "setattr",
                       "delattr", "open", "complex"})
FORBIDDEN_PREFIXES = ("numerical_", "check_", "approx_")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_forbidden(name: str) -> bool:
    return name in FORBIDDEN or name.startswith(FORBIDDEN_PREFIXES)


def scan(source: str) -> list[str]:
    """Forbidden names (and "complex literal") found in one cell's source, in order of appearance."""
    found: list[str] = []

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    for line in source.splitlines():  # magics and shell escapes: any word counts
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            for w in _WORD.findall(stripped):
                if is_forbidden(w):
                    add(w)
    try:
        tree = ast.parse(_python_only(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _scan_tokens(source, found)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and is_forbidden(node.id):
            add(node.id)
        elif isinstance(node, ast.Attribute) and is_forbidden(node.attr) and node.attr not in NAME_ONLY:
            add(node.attr)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "S"
              and any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            add("S")  # sp.S("...") parses text like sympify
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [a.asname or "" for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            if any(a.name == "*" for a in node.names):
                add("import *")
            for n in names:
                for part in n.split("."):
                    if is_forbidden(part):
                        add(part)
        elif isinstance(node, ast.Constant) and isinstance(node.value, complex):
            add("complex literal")
        elif isinstance(node, _DEFS) and is_forbidden(node.name):
            add(node.name)
        elif isinstance(node, ast.arg) and is_forbidden(node.arg):
            add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg and is_forbidden(node.arg):
            add(node.arg)
    return found


def _python_only(source: str) -> str:
    lines = source.splitlines()
    return "\n".join("pass  # " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def _scan_tokens(source: str, found: list[str]) -> list[str]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        words = []
        for tok in tokens:
            if tok.type == tokenize.NAME:
                words.append(tok.string)
            elif tok.type == tokenize.NUMBER and tok.string.lower().endswith("j"):
                if "complex literal" not in found:
                    found.append("complex literal")
    except (tokenize.TokenError, SyntaxError, IndentationError):
        words = _WORD.findall(source)
        if re.search(r"\b\d+(\.\d*)?[jJ]\b", source) and "complex literal" not in found:
            found.append("complex literal")
    for w in words:
        if is_forbidden(w) and w not in found:
            found.append(w)
    return found


# Names that can bind or reach anything (a cell using one may define any name): such a cell taints
# every hand exercise, not just the names it visibly binds.
HIDING = frozenset({"gc", "get_objects", "get_referrers", "_getframe", "currentframe", "f_globals",
                    "f_locals", "f_back", "import *", "inspect", "pkgutil", "resolve_name", "__globals__", "__subclasses__",
                    "__closure__", "open", "sympify", "parse_expr", "parse_latex", "sympy_parser", "S",
    "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "importlib", "modules", "__dict__", "__builtins__", "builtins", "attrgetter",
    "methodcaller", "__getattribute__", "__code__", "pickle", "marshal", "runpy", "subprocess",
    "ctypes", "get_ipython", "run_line_magic", "run_cell_magic",
})


def _bound_and_used(source: str) -> tuple[set[str], set[str]] | None:
    """Names a cell binds (assignments, defs, imports, attribute stores) and names it reads
    (Name loads and attribute names); None when the cell does not parse."""
    try:
        tree = ast.parse(_python_only(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, ast.Attribute):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.attr)
        elif isinstance(node, _DEFS):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound, used


def taint(cells: list[tuple[int, str]]) -> tuple[dict[int, str], str | None]:
    """Which student-written cells depend on a forbidden routine.

    `cells`: (cell number, source) of the student-written code cells. Returns (`dirty`, `everything`):
    `dirty` maps a cell number to the reason it is tainted (it uses a forbidden name itself, or reads a
    name bound by a tainted cell, transitively); `everything` is a reason when some tainted cell can
    bind arbitrary names (eval, globals, setattr, ...) or does not parse, so every answer is tainted.
    Order in the notebook is ignored: a name once bound by a tainted cell stays tainted (conservative).
    """
    info = {n: _bound_and_used(src) for n, src in cells}
    dirty: dict[int, str] = {}
    everything = None
    for n, src in cells:
        hits = scan(src)
        if hits:
            dirty[n] = f"cell {n} uses `{hits[0]}`"
            if info[n] is None or any(h in HIDING for h in hits):
                everything = everything or dirty[n]
    tainted: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for n, _ in cells:
            if n in dirty and info[n] is not None:
                for name in info[n][0]:
                    if name not in tainted:
                        tainted[name] = dirty[n]
                        changed = True
        for n, _ in cells:
            if n in dirty or info[n] is None:
                continue
            hit = next((name for name in sorted(info[n][1]) if name in tainted), None)
            if hit is not None:
                dirty[n] = f"cell {n} uses `{hit}`, which depends on a differentiation routine ({tainted[hit]})"
                changed = True
    return dirty, everything


def answer_taint(answer_cells: list[int], answer_name: str, cells: list[tuple[int, str]],
                 dirty: dict[int, str], everything: str | None) -> str | None:
    """Why an exercise's answer is tainted, or None. `answer_cells`: numbers of its answer cell(s);
    when it has none (deleted), every student cell that binds `answer_name` counts as one."""
    if everything:
        return everything
    if not answer_cells:
        answer_cells = [n for n, src in cells if (bu := _bound_and_used(src)) is not None and answer_name in bu[0]]
    for n in answer_cells:
        if n in dirty:
            return dirty[n]
    return None
