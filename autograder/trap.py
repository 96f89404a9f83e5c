"""The run-time record of differentiation routines, per answer (sandbox side of hand derivations).

A hand-derivation exercise asks for a derivative worked out by hand. What a grader can know is what
*ran*, so this module traps the routines that compute derivatives (sympy's derivative machinery under
every public or private name that reaches it, series/limits, numpy's gradient and polynomial
derivatives, scipy's numerical derivatives and spline derivatives, mpmath, numdifftools,
chainrule_utils' numerical and reference routines, and jax/torch/autograd/tensorflow when importable)
and counts one against an answer only when it provably ran for that answer:

1. **bound**: a routine ran during the top-level statement that bound or changed the answer (IPython
   runs each top-level statement of a cell on its own; the runner reports statement boundaries);
2. **evaluated**: a routine ran while the grader evaluated the answer (a function at its probe points),
   or the answer evaluated the function it differentiates (the exercise's `target`) a small step away
   from the point it was asked about, or at a complex point (finite differences, complex steps; the
   target at the point itself is a formula using its value, which is allowed);
3. **is a result**: the answer, or an object it reaches (container items; a function's closure,
   defaults and the globals it names), *is* an object a routine returned (identity, not equality: a
   result carried over in a variable, `_`, `sys.last_value` or a list). sympy's cache is cleared before
   each routine the notebook calls and after each statement that ran one, so that neither an expression
   typed before nor one typed after is the routine's result by accident (a part of its own input that a
   routine hands back is not its result either).

A routine counts only when called from code that is not a math library's own (a student cell, text
that sympy or `eval` turned into code, a module the notebook wrote, the standard library): sympy's
`factor` computing a derivative internally, or `simplify`, never counts. Parsing, simplifying,
`sympify`/`S`/`parse_expr`/`lambdify`, printing, and any differentiation in statements that bind no
answer cost nothing. Processes forked by the notebook share the counters (an anonymous shared map).

Limits, stated rather than fought (README, course/AUTHORING.md): a result computed elsewhere (another
tool, a re-typed copy of the function differentiated numerically, a value copied by hand or transformed
before it reached the answer) cannot be recognised by any grader; the trap lives in the student's own
process, so a notebook that tampers with it (restoring the originals it holds) is not detected either.
"""
from __future__ import annotations

import builtins
import importlib.abc
import mmap
import os
import struct
import sys
import threading
import types

import numpy as np

# ---------------------------------------------------------------------------------------------
# what is trapped: (module, attribute path or "*methods*", label shown to the student)

