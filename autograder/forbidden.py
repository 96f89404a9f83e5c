"""Static scan of student-written cells for differentiation routines (hand-derivation exercises).

Runs in the grader's process on source text only (nothing is executed). `scan` lists the forbidden
names a cell mentions (identifier, attribute, argument or imported name; complex literals too: complex
steps give exact derivatives). `taint` then decides which answers that affects: a cell that uses a
routine taints the names it binds, an answer that reads a tainted name (transitively) is tainted, and a
cell that can bind anything (eval, globals, setattr, open, import *, inspect, ...) taints every hand
answer. So a scratch cell that tries `sp.diff` costs nothing unless an answer uses what it made.
Strings and comments are not scanned (a docstring may say "derivative"); every way to turn text into a
routine (sympify, S(text), parse_expr, getattr, eval, __import__, importlib, timeit, cProfile, shell
commands, a module the notebook wrote, ...) is forbidden itself, and sympy functions that parse text on
their own (sp.expand("...")) are guarded at run time (autograder.runner.guard_text_parsing). Cells are
read as IPython runs them: `!cmd`, `x = !cmd` and magics are calls; harmless magics are dropped and the
code of %time/%timeit/%%capture is scanned as code. Cells that do not parse are scanned token by token.
`target_taint` (separate) finds answers computed from sampled values of the function they differentiate.
Limit: a derivative computed by hand-written finite differences or complex steps on a re-typed copy of
the function cannot be told from a formula by reading the code; the exactness tolerance stops plain
finite differences, not high-order stencils (see AUTHORING.md).
"""
from __future__ import annotations

import ast
import functools
import io
import re
import tokenize

# Names that can bind or reach anything: a tainted statement using one may define any name, so it
# taints every hand exercise, not just the names it visibly binds.
HIDING_NAMES = frozenset({
    # text that sympy turns into a routine: sympify("diff(...)"); parsers of other languages (D[...])
    "sympify", "parse_expr", "parse_latex", "sympy_parser", "parsing", "parse_mathematica", "parse_maxima",
    "mathematica",
    # ways to hide a name
    "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "importlib", "modules", "__dict__", "__builtins__", "builtins", "attrgetter",
    "methodcaller", "__getattribute__", "__code__", "pickle", "marshal", "runpy", "subprocess",
    "ctypes", "get_ipython", "run_line_magic", "run_cell_magic",
    "inspect", "pkgutil", "resolve_name", "__globals__", "__subclasses__", "__closure__", "open",
    # reaching the grader's own objects in the sandbox (its channel, frames)
    "gc", "get_objects", "get_referrers", "_getframe", "currentframe", "f_globals", "f_locals", "f_back",
    # running text as code, or another program: the text is not scanned (strings never are)
    "timeit", "cProfile", "profile", "runctx", "pdb", "bdb", "doctest", "run_docstring_examples",
    "InteractiveInterpreter", "InteractiveConsole", "runsource", "runcode", "compile_command",
    "get_type_hints", "ForwardRef", "_evaluate", "singledispatch", "singledispatchmethod",
    "get_field", "Formatter", "pydoc", "locate", "breakpoint",
    "system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
    "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn",
    "posix_spawnp", "create_subprocess_shell", "create_subprocess_exec", "pty",
    # the grader's own modules in the sandbox (patching autograder.runner disables the tripwire), and other
    # ways to frames, the builtins module and loaders: print.__self__ is `builtins`, a traceback's frame
    # has f_builtins (__import__ ...)
    "autograder", "__self__", "__loader__", "__spec__", "f_builtins", "f_code", "tb_frame", "tb_next",
    "__traceback__", "gi_frame", "cr_frame", "ag_frame", "exc_info", "last_traceback", "_current_frames",
    "settrace", "setprofile", "addaudithook",
    # IPython escapes that run other code (see _parse): any magic but the harmless ones, shell commands;
    # importing a module that is not installed (one the notebook wrote)
    "%magic", "!shell", "import of a module the notebook wrote",
})
HIDING = HIDING_NAMES | {"S", "import *"}  # S("...") and `import *` are flagged by form, not by name
FORBIDDEN = HIDING_NAMES | frozenset({
    # differentiation routines
    "diff", "Derivative", "derivative", "jacobian", "gradient", "grad", "hessian",
    "approx_derivative", "approx_fprime", "check_grad", "idiff", "differentiate", "fdiff",
    "numdifftools", "jax", "torch", "autograd", "tensorflow", "finite_diff", "finite_diff_weights",
    "directional_derivative", "lambdify", "limit", "series", "mpmath",
    # complex steps
    "complex", "imag", "emath", "scimath", "complex128", "complex64", "complexfloating", "csingle",
    "cdouble", "iscomplex",
    # differentiation under other names: sympy (arrays, Wronskian, residues, series terms, leading terms,
    # polynomial internals, vector calculus), numpy polynomial classes, scipy splines/interpolators
    # (s(x, 1) is a derivative)
    "derive_by_array", "wronskian", "residue", "fps", "nseries", "lseries", "aseries", "taylor_term",
    "as_leading_term", "leadterm", "compute_leading_term", "dup_diff", "dmp_diff", "gf_diff", "rs_diff",
    "euler_equations", "Del", "Limit", "limit_seq", "gruntz", "differentiate_finite", "as_finite_difference",
    "apply_finite_diff", "difference_delta", "polyder", "deriv", "chebder", "legder", "hermder", "hermeder", "lagder",
    "splder", "splev", "splrep", "interpolate", "CubicSpline", "BSpline", "Akima1DInterpolator",
    "PchipInterpolator", "CubicHermiteSpline", "make_interp_spline", "UnivariateSpline",
    "InterpolatedUnivariateSpline", "KroghInterpolator", "krogh_interpolate", "BarycentricInterpolator",
    "approximate_taylor_polynomial", "central_diff_weights",
    # a copy of the target function that its tripwire does not reach (dis.Bytecode(h).codeobj)
    "dis", "Bytecode", "codeobj", "FunctionType", "LambdaType", "CodeType",
})
# Builtins that are only dangerous as bare names: `re.compile` or `file.open` as attributes are fine
# (the module that would reach the builtin, `builtins`, is itself forbidden).
NAME_ONLY = frozenset({"compile", "eval", "exec", "vars", "globals", "locals", "getattr", "setattr",
                       "delattr", "open", "complex"})
# Names students may well give their own variables (deriv, residue, profile ...): flagged as attributes and
# in imports only (`np.poly1d(c).deriv()`, `from scipy import interpolate`), not as bare names.
ATTR_ONLY = frozenset({"deriv", "residue", "system", "profile", "locate", "dis", "parsing", "interpolate",
                       "codeobj", "fps"})
FORBIDDEN_PREFIXES = ("numerical_", "check_", "approx_")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_forbidden(name: str) -> bool:
    return name in FORBIDDEN or name.startswith(FORBIDDEN_PREFIXES)


def scan(source: str, protected: frozenset[str] = frozenset()) -> list[str]:
    """Forbidden names (and "complex literal") found in one cell's source, in order of appearance.

    A name the student binds to their own value is not a routine: `grad = W.T @ v` and its later
    reads, a local variable, parameter or nested function named `gradient` inside a function, a
    comprehension variable (see _own_bindings). `protected`: names bound outside the student's cells
    (the lesson's imports), which are never taken as the student's own."""
    found: list[str] = []

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    for line in source.splitlines():  # magics and shell escapes: any word counts (not a safe magic's name)
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            words = _WORD.findall(stripped)
            if stripped.startswith("%") and words and words[0] in QUIET_MAGICS | CODE_MAGICS:
                words = words[1:]
            for w in words:
                if is_forbidden(w):
                    add(w)
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _scan_tokens(source, found)
    for name in _scan_node(tree, _own_bindings(tree, protected)):
        add(name)
    return found


def _never_own(name: str) -> bool:
    import builtins

    return (name in HIDING or name in NAME_ONLY or hasattr(builtins, name)
            or name.startswith("__") or name in ("get_ipython", "In", "Out"))