# methods trapped on every class of these packages that defines them (sympy: Expr.diff, Function.fdiff,
# each _eval_derivative, Matrix.jacobian, Poly.diff, series, limits, leading terms, ...)
METHODS = {
    "sympy": {"diff": "sympy's diff", "fdiff": "sympy's fdiff", "_eval_derivative": "sympy's _eval_derivative",
              "_eval_derivative_n_times": "sympy's _eval_derivative_n_times",
              "_eval_derivative_matrix_lines": "sympy's matrix derivative", "jacobian": "sympy's jacobian",
              "series": "sympy's series", "nseries": "sympy's series", "lseries": "sympy's series",
              "aseries": "sympy's series", "taylor_term": "sympy's taylor_term",
              "as_leading_term": "sympy's as_leading_term", "leadterm": "sympy's leadterm",
              "limit": "sympy's limit", "as_finite_difference": "sympy's as_finite_difference",
              "doit_numerically": "sympy's numerical derivative"},
    "numpy": {"deriv": "numpy's polynomial deriv"},
    "scipy": {"derivative": "a scipy derivative", "derivatives": "a scipy derivative"},
    "numdifftools": {"__call__": "numdifftools"},
}
# classes whose constructor or evaluation is the routine itself
CLASS_METHODS = [
    ("sympy.core.function", "Derivative", "__new__", "sympy's Derivative"),
    ("sympy.core.function", "Derivative", "doit", "sympy's Derivative"),
    ("sympy.series.limits", "Limit", "doit", "sympy's Limit"),
    ("sympy.tensor.array.array_derivatives", "ArrayDerivative", "__new__", "sympy's ArrayDerivative"),
]
# module-level functions; every reference to them in a loaded module of the package is replaced
FUNCTIONS = [
    ("sympy.core.function", "diff", "sympy's diff"),
    ("sympy.core.function", "_derivative_dispatch", "sympy's diff"),
    ("sympy.series.limits", "limit", "sympy's limit"),
    ("sympy.series.limits", "heuristics", "sympy's limit"),
    ("sympy.series.gruntz", "gruntz", "sympy's limit"),
    ("sympy.series.gruntz", "limitinf", "sympy's limit"),
    ("sympy.series.series", "series", "sympy's series"),
    ("sympy.series.residues", "residue", "sympy's residue"),
    ("sympy.series.formal", "fps", "sympy's fps"),
    ("sympy.series.limitseq", "limit_seq", "sympy's limit_seq"),
    ("sympy.geometry.util", "idiff", "sympy's idiff"),
    ("sympy.calculus.finite_diff", "finite_diff_weights", "sympy's finite_diff_weights"),
    ("sympy.calculus.finite_diff", "apply_finite_diff", "sympy's apply_finite_diff"),
    ("sympy.calculus.finite_diff", "differentiate_finite", "sympy's differentiate_finite"),
    ("sympy.calculus.euler", "euler_equations", "sympy's euler_equations"),
    ("sympy.tensor.array.arrayop", "derive_by_array", "sympy's derive_by_array"),
    ("sympy.matrices.dense", "wronskian", "sympy's wronskian"),
    ("sympy.matrices.dense", "hessian", "sympy's hessian"),
    ("sympy.polys.densetools", "dup_diff", "sympy's polynomial diff"),
    ("sympy.polys.densetools", "dmp_diff", "sympy's polynomial diff"),
    ("sympy.polys.densetools", "dmp_diff_in", "sympy's polynomial diff"),
    ("sympy.polys.densetools", "dmp_diff_eval_in", "sympy's polynomial diff"),
    ("sympy.polys.galoistools", "gf_diff", "sympy's polynomial diff"),
    ("sympy.polys.ring_series", "rs_diff", "sympy's polynomial diff"),
    ("sympy.vector.operators", "gradient", "sympy.vector's gradient"),
    ("sympy.vector.operators", "divergence", "sympy.vector's divergence"),
    ("sympy.vector.operators", "curl", "sympy.vector's curl"),
    ("sympy.vector.operators", "directional_derivative", "sympy.vector's directional_derivative"),
    ("numpy", "gradient", "numpy's gradient"),
    ("numpy", "polyder", "numpy's polyder"),
    ("numpy.polynomial.polynomial", "polyder", "numpy's polyder"),
    ("numpy.polynomial.chebyshev", "chebder", "numpy's chebder"),
    ("numpy.polynomial.legendre", "legder", "numpy's legder"),
    ("numpy.polynomial.hermite", "hermder", "numpy's hermder"),
    ("numpy.polynomial.hermite_e", "hermeder", "numpy's hermeder"),
    ("numpy.polynomial.laguerre", "lagder", "numpy's lagder"),
    ("mpmath", "diff", "mpmath's diff"),
    ("mpmath", "diffs", "mpmath's diffs"),
    ("mpmath", "taylor", "mpmath's taylor"),
    ("mpmath", "differint", "mpmath's differint"),
    ("scipy.optimize", "approx_fprime", "scipy's approx_fprime"),
    ("scipy.optimize", "check_grad", "scipy's check_grad"),
    ("scipy.optimize._numdiff", "approx_derivative", "scipy's approx_derivative"),
    ("scipy.differentiate", "derivative", "scipy's derivative"),
    ("scipy.differentiate", "jacobian", "scipy's jacobian"),
    ("scipy.differentiate", "hessian", "scipy's hessian"),
    ("scipy.interpolate", "splder", "scipy's splder"),
    ("chainrule_utils.numdiff", "numerical_jacobian", "chainrule_utils.numerical_jacobian"),
    ("chainrule_utils.numdiff", "numerical_gradient", "chainrule_utils.numerical_gradient"),
    ("chainrule_utils.numdiff", "directional_derivative", "chainrule_utils.directional_derivative"),
    ("chainrule_utils.checks", "reference_jacobian", "chainrule_utils' reference Jacobian"),
    ("chainrule_utils.checks", "check_jacobian", "chainrule_utils.check_jacobian"),
    ("chainrule_utils.checks", "check_gradient", "chainrule_utils.check_gradient"),
    ("chainrule_utils.checks", "check_jvp", "chainrule_utils.check_jvp"),
    ("chainrule_utils.checks", "check_vjp", "chainrule_utils.check_vjp"),
    ("chainrule_utils.symbolic.calculus", "jacobian", "chainrule_utils.symbolic.jacobian"),
    ("chainrule_utils.symbolic.calculus", "gradient", "chainrule_utils.symbolic.gradient"),
    ("jax", "grad", "jax.grad"), ("jax", "value_and_grad", "jax.value_and_grad"),
    ("jax", "jacfwd", "jax.jacfwd"), ("jax", "jacrev", "jax.jacrev"), ("jax", "jacobian", "jax.jacobian"),
    ("jax", "hessian", "jax.hessian"), ("jax", "vjp", "jax.vjp"), ("jax", "jvp", "jax.jvp"),
    ("jax", "linearize", "jax.linearize"),
    ("torch.autograd", "grad", "torch.autograd.grad"), ("torch.autograd", "backward", "torch backward"),
    ("torch.autograd.functional", "jacobian", "torch jacobian"), ("torch.autograd.functional", "vjp", "torch vjp"),
    ("torch.autograd.functional", "jvp", "torch jvp"), ("torch.autograd.functional", "hessian", "torch hessian"),
    ("torch.func", "grad", "torch.func.grad"), ("torch.func", "jacrev", "torch.func.jacrev"),
    ("torch.func", "jacfwd", "torch.func.jacfwd"), ("torch.func", "vjp", "torch.func.vjp"),
    ("torch.func", "jvp", "torch.func.jvp"),
    ("autograd", "grad", "autograd.grad"), ("autograd", "jacobian", "autograd.jacobian"),
    ("autograd", "elementwise_grad", "autograd.elementwise_grad"), ("autograd", "holomorphic_grad", "autograd.grad"),
    ("autograd", "hessian", "autograd.hessian"), ("autograd", "make_vjp", "autograd.make_vjp"),
    ("autograd", "make_jvp", "autograd.make_jvp"),
]
# callables whose evaluation differentiates only for some arguments (a spline's derivative order)
CONDITIONAL = [
    ("scipy.interpolate", "PPoly", "__call__", "nu", 2, "a spline derivative (scipy)"),
    ("scipy.interpolate", "BPoly", "__call__", "nu", 2, "a spline derivative (scipy)"),
    ("scipy.interpolate", "BSpline", "__call__", "nu", 2, "a spline derivative (scipy)"),
    ("scipy.interpolate", "UnivariateSpline", "__call__", "nu", 2, "a spline derivative (scipy)"),
    ("scipy.interpolate", "splev", None, "der", 2, "a spline derivative (scipy)"),
]
# Python-level tensor methods that run reverse mode
EXTRA_METHODS = [("torch", "Tensor", "backward", "torch backward"),
                 ("tensorflow", "GradientTape", "gradient", "tensorflow GradientTape"),
                 ("tensorflow", "GradientTape", "jacobian", "tensorflow GradientTape")]
# whose code is "a library's own": calls from it do not count (sympy's factor uses a polynomial diff)
LIBRARIES = ("sympy", "numpy", "scipy", "mpmath", "matplotlib", "numdifftools", "chainrule_utils", "jax",
             "jaxlib", "torch", "autograd", "tensorflow", "pandas")
# packages whose loaded modules get their references to trapped functions replaced
PATCH_PACKAGES = ("sympy", "numpy", "scipy", "mpmath", "numdifftools", "chainrule_utils", "jax", "torch",
                  "autograd", "tensorflow")
# lambdify of a routine's result is the same result as a function
TRANSPORTS = [("sympy.utilities.lambdify", "lambdify")]

MAX_RESULTS = 4000      # routine results kept (strong references, so that ids stay unique)
MAX_REACH = 400         # objects visited per answer when looking for a routine's result
SHARED_BYTES = 4096
_LABEL_BYTES = 120


class _Shared:
    """Counters in an anonymous shared mapping (children forked by the notebook write to it too):
    [routine count u64][last routine label, utf-8, 120 bytes][target-off-probe count u64]."""

    def __init__(self):
        self.map = mmap.mmap(-1, SHARED_BYTES, flags=mmap.MAP_SHARED)

    def count(self) -> int:
        return struct.unpack_from("<Q", self.map, 0)[0]

    def label(self) -> str:
        raw = self.map[8:8 + _LABEL_BYTES].split(b"\0", 1)[0]
        return raw.decode("utf-8", "replace")

    def hit(self, label: str) -> None:
        struct.pack_into("<Q", self.map, 0, self.count() + 1)
        data = label.encode("utf-8", "replace")[:_LABEL_BYTES - 1]
        self.map[8:8 + _LABEL_BYTES] = data + b"\0" * (_LABEL_BYTES - len(data))


class _Local(threading.local):
    depth = 0


_MISSING = object()