def _own_bindings(tree: ast.Module, protected: frozenset[str]) -> set[int]:
    """ids of nodes naming a forbidden word that is the student's own variable, not a routine:
    - any binding of it (an assignment target, a def's or parameter's name): binding a name reaches nothing;
    - a read inside a function (or lambda, comprehension) where Python makes the name local (bound in
      that scope and not declared global/nonlocal), so the read can only see the student's value;
    - a read after an earlier top-level statement of the same cell bound it unconditionally (plain
      assignment, def, class), including reads inside functions defined after that statement.
    Never for hiding names, builtins or dunders; `protected` names (bound at top level by lesson cells)
    only as locals."""
    own: set[int] = set()

    def scope_locals(node) -> set[str]:
        names, declared = set(), set()
        args = node.args if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else None
        if args is not None:
            names.update(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)
            names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
            body = node.body if isinstance(node.body, list) else [node.body]
        else:  # comprehension: its targets
            body = []
            for gen in node.generators:
                names.update(n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name))
        stack = list(body)
        while stack:
            n = stack.pop()
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                declared.update(n.names)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                names.add(n.id)
            elif isinstance(n, _DEFS):
                names.add(n.name)
                continue  # a nested scope
            elif isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                continue
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in n.names)
            stack.extend(ast.iter_child_nodes(n))
        return names - declared

    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

    def visit(node, local: set[str], earlier: set[str]) -> None:
        """Mark `node` and what it contains; a new scope's body is visited with that scope's locals,
        the parts Python evaluates in the enclosing scope (decorators, defaults, annotations, a
        comprehension's first iterable) with the enclosing one's."""
        if isinstance(node, functions + comprehensions):
            inner = scope_locals(node)
            if isinstance(node, functions):
                args = node.args
                outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
                outer += [a.annotation for a in ast.walk(args) if isinstance(a, ast.arg) and a.annotation]
                own.update(id(a) for a in ast.walk(args) if isinstance(a, ast.arg))
                if not isinstance(node, ast.Lambda):
                    own.add(id(node))
                    outer += [*node.decorator_list, *([node.returns] if node.returns else [])]
                body, inner_local = (node.body if isinstance(node.body, list) else [node.body]), inner
            else:
                first = node.generators[0]
                outer = [first.iter]
                body = [first.target, *first.ifs, *node.generators[1:]]
                body += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                inner_local = local | inner
            for part in outer:
                visit(part, local, earlier)
            for part in body:
                visit(part, inner_local, earlier - inner)
            return
        if isinstance(node, ast.ClassDef):
            own.add(id(node))
        if isinstance(node, ast.Name) and not _never_own(node.id):
            # a local name is the student's whatever the lesson bound; an earlier top-level binding
            # only if the lesson does not bind the name too (belt and braces)
            if isinstance(node.ctx, (ast.Store, ast.Del)) or node.id in local or (
                    node.id in earlier and node.id not in protected):
                own.add(id(node))
        for child in ast.iter_child_nodes(node):
            visit(child, local, earlier)

    earlier: set[str] = set()
    for stmt in tree.body:
        visit(stmt, set(), set(earlier))
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and getattr(stmt, "value", None) is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            earlier.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(stmt, _DEFS):
            earlier.add(stmt.name)
        elif isinstance(stmt, ast.Delete):  # `del grad` brings back whatever grad was before
            earlier.difference_update(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return own - _never_own_ids(tree)


def top_level_bindings(source: str) -> set[str]:
    """Names a cell binds in the notebook's global namespace: top-level assignments, loop and with
    targets, defs, classes, imports, and names its functions declare global (not their locals)."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, _DEFS + (ast.Lambda,)):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            stack.extend(n for n in ast.walk(node) if isinstance(n, ast.Global))  # only their globals
            continue
        stack.extend(ast.iter_child_nodes(node))
    return names


def _never_own_ids(tree: ast.Module) -> set[int]:
    """ids of defs, parameters and names that may never be taken as the student's own (_never_own)."""
    out = set()
    for node in ast.walk(tree):
        name = (node.id if isinstance(node, ast.Name) else node.name if isinstance(node, _DEFS)
                else node.arg if isinstance(node, ast.arg) else None)
        if name is not None and _never_own(name):
            out.add(id(node))
    return out


def _installed(top: str) -> bool:
    """Whether a top-level module exists in the grader's installation (a module the notebook wrote into
    its folder does not: its text, never scanned, could hold anything)."""
    import importlib.util
    import sys

    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError, AttributeError):
        return False


def _callee(func) -> str | None:
    return func.id if isinstance(func, ast.Name) else (func.attr if isinstance(func, ast.Attribute) else None)