class Trap:
    """The trap of one sandbox run. Sandbox-side API (autograder.runner):

    - `install()` once, before any notebook code runs; `track(ns, names)`: the user namespace and the
      answer names of the notebook's hand exercises;
    - `cell(n)` around each cell and `statement()` around each top-level statement in it (context
      managers; nested statements count as one; a cell whose statements are not reported, because the
      notebook replaced IPython's run_code, is judged as a whole); `trusted` set while an unchanged
      lesson cell runs (the instructor's code never counts);
    - `evaluating(name, target)` around reading an answer, `.probe(args)` before each probe call;
    - `report(name)`: None, or {"routine", "how", "cell"} for the answer's current value.
    """

    def __init__(self):
        self.shared = _Shared()
        self.local = _Local()
        self.trusted = False
        self.results: dict[int, tuple] = {}       # id -> (object, label, cell)
        self.taint: dict[str, dict | None] = {}   # answer name -> why, for its current value
        self.tokens: dict[str, object] = {}       # answer name -> digest after the last statement
        self.ns: dict | None = None
        self.current_cell = None
        self._roots: tuple[str, ...] = ()
        self._library_codes: dict[int, tuple] = {}
        self._module_codes: dict[str, set] = {}
        self._trapped_codes: set[int] = set()
        self._originals: dict[int, object] = {}   # id(original or wrapper) -> wrapper
        self._done_modules: set[str] = set()
        self._depth = 0
        self._since = 0
        self._installed = False

    # -- installing --------------------------------------------------------------------------
    def install(self) -> None:
        """Wrap every routine of the loaded packages, and of the packages imported later."""
        if self._installed:
            return
        self._installed = True
        roots = []
        for name in LIBRARIES:
            mod = sys.modules.get(name)
            path = getattr(mod, "__file__", None) if mod else None
            if path is None:
                try:
                    import importlib.util

                    spec = importlib.util.find_spec(name)
                    path = spec.origin if spec else None
                except (ImportError, ValueError):
                    path = None
            if path:
                roots.append(os.path.dirname(os.path.realpath(path)) + os.sep)
        self._roots = tuple(roots)
        added = False
        for name in list(sys.modules):
            added = self._wrap_definitions(name) or added
        if added:
            self._replace_references()
        sys.meta_path.insert(0, _PatchingFinder(self))
        self._since = self.shared.count()

    def _wrap_definitions(self, modname: str) -> bool:
        """Wrap the routines module `modname` defines; True when it had any."""
        if modname in self._done_modules:
            return False
        mod = sys.modules.get(modname)
        top = modname.split(".", 1)[0]
        if mod is None or top not in PATCH_PACKAGES:
            return False
        self._done_modules.add(modname)
        before = len(self._originals)
        for m, attr, label in FUNCTIONS:
            if m == modname:
                fn = mod.__dict__.get(attr)
                if callable(fn) and id(fn) not in self._originals:
                    self._wrap_function(fn, label)
        for m, cls, meth, label in CLASS_METHODS + EXTRA_METHODS:
            if m == modname and isinstance(getattr(mod, cls, None), type):
                self._wrap_method(getattr(mod, cls), meth, label)
        for m, cls, meth, arg, pos, label in CONDITIONAL:
            obj = getattr(mod, cls, None) if m == modname else None
            if isinstance(obj, type):
                self._wrap_method(obj, meth, label, when=(arg, pos))
            elif callable(obj) and meth is None and id(obj) not in self._originals:
                self._wrap_function(obj, label, when=(arg, pos))
        for m, attr in TRANSPORTS:
            fn = mod.__dict__.get(attr) if m == modname else None
            if callable(fn) and id(fn) not in self._originals:
                self._originals[id(fn)] = self._transport(fn)
        methods = METHODS.get(top, {})
        for value in list(vars(mod).values()):
            if isinstance(value, type) and value.__module__ == modname:
                for meth, label in methods.items():
                    if meth in value.__dict__:
                        self._wrap_method(value, meth, label)
        return len(self._originals) != before

    def _replace_references(self) -> None:
        """In every loaded module of the patched packages, a name bound to a trapped original now
        names its wrapper (sympy.diff is sympy.core.function.diff under another module's name)."""
        for name, mod in list(sys.modules.items()):
            if mod is None or name.split(".", 1)[0] not in PATCH_PACKAGES:
                continue
            try:
                items = list(vars(mod).items())
            except TypeError:
                continue
            for key, value in items:
                wrapper = self._originals.get(id(value))
                if wrapper is not None and value is not wrapper and not isinstance(value, type):
                    try:
                        setattr(mod, key, wrapper)
                    except (AttributeError, TypeError):
                        pass

    def _wrap_function(self, fn, label: str, when=None):
        wrapper = self._wrapper(fn, label, when)
        self._originals[id(fn)] = wrapper
        self._originals[id(wrapper)] = wrapper
        return wrapper

    def _wrap_method(self, klass: type, name: str, label: str, when=None) -> None:
        owner = next((k for k in klass.__mro__ if name in k.__dict__), None)
        raw = owner.__dict__.get(name) if owner is not None else None
        if raw is None:
            return
        kind = type(raw)
        fn = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        if not callable(fn) or id(fn) in self._originals or getattr(fn, "__chainrule_trap__", False):
            return
        wrapper = self._wrap_function(fn, label, when)
        if name == "__new__" and kind is not classmethod:
            kind = staticmethod
        try:
            setattr(owner, name, kind(wrapper) if kind in (staticmethod, classmethod) else wrapper)
        except (AttributeError, TypeError):
            pass

    def _wrapper(self, fn, label: str, when=None):
        trap, local = self, self.local

        def trapped(*args, **kwargs):
            if local.depth or trap.trusted or (when is not None and not _differentiates(args, kwargs, when)):
                return fn(*args, **kwargs)
            if not trap._counts(sys._getframe(1)):
                return fn(*args, **kwargs)  # a library's own use (sympy's factor, scipy's minimize)
            trap.shared.hit(label)
            _clear_sympy_cache()  # what it returns is then built by it, never an expression cached before
            local.depth = 1  # the calls this one makes are part of it
            try:
                result = fn(*args, **kwargs)
            finally:
                local.depth = 0
            if not _is_input(result, args, kwargs):
                trap._keep(result, label)
            return result

        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(trapped, attr, getattr(fn, attr))
            except (AttributeError, TypeError):
                pass
        try:
            trapped.__dict__.update(getattr(fn, "__dict__", {}))
        except (AttributeError, TypeError):
            pass
        trapped.__chainrule_trap__ = True
        code = getattr(fn, "__code__", None)
        if code is not None:
            self._trapped_codes.add(id(code))
            self._library_codes[id(code)] = (code, True)
        self._trapped_codes.add(id(trapped.__code__))
        return trapped

    def _transport(self, fn):
        """lambdify(args, expr) of a routine's result returns a function that computes that result."""
        trap = self

        def lambdify(*args, **kwargs):
            out = fn(*args, **kwargs)
            why = trap._reaches_result(list(args) + list(kwargs.values()))
            if why is not None:
                trap._keep(out, why["routine"], why.get("cell"))
            return out

        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(lambdify, attr, getattr(fn, attr, None))
        self._trapped_codes.add(id(lambdify.__code__))
        return lambdify

    # -- deciding whether a call counts -------------------------------------------------------
    def _counts(self, frame) -> bool:
        """Whether the trapped call whose caller is `frame` was made by the notebook's code: walk up
        past trapped functions; the first other frame decides (a library's own code: no)."""
        depth = 0
        while frame is not None and depth < 200:
            if id(frame.f_code) not in self._trapped_codes:
                return not self._is_library(frame)
            frame = frame.f_back
            depth += 1
        return True

    def _is_library(self, frame) -> bool:
        code = frame.f_code
        hit = self._library_codes.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1]
        verdict = self._classify(code, frame.f_globals)
        self._library_codes[id(code)] = (code, verdict)
        return verdict

    def _classify(self, code, globals_) -> bool:
        """Library code: a file under a library's folder, run in that module's namespace, and either
        reachable from the module's functions and classes or its body while the module is importing
        (so that code a notebook compiles under a library's file name does not pass for it)."""
        filename = os.path.realpath(code.co_filename) if code.co_filename else ""
        if not filename.startswith(self._roots):
            return False
        modname = globals_.get("__name__") if isinstance(globals_, dict) else None
        mod = sys.modules.get(modname) if isinstance(modname, str) else None
        if mod is None or getattr(mod, "__dict__", None) is not globals_:
            return False
        if code.co_name == "<module>":
            return bool(getattr(getattr(mod, "__spec__", None), "_initializing", False))
        codes = self._module_codes.get(modname)
        if codes is None:
            codes = self._module_codes[modname] = _reachable_codes(mod)
        return id(code) in codes

    # -- results -------------------------------------------------------------------------------
    def _keep(self, result, label: str, cell=None) -> None:
        if _identity_is_meaningless(result):
            return
        if len(self.results) >= MAX_RESULTS:
            self.results.pop(next(iter(self.results)))
        self.results[id(result)] = (result, label, self.current_cell if cell is None else cell)

    def _reaches_result(self, root) -> dict | None:
        """{"routine", "cell", "how"} when `root` or an object it reaches is a routine's result."""
        if not self.results:
            return None
        for obj in _reach(root, MAX_REACH):
            hit = self.results.get(id(obj))
            if hit is not None and hit[0] is obj:
                return {"routine": hit[1], "cell": hit[2], "how": "result"}
        return None

    # -- statements, evaluation, reports -------------------------------------------------------
    def track(self, ns: dict, names) -> None:
        self.ns = ns
        for n in names:
            self.taint.setdefault(n, None)
            self.tokens.setdefault(n, _digest(ns.get(n, _MISSING)))

    def statement(self):
        return _Statement(self)

    def cell(self, number):
        return _Cell(self, number)

    def _judge_changes(self) -> None:
        """Attribute what changed since the last boundary to the routines that ran since then."""
        now = self.shared.count()
        ran = now != self._since
        self._since = now
        label = self.shared.label() if ran else None
        if ran:
            _clear_sympy_cache()
        if self.ns is None:
            return
        for name in self.taint:
            value = self.ns.get(name, _MISSING)
            token = _digest(value)
            old = self.tokens.get(name)
            if token == old:
                continue
            self.tokens[name] = token
            rebound = old is None or token is None or old[0] != token[0]
            why = {"routine": label, "how": "bound", "cell": self.current_cell} if ran else None
            if why is None and value is not _MISSING:
                why = self._reaches_result(value)
            self.taint[name] = why if rebound else (self.taint.get(name) or why)

    def evaluating(self, name: str, target=None):
        return _Evaluation(self, name, target)

    def report(self, name: str) -> dict | None:
        """Why the current value of answer `name` counts against a hand derivation (None: clean)."""
        why = self.taint.get(name)
        if why is None and self.ns is not None and name in self.ns:
            why = self._reaches_result(self.ns[name])
        return dict(why) if why else None


class _Statement:
    """A top-level statement: a routine that ran in it counts against the answers it bound or changed.
    Only the outermost of nested ones (a statement that runs a cell itself) is a boundary."""

    def __init__(self, trap: Trap):
        self.trap = trap

    def __enter__(self):
        t = self.trap
        t._depth += 1
        if t._depth == 1:
            t._judge_changes()  # whatever changed between statements (threads) is judged on its own
        return self

    def __exit__(self, *exc):
        t = self.trap
        t._depth -= 1
        if t._depth == 0:
            t._judge_changes()
        return False


class _Cell:
    """A cell: its boundaries are judged like a statement's (all of it, when its statements are not
    reported one by one)."""

    def __init__(self, trap: Trap, number):
        self.trap, self.number = trap, number

    def __enter__(self):
        self.trap.current_cell = self.number
        self.trap._judge_changes()
        return self

    def __exit__(self, *exc):
        self.trap._judge_changes()
        return False


class _Evaluation:
    """Reading answer `name` (a function evaluated at the probes): a routine that runs counts against
    it, and so does evaluating the exercise's target away from the probe's own arguments."""

    def __init__(self, trap: Trap, name: str, target):
        self.trap, self.name, self.target = trap, name, target
        self.probe_args: list = []
        self.probes = 0                  # probes announced so far
        self.near: set[int] = set()      # probes at which the target ran a small step away
        self.off_probe: list = []        # complex steps
        self.restore = None

    def __enter__(self):
        t = self.trap
        t._judge_changes()
        if self.target is not None and t.ns is not None:
            self.restore = _watch_target(t.ns, self.target, self)
        return self

    def probe(self, args) -> None:
        """The arguments of the probe evaluated next (the target may be called with these)."""
        self.probe_args = list(args)
        self.probes += 1

    def stepped(self) -> bool:
        """A numerical derivative of the target: a complex step anywhere, or a small real step at EVERY
        probe. A finite difference steps at each point it is asked about; a formula that evaluates the
        target elsewhere (sigma(-x), f(x + c)) lands near the probe only at some probes (x near 0, large
        x), and must not cost an honest answer its points."""
        return bool(self.off_probe) or (self.probes > 0 and len(self.near) >= self.probes)

    def __exit__(self, *exc):
        t = self.trap
        if self.restore is not None:
            self.restore()
        now = t.shared.count()
        if now != t._since:
            t.taint[self.name] = {"routine": t.shared.label(), "how": "evaluated", "cell": None}
            t._since = now
            _clear_sympy_cache()
        elif self.stepped():
            t.taint[self.name] = {"routine": self.target, "how": "target", "cell": None}
        return False