def _is_number(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


# magics that run no other code (dropped) and those whose argument or body is plain Python (inlined, then
# scanned like any code); every other magic and every shell escape is "%magic" / "!shell" (HIDING)
QUIET_MAGICS = frozenset({"matplotlib", "precision", "pprint", "who", "whos", "who_ls"})
CODE_MAGICS = frozenset({"time", "timeit", "capture"})


def _parse(source: str) -> ast.Module:
    """The cell as IPython runs it (magics, `!cmd` and `x = !cmd` turned into calls), with harmless magics
    dropped and the code of %time/%timeit/%%capture inlined. Raises SyntaxError (or ValueError ...)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        text = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001  (no IPython, or a cell it cannot transform)
        return ast.parse(_python_only(source))
    return _Magics().visit(ast.parse(text))


class _Magics(ast.NodeTransformer):
    """Rewrites get_ipython().run_line_magic/run_cell_magic/system/getoutput calls (see _parse)."""

    def visit_Expr(self, node):
        call = node.value
        info = _ipython_call(call)
        if info is None:
            return self.generic_visit(node)
        kind, name, texts = info
        if kind == "magic" and name in QUIET_MAGICS:
            return ast.Pass()
        if kind == "magic" and name in CODE_MAGICS:
            body = []
            for text in texts:
                try:
                    body += self.visit(ast.parse(_strip_options(text))).body
                except (SyntaxError, ValueError):
                    return self.generic_visit(node)
            return ast.If(test=ast.Constant(True), body=body or [ast.Pass()], orelse=[])
        return self.generic_visit(node)

    def visit_Call(self, node):
        info = _ipython_call(node)
        if info is not None:
            mark = "!shell" if info[0] == "shell" else "%magic"
            return ast.Call(func=ast.Name(id=mark, ctx=ast.Load()), args=[], keywords=[])
        return self.generic_visit(node)


def _ipython_call(call):
    """("magic", name, [code texts]) or ("shell", ...) for get_ipython().<run_*_magic|system|getoutput>(...)."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Call) and _callee(call.func.value.func) == "get_ipython"):
        return None
    what = call.func.attr
    consts = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in call.args]
    if what in ("system", "getoutput"):
        return "shell", None, []
    if what == "run_line_magic" and len(consts) == 2 and None not in consts:
        return "magic", consts[0], [consts[1]]
    if what == "run_cell_magic" and len(consts) == 3 and None not in consts:
        return "magic", consts[0], [consts[2]]
    return None


def _strip_options(text: str) -> str:
    """`-n1 -r3 stmt` -> `stmt` (options of %timeit / %%capture)."""
    words = text.split(" ")
    while words and words[0].startswith("-"):
        words.pop(0)
    return " ".join(words)


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




def taint(cells: list[tuple[int, str]], protected: frozenset[str] = frozenset()) -> tuple[dict[int, str], str | None]:
    """Which student-written cells depend on a forbidden routine.

    `cells`: (cell number, source) of the student-written code cells; `protected`: names the lesson
    cells bind. Returns (`dirty`, `everything`): `dirty` maps a cell number to the reason one of its
    statements is tainted; `everything` is a reason when some tainted cell can bind arbitrary names
    (eval, globals, setattr, ...) or does not parse, so every answer is tainted. Which NAMES are
    tainted is `tainted_names` (what answer_taint uses)."""
    analysis = _analyse(tuple(cells), frozenset(protected))
    return dict(analysis[1]), analysis[2]


def tainted_names(cells: list[tuple[int, str]], protected: frozenset[str] = frozenset()) -> dict[str, str]:
    """{name: reason} for every name whose value may come from a forbidden routine (see _analyse)."""
    return dict(_analyse(tuple(cells), frozenset(protected))[0])