# ---------------------------------------------------------------------------------------------
# the target: evaluated at the probe's own arguments is a formula using its value (allowed); anywhere
# else it is a numerical derivative of it


def _watch_target(ns: dict, name: str, ev: _Evaluation):
    """Swap the target function's code for a recorder while the answer is evaluated (saved
    references to the function see it too); returns the function restoring it."""
    fn = ns.get(name)
    if not isinstance(fn, types.FunctionType) or fn.__closure__:
        return None
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    hook = f"__chainrule_target_{id(fn)}__"

    def recorder(*args, **kwargs):
        step = _numerical_call(list(args) + list(kwargs.values()), ev.probe_args)
        if step == "complex":
            ev.off_probe.append(True)
        elif step == "real":
            ev.near.add(ev.probes)
        return copy(*args, **kwargs)

    tramp = compile(f"lambda *a, **k: {hook}(*a, **k)", fn.__code__.co_filename, "eval")
    code = next(c for c in tramp.co_consts if isinstance(c, types.CodeType))
    saved = fn.__code__
    setattr(builtins, hook, recorder)
    fn.__code__ = code

    def restore():
        fn.__code__ = saved
        try:
            delattr(builtins, hook)
        except AttributeError:
            pass

    return restore


def _numerical_call(args: list, probe: list) -> str | None:
    """Whether a call of the target with `args`, while the answer is evaluated at `probe`, can be a step
    of a numerical derivative: "complex" for an argument that is complex where the probes are real (a
    complex step), "real" for a small perturbation of the probe's argument of the same shape
    (0 < max |change| <= 5% of its scale: a finite-difference step; _Evaluation.stepped decides over
    all probes), else None. The target at the probe's own arguments is a formula using its value; with
    other arguments (constants, a different point) it is not a derivative either."""
    for a in args:
        if isinstance(a, (bool, str)) or a is None:
            continue
        try:
            arr = np.asarray(a)
        except Exception:  # noqa: BLE001  (an odd argument says nothing about a derivative)
            continue
        if arr.dtype.kind == "c" and np.any(np.imag(arr) != 0):
            return "complex"
        if arr.dtype.kind not in "biuf":
            continue
        flat = arr.astype(float).ravel()
        for p in probe:
            try:
                q = np.asarray(p, dtype=float).ravel()
            except Exception:  # noqa: BLE001
                continue
            if q.shape != flat.shape or not q.size:
                continue
            change = float(np.max(np.abs(flat - q)))
            if 0 < change <= 0.05 * (1 + float(np.max(np.abs(q)))):
                return "real"
    return None


def _differentiates(args, kwargs, when) -> bool:
    """For CONDITIONAL routines: whether this call asks for a derivative (derivative order >= 1)."""
    name, pos = when
    value = kwargs.get(name, args[pos] if len(args) > pos else 0)
    try:
        return int(value) >= 1
    except (TypeError, ValueError):
        return True


# ---------------------------------------------------------------------------------------------
# digests and reachability


def _digest(value, depth: int = 0):
    """What changes when an answer is rebound or mutated: (id, content) for containers and arrays."""
    if value is _MISSING:
        return None
    if depth > 3:
        return id(value)
    if isinstance(value, np.ndarray):
        if value.size <= 100_000 and value.dtype.kind in "biufc":
            return (id(value), value.shape, value.dtype.str, hash(value.tobytes()))
        return (id(value), value.shape, value.dtype.str)
    if isinstance(value, dict):
        items = list(value.items())[:1000]
        return (id(value), tuple((id(k), _digest(v, depth + 1)) for k, v in items))
    if isinstance(value, (list, tuple)):
        return (id(value), tuple(_digest(v, depth + 1) for v in list(value)[:1000]))
    if isinstance(value, types.FunctionType):
        return (id(value), id(value.__code__), id(value.__defaults__),
                tuple(id(_cell(c)) for c in (value.__closure__ or ())))
    mat = getattr(value, "_mat", None) if type(value).__module__.startswith("sympy") else None
    if isinstance(mat, list):
        return (id(value), tuple(id(v) for v in mat[:1000]))
    return (id(value),)


def _cell(c):
    try:
        return c.cell_contents
    except ValueError:
        return None