@functools.lru_cache(maxsize=16)
def _analyse(cells: tuple, protected: frozenset[str]):
    """(tainted names, dirty cells, everything), statement by statement.

    A top-level statement that uses a forbidden name is tainted; it taints the names it binds or
    fills (assignment targets, the object under an item/attribute store, the object of a mutating
    method, np.copyto's first argument, an `out=` array) and, through aliasing (`a = b`, `a = b[...]`,
    `a = b.T`, `a = b.reshape(...)`), the names that share an object with those it filled. Any statement
    that reads a tainted name is tainted in turn. Because a function can change globals when called
    (`global`, item stores, mutating methods on outer names), everything any student function can
    change is tainted as soon as any statement is. A statement that binds nothing taints nothing, so
    `check_gradient(q, dq_dx, x0).assert_ok()` after a hand answer costs nothing. Order in the notebook is
    ignored (conservative). A cell that does not parse, or a tainted statement using a name that can bind
    anything (HIDING), taints every answer."""
    statements = []  # (cell, hits, bound, used)
    effects: set[str] = set()
    aliases: dict[str, set[str]] = {}
    everything = None
    dirty: dict[int, str] = {}
    for n, src in cells:
        try:
            tree = _parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            hits = scan(src, protected)
            if hits:
                dirty[n] = f"cell {n} uses `{hits[0]}`"
                everything = everything or dirty[n]
            continue
        own = _own_bindings(tree, protected)
        for stmt in tree.body:
            hits = _scan_node(stmt, own)
            bound, used = _statement_names(stmt)
            statements.append((n, hits, bound, used))
            if hits and any(h in HIDING for h in hits):
                dirty.setdefault(n, f"cell {n} uses `{hits[0]}`")
                everything = everything or f"cell {n} uses `{hits[0]}`"
            for a, b in _alias_pairs(stmt):
                aliases.setdefault(a, set()).add(b)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                effects |= _function_effects(node)
    tainted: dict[str, str] = {}

    def add(name: str, why: str) -> bool:
        if name in tainted:
            return False
        tainted[name] = why
        for other in aliases.get(name, ()):
            add(other, why)
        return True

    reasons = [f"cell {n} uses `{hits[0]}`" if hits else None for n, hits, _, _ in statements]
    changed = True
    while changed:
        changed = False
        for k, (n, _hits, bound, used) in enumerate(statements):
            if reasons[k] is None:
                hit = next((name for name in sorted(used) if name in tainted), None)
                if hit is None:
                    continue
                reasons[k] = f"cell {n} uses `{hit}`, which depends on a differentiation routine ({tainted[hit]})"
            dirty.setdefault(n, reasons[k])
            for name in bound:
                changed |= add(name, reasons[k])
            for name in effects:
                changed |= add(name, f"{reasons[k]}; a function that changes `{name}` may run there")
    return tainted, dirty, everything


def answer_taint(answer_name: str, cells: list[tuple[int, str]], everything: str | None,
                 protected: frozenset[str] = frozenset()) -> str | None:
    """Why an exercise's answer `answer_name` is tainted, or None: some statement in any student cell
    binds or fills it from a forbidden routine (directly or through tainted names), or `everything`
    (from taint())."""
    if everything:
        return everything
    return tainted_names(cells, protected).get(answer_name)


def _scan_node(tree, own: set[int]) -> list[str]:
    """Forbidden names in a parsed cell or statement, in order, once each (own: ids of the student's own
    bindings, see _own_bindings): identifiers, attributes, defs, parameters and keywords named like a
    routine, imported names and modules, S(text), complex literals."""
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in own:
            continue
        name = None
        if isinstance(node, ast.Name) and node.id not in ATTR_ONLY:
            name = node.id
        elif isinstance(node, ast.Attribute) and node.attr not in NAME_ONLY:
            name = node.attr
        elif isinstance(node, _DEFS) and node.name not in ATTR_ONLY:
            name = node.name
        elif isinstance(node, ast.arg) and node.arg not in ATTR_ONLY:
            name = node.arg
        elif isinstance(node, ast.keyword) and node.arg and node.arg not in ATTR_ONLY:
            name = node.arg
        elif isinstance(node, ast.Call) and _callee(node.func) == "S" and not all(_is_number(a) for a in node.args):
            name = "S"  # S("..."), sp.S(text): parses text like sympify (S(1)/2 is fine)
        elif isinstance(node, ast.Constant) and isinstance(node.value, complex):
            name = "complex literal"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [a.asname or "" for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            hits = ["import *"] if any(a.name == "*" for a in node.names) else []
            tops = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                ([node.module] if node.module and not node.level else [])
            if any(not _installed(t.split(".")[0]) for t in tops):
                hits.append("import of a module the notebook wrote")
            hits += [part for nm in names for part in nm.split(".") if is_forbidden(part)]
            found += [h for h in dict.fromkeys(hits) if h not in found]
            continue
        special = name in ("S", "complex literal") and isinstance(node, (ast.Call, ast.Constant))
        if name is not None and (special or is_forbidden(name)) and name not in found:
            found.append(name)
    return found


_VIEWS = frozenset({"T", "mT", "real", "imag", "flat", "view", "reshape", "ravel", "transpose", "swapaxes",
                    "squeeze", "__array__", "base", "data"})


def _alias_pairs(stmt) -> list[tuple[str, str]]:
    """Directed pairs (a, b): a may share its object with b, so a value put INTO a (a[:] = ...,
    a.append(...)) reaches b too: `a = b`, `a = b[...]`, `a = b.T`, `a = b.reshape(...)`, a loop target
    over b, and both ways for `a = c = ...`. (The other way, b filled then read through a, is the
    ordinary rule: the statement `a = b` reads b.)"""
    pairs = []

    def root(expr):
        while True:
            if isinstance(expr, ast.Subscript) or (isinstance(expr, ast.Attribute) and expr.attr in _VIEWS):
                expr = expr.value
            elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _VIEWS:
                expr = expr.func.value
            elif isinstance(expr, ast.Call) and _callee(expr.func) in ("asarray", "asanyarray", "atleast_1d",
                                                                         "atleast_2d", "ravel", "reshape",
                                                                         "transpose", "squeeze") and expr.args:
                expr = expr.args[0]
            else:
                return expr.id if isinstance(expr, ast.Name) else None

    if isinstance(stmt, ast.Assign):
        names = [n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        src = root(stmt.value)
        pairs += [(a, src) for a in names if src and a != src]
        pairs += [(a, b) for a in names for b in names if a != b]
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        src = root(stmt.iter)
        pairs += [(n.id, src) for n in ast.walk(stmt.target) if isinstance(n, ast.Name) and src]
    return pairs


def _function_effects(fn) -> set[str]:
    """Names outside `fn` that calling it may rebind or fill: its global/nonlocal names, and outer names
    under an item/attribute store, a mutating method call, np.copyto or an `out=` argument."""
    local = set()
    for a in ast.walk(fn.args):
        if isinstance(a, ast.arg):
            local.add(a.arg)
    declared = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            local.add(node.id)
    local -= declared
    filled = set()
    for stmt in fn.body:
        filled |= _statement_names(stmt)[0]
    return declared | (filled - local)


_MUTATORS = frozenset({"append", "extend", "insert", "update", "add", "setdefault", "fill", "put", "itemset",
                       "__setitem__", "copyto", "place", "putmask"})


def _statement_names(stmt) -> tuple[set[str], set[str]]:
    """(names a statement binds or fills, names it reads): assignment targets (and the object under an
    item/attribute store), defs, imports, loop variables, and the object of a mutating call
    (`ys.append(...)`, `np.copyto(ys, ...)`)."""
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, _DEFS):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                bound.add(base.id)
        if isinstance(node, ast.Call) and _callee(node.func) in _MUTATORS:
            objs = [node.func.value] if isinstance(node.func, ast.Attribute) else []
            objs += node.args[:1] if _callee(node.func) in ("copyto", "place", "putmask", "put") else []
            bound.update(o.id for o in objs if isinstance(o, ast.Name))
    return bound, used


def target_taint(cells: list[tuple[int, str]], target: str, answer_name: str) -> str | None:
    """Why the answer `answer_name` of a hand exercise depends on values of its `target` function (the one
    being differentiated), or None. The tripwire stops the answer calling the target while it is graded;
    this stops it using samples taken earlier (`ys = h(xs)`, then a fit or a spline of them), whatever
    differentiates them. Statement by statement: one that reads the target (or a name that depends on
    it) taints the names it binds or fills; so `print(h(1.0))` or `plt.plot(xs, h(xs))` costs nothing."""
    statements = []
    for n, src in cells:
        try:
            tree = _parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        statements += [(n, _statement_names(stmt)) for stmt in tree.body]
    tainted = {target: None}
    changed = True
    while changed:
        changed = False
        for n, (bound, used) in statements:
            hit = next((name for name in sorted(used) if name in tainted), None)
            if hit is None:
                continue
            for name in bound - set(tainted):
                tainted[name] = f"cell {n} computes `{name}` from values of `{target}`, the function to differentiate"
                changed = True
    return tainted.get(answer_name) if answer_name != target else None