def _reach(root, limit: int):
    """`root` and the objects it reaches: container items, a function's closure, defaults and the
    globals its code names (recursively), a bound method's function and object, a partial's parts."""
    seen, out, stack = set(), [], [root]
    while stack and len(out) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, types.ModuleType):
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, dict):
            stack.extend(list(obj.values())[:200])
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(list(obj)[:200])
        elif isinstance(obj, types.FunctionType):
            stack.extend(_cell(c) for c in (obj.__closure__ or ()))
            stack.extend(obj.__defaults__ or ())
            stack.extend((obj.__kwdefaults__ or {}).values())
            g = obj.__globals__
            for name in _code_names(obj.__code__):
                if name in g:
                    stack.append(g[name])
        elif isinstance(obj, types.MethodType):
            stack.extend([obj.__func__, obj.__self__])
        elif type(obj).__name__ == "partial":
            stack.extend([getattr(obj, "func", None), *getattr(obj, "args", ()),
                          *getattr(obj, "keywords", {}).values()])
        elif isinstance(obj, np.vectorize):
            stack.append(obj.pyfunc)
    return out


def _code_names(code, depth: int = 0) -> list[str]:
    names = list(code.co_names)
    if depth < 4:
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                names += _code_names(c, depth + 1)
    return names


def _is_input(result, args, kwargs) -> bool:
    """Whether a routine handed back (part of) what it was given (d/dx (x*E) is E itself): that object
    existed before the routine ran, so it is not the routine's result."""
    stack = [*args, *kwargs.values()]
    seen = 0
    while stack and seen < 10_000:
        obj = stack.pop()
        seen += 1
        if obj is result:
            return True
        if isinstance(obj, (list, tuple)):
            stack.extend(obj[:1000])
        elif isinstance(obj, dict):
            stack.extend(list(obj.values())[:1000])
        elif type(obj).__module__.startswith("sympy"):
            stack.extend(getattr(obj, "args", ())[:1000])
    return False


def _identity_is_meaningless(obj) -> bool:
    """Objects the interpreter shares between unrelated computations (None, bools, small ints, interned
    strings, sympy's numbers and singletons): being `is` one of them proves nothing."""
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return True
    mod = type(obj).__module__
    if mod.startswith("sympy"):
        return bool(getattr(obj, "is_Number", False) or getattr(obj, "is_Atom", False))
    return False


def _reachable_codes(mod) -> set[int]:
    """ids of the code objects of a module's functions, methods, decorated originals and nested
    functions (everything the module's own code can run)."""
    codes: set[int] = set()
    seen: set[int] = set()
    stack = list(vars(mod).values())
    name = mod.__name__
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            _add_code(obj.__code__, codes)
            stack.extend(_cell(c) for c in (obj.__closure__ or ()))
            wrapped = obj.__dict__.get("__wrapped__")
            if wrapped is not None:
                stack.append(wrapped)
        elif isinstance(obj, (staticmethod, classmethod)):
            stack.append(obj.__func__)
        elif isinstance(obj, property):
            stack.extend([obj.fget, obj.fset, obj.fdel])
        elif isinstance(obj, type):
            if obj.__module__ == name:
                stack.extend(vars(obj).values())
        elif hasattr(obj, "__wrapped__") and not isinstance(obj, types.ModuleType):
            try:
                stack.append(obj.__wrapped__)
            except Exception:  # noqa: BLE001
                pass
    return codes


def _add_code(code, codes: set[int]) -> None:
    codes.add(id(code))
    for c in code.co_consts:
        if isinstance(c, types.CodeType) and id(c) not in codes:
            _add_code(c, codes)


def _clear_sympy_cache() -> None:
    mod = sys.modules.get("sympy.core.cache")
    if mod is not None:
        try:
            mod.clear_cache()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------------------------
# packages imported after install


class _PatchingFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: lets the other finders find a module of a patched package, then traps
    its routines once it has run (a notebook importing scipy.differentiate or sympy.vector)."""

    def __init__(self, trap: Trap):
        self.trap = trap
        self._busy = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".", 1)[0] not in PATCH_PACKAGES or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run, trap = loader.exec_module, self.trap

        def exec_module(module):
            run(module)
            if trap._wrap_definitions(module.__name__):
                trap._replace_references()

        try:
            loader.exec_module = exec_module
        except (AttributeError, TypeError):
            pass
        return spec


def describe(why: dict) -> str:
    """One student-facing sentence naming the routine and how it reached the answer."""
    routine = why.get("routine") or "a differentiation routine"
    cell = why.get("cell")
    where = f" in cell {cell}" if isinstance(cell, int) else ""
    how = why.get("how")
    if how == "bound":
        return f"{routine} ran in the statement that computed your answer{where}"
    if how == "evaluated":
        return f"{routine} ran while your answer was evaluated"
    if how == "target":
        return (f"your answer evaluated {routine}, the function it differentiates, at points other than the "
                "one it was asked about (a numerical derivative)")
    return f"your answer is (or uses) the result that {routine} returned{where}"


__all__ = ["Trap", "describe"]
