"""The course must not repeat the seeds' errata (/work/shared/seeds/ERRATA.md), and its text must be its own.

Every check reads the course as shipped: the markdown cells and lesson code of the source notebooks,
the hand-written site pages, the reference page's rules, README.md and AUTHORING.md. Each check is a
function that returns a list of problems (one line each, naming where); each test asserts the list is
empty for the course AND non-empty for the seed's wrong statement (test_the_checks_catch_the_seed_errata),
so no test here passes by checking nothing.

Where the course shows a wrong formula on purpose, it is inside a "Common mistakes" section; those
sections are left out of the arithmetic check only.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sympy as sp
from sitekit import COURSE, REPO, SITE
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

SEEDS = Path(os.environ.get("CHAINRULE_SEEDS", "/work/shared/seeds"))
NOTEBOOKS = sorted((COURSE / "source").glob("0*/0*.ipynb"))


# ----------------------------------------------------------------------------------------------------
# the course text


def _notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _markdown_docs() -> list[tuple[str, str, str]]:
    """(where, section heading, text) for every markdown cell and site page paragraph block."""
    docs = []
    for nb in NOTEBOOKS:
        heading = ""
        for i, cell in enumerate(_notebook_cells(nb)):
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for line in text.splitlines():
                if re.match(r"#{1,3} ", line):
                    heading = line
            docs.append((f"{nb.stem} cell {i}", heading, text))
    for page in sorted((SITE / "pages").glob("*.md")):
        docs.append((f"site/pages/{page.name}", page.stem, page.read_text(encoding="utf-8")))
    sys.path.insert(0, str(SITE))
    import reference_rules as rr

    for rule in rr.RULES:
        docs.append((f"reference rule {rule.key}", rule.section, f"$${rule.statement}$$\n\n{rule.note}"))
    for extra in (REPO / "README.md", COURSE / "AUTHORING.md", SITE / "README.md"):
        docs.append((str(extra.relative_to(REPO)), "", extra.read_text(encoding="utf-8")))
    return docs


DOCS = _markdown_docs()


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, with list items and table rows as blocks of their own."""
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        blocks += [b for b in re.split(r"\n(?=\s*(?:[*-]|\d+\.|\|) )", block) if b.strip()]
    return blocks


def _math(text: str) -> list[str]:
    """The LaTeX of every $$...$$ and $...$ span (code spans and fences removed first)."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    spans = re.findall(r"\$\$(.+?)\$\$", text, flags=re.S)
    text = re.sub(r"\$\$(.+?)\$\$", " ", text, flags=re.S)
    return spans + re.findall(r"(?<!\\)\$(.+?)(?<!\\)\$", text, flags=re.S)


def _squash(tex: str) -> str:
    """LaTeX without spacing and sizing commands or whitespace, for pattern matching."""
    tex = re.sub(r"\\(?:left|right|bigg|Bigg|Big|big|displaystyle|textstyle)(?![a-zA-Z])", "", tex)
    tex = re.sub(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])", "", tex)
    tex = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", tex)
    return re.sub(r"\s+", "", tex).replace(r"\top", "T").replace(r"\mathsf{T}", "T").replace("^{T}", "^T")


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


# ----------------------------------------------------------------------------------------------------
# a small reader for the arithmetic LaTeX the course writes (enough for x^n, fractions, sin, e^x, ...)

_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)
_FUNCS = {"sin": "sin", "cos": "cos", "tan": "tan", "ln": "log", "log": "log", "exp": "exp", "tanh": "tanh"}


def _group(s: str, i: int) -> tuple[str, int]:
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1:j], j + 1
    raise ValueError("unbalanced braces")


def _arg(s: str, j: int) -> tuple[str, int]:
    while j < len(s) and s[j] == " ":
        j += 1
    return _group(s, j) if s[j] == "{" else (s[j], j + 1)


def _to_python(tex: str) -> str:
    """sympy-parsable text for simple LaTeX arithmetic; ValueError for anything else."""
    s = re.sub(r"\\(?:left|right|bigg|Bigg|Big|big|displaystyle|textstyle)(?![a-zA-Z])|(?<!\\)\\[,;:! ]", " ", tex)
    s = s.replace(r"\cdot", "*").replace(r"\times", "*")
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            name = re.match(r"\\([a-zA-Z]+)", s[i:]).group(1)
            j = i + 1 + len(name)
            if name in ("frac", "dfrac", "tfrac"):
                a, j = _arg(s, j)
                b, j = _arg(s, j)
                if re.match(r"\s*(d|\\partial)\b|\s*d[a-zA-Z]", a) and re.match(r"\s*(d|\\partial)", b):
                    raise ValueError("a derivative fraction")
                out.append(f"(({_to_python(a)})/({_to_python(b)}))")
            elif name == "sqrt":
                a, j = _arg(s, j)
                out.append(f"sqrt({_to_python(a)})")
            elif name in _FUNCS:
                out.append(f" {_FUNCS[name]} ")
            else:
                raise ValueError(f"\\{name}")
            i = j
        elif c in "^_":
            a, j = _arg(s, i + 1)
            if c == "_":
                if not re.fullmatch(r"\w+", a):
                    raise ValueError("subscript")
                out.append(f"_{a}")
            else:
                out.append(f"**({_to_python(a)})")
            i = j
        elif c in "[]|<>:;'\"{}&":
            raise ValueError(c)
        else:
            out.append(c)
            i += 1
    return re.sub(r"\be\*\*", "E**", "".join(out))


def parse_tex(tex: str) -> sp.Expr:
    text = _to_python(tex)
    if not text.strip():
        raise ValueError("empty")
    expr = parse_expr(text, transformations=_TRANSFORMS, local_dict={"E": sp.E, "e": sp.E})
    if not isinstance(expr, sp.Expr):
        raise ValueError("not an expression")
    return expr


def _split_top(s: str, seps: list[str]) -> list[str]:
    parts, cur, depth, i = [], [], 0, 0
    while i < len(s):
        depth += {"(": 1, "{": 1, "[": 1, ")": -1, "}": -1, "]": -1}.get(s[i], 0)
        hit = next((sep for sep in seps if s.startswith(sep, i)), None) if depth == 0 else None
        if hit:
            parts.append("".join(cur))
            cur, i = [], i + len(hit)
        else:
            cur.append(s[i])
            i += 1
    return parts + ["".join(cur)]


_DERIV = re.compile(r"^\s*\\[dt]?frac\s*\{\s*(?:d|\\partial)\s*\}\s*\{\s*(?:d|\\partial)\s*([a-zA-Z])\s*\}(.*)$", re.S)
_NAME = re.compile(r"^\s*[a-zA-Z](?:_\{?\w+\}?)?'*\s*(?:\(.*\))?\s*$", re.S)
_FUNCTION_LETTERS = {"f", "g", "h", "F", "G", "H"}
_SKIP_STATEMENT = re.compile(r"\\approx|\\leq?(?![a-zA-Z])|\\geq?(?![a-zA-Z])|\\neq?(?![a-zA-Z])|<|>|\\to(?![a-zA-Z])"
                             r"|\\mapsto|\\in(?![a-zA-Z])|\\leftarrow|\\lim|\\int|\\equiv|\\propto"
                             r"|[a-zA-Z}]\s*\\times|\\times\s*[a-zA-Z\\]")  # m \times n is a shape, not a product


def _side(side: str):
    """('value', expr) for readable arithmetic or a derivative d/dv(...) of it, ('name', None) for a bare
    name such as y or f(x) (a definition), (None, None) when unreadable."""
    side = side.strip().rstrip(".,;")
    m = _DERIV.match(side)
    if m:
        var, operand = m.groups()
        try:
            expr = parse_tex(operand)
        except Exception:
            return None, None
        if {s.name for s in expr.free_symbols} & _FUNCTION_LETTERS:
            return None, None
        return "value", sp.diff(expr, sp.Symbol(var))
    if re.search(r"(?<![a-zA-Z\\])d[a-zA-Z]\s*/", side):
        return None, None
    if _NAME.match(side) and not re.fullmatch(r"\s*\d+\s*", side):
        return "name", None
    try:
        return "value", parse_tex(side)
    except Exception:
        return None, None


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    rng = random.Random(0)
    symbols = a.free_symbols | b.free_symbols
    for _ in range(5):
        point = {s: sp.Rational(rng.randint(30, 170), 100) for s in symbols}
        try:
            va, vb = complex(sp.N(a.subs(point))), complex(sp.N(b.subs(point)))
        except (TypeError, ValueError):
            continue
        if va == va and vb == vb and abs(va) != float("inf") and abs(vb) != float("inf") \
                and abs(va - vb) > 1e-9 * max(1.0, abs(va), abs(vb)):
            return False
    return True


def identity_problems(text: str, checked: list | None = None) -> list[str]:
    """Every chain A = B = C in the math whose neighbouring sides are readable arithmetic (or d/dx of it)
    must hold. Pairs with different free symbols are skipped (they rely on a definition made elsewhere)."""
    problems = []
    for span in _math(text):
        span = re.sub(r"(?<!\\)\\[,;:! ]", " ", span)
        for stmt in _split_top(span, [r"\qquad", r"\quad", ",", ";", r"\text", "\\\\", "&", r"\Rightarrow"]):
            if _SKIP_STATEMENT.search(stmt):
                continue
            sides = _split_top(stmt, ["="])
            last = None  # the previous readable side: A = (unreadable) = C still needs A = C
            for side in sides:
                kind, value = _side(side)
                if kind == "name":
                    last = None
                if kind != "value":
                    continue
                if last is not None and (last[1].free_symbols == value.free_symbols or _DERIV.match(last[0])):
                    if checked is not None:
                        checked.append(f"{last[0].strip()} = {side.strip()}")
                    if not _equal(last[1], value):
                        problems.append(f"${last[0].strip()} = {side.strip()}$ does not hold")
                last = (side, value)
    return problems


# ----------------------------------------------------------------------------------------------------
# the checks (each returns one line per problem)


def garbled_problems(text: str) -> list[str]:
    """001-15 (χⁿ), 001-17 (an integral as the partial-derivative operator), part B (Cyrillic С, ∩ as the
    element-wise operator, LaTeX that lost its backslashes)."""
    patterns = {
        "χ (chi) from the extraction": r"χ|\\chi\b",
        "a Cyrillic letter": r"[\u0400-\u04FF]",
        "an integral (the course never integrates)": r"∫|\\i?int(?![a-zA-Z])",
        "∩ used as the element-wise operator": r"∩|\\cap\b",
        "LaTeX with a lost backslash": r"(?<!\\b)egin\{|(?<!\\n)abla\b|(?<!\\)\bfrac\{",
    }
    return [f"{label}: {m.group(0)!r}" for label, pat in patterns.items() for m in re.finditer(pat, text)]


_MAP = re.compile(r"(?<![\\\w])([a-zA-Z])\s*:\s*\\?(?:mathbb\{)?([A-Z])\}?(?:\^\{?([\w]+)\}?)?\s*"
                  r"(?:\\to|→|\\rightarrow|\\longrightarrow)\s*\\?(?:mathbb\{)?([A-Z])\}?(?:\^\{?([\w]+)\}?)?")
_COMPOSED = re.compile(r"(?<![\\\w])([a-zA-Z])\s*\\circ\s*([a-zA-Z])\s*:\s*\\?(?:mathbb\{)?([A-Z])\}?"
                       r"(?:\^\{?(\w+)\}?)?\s*(?:\\to|→|\\rightarrow)\s*\\?(?:mathbb\{)?([A-Z])\}?(?:\^\{?(\w+)\}?)?")


def composition_problems(text: str) -> list[str]:
    """000-02: with f: X→Y and g: Y→Z, g∘f maps X→Z. 000-19: the point of a Jacobian lives in the domain."""
    problems = []
    for para in _paragraphs(text):
        flat = re.sub(r"\\mathbf\{(\w)\}|\\mathbf (\w)", lambda m: m.group(1) or m.group(2), para)
        maps = {}
        for name, d, dn, c, cn in _MAP.findall(flat.replace("$", "")):
            maps[name] = ((d, dn), (c, cn))
        for outer, inner, d, dn, c, cn in _COMPOSED.findall(flat.replace("$", "")):
            if inner in maps and maps[inner][0] != (d, dn):
                problems.append(f"{outer}∘{inner} starts at {d}{dn}, but {inner} starts at {''.join(maps[inner][0])}")
            if outer in maps and maps[outer][1] != (c, cn):
                problems.append(f"{outer}∘{inner} lands in {c}{cn}, but {outer} maps into {''.join(maps[outer][1])}")
        # the point a of f: R^n -> R^m has n coordinates
        points = re.findall(r"\ba\s*\\in\s*\\mathbb\{R\}(?:\^\{?(\w+)\}?)?", flat.replace("$", ""))
        vector_maps = [(d, dn) for (d, dn), _ in maps.values() if d == "R"]
        if points and len(vector_maps) == 1:
            for dim in points:
                if dim != vector_maps[0][1]:
                    problems.append(f"the point a is in R^{dim or 1}, but the map starts in R^{vector_maps[0][1] or 1}")
        if re.search(r"\ba\b[^.]{0,40}belong\w*\s+to\s+(the\s+)?real\s+numbers", flat, re.I):
            problems.append("the point a is said to belong to the real numbers (it is a vector of the domain)")
    return problems


_FRAC = re.compile(r"\\[dt]?frac\{(d|\\partial)\s*([^{}]+?)\}\{(?:d|\\partial)\s*([^{}]+?)\}")


def chain_link_problems(text: str) -> list[str]:
    """001-54, 001-57, 001-61: in `dy/dx = dy/du du/dx`-style products, each denominator is the variable
    the next numerator is written in, and the chain starts at the left-hand numerator and ends at its
    denominator (the outer factor first)."""
    problems = []
    for span in _math(text):
        s = _squash(span).replace(r"\cdot", "")
        for m in re.finditer(r"(?:\\[dt]?frac\{(?:d|\\partial)[^{}]+\}\{(?:d|\\partial)[^{}]+\}){2,}", s):
            factors = [(n, d) for _, n, d in _FRAC.findall(m.group(0))]
            before = s[:m.start()]
            lhs = re.search(r"\\[dt]?frac\{(d|\\partial)([^{}]+)\}\{(?:d|\\partial)([^{}]+)\}=$", before)
            if not lhs or lhs.group(1) != "d" or any(not re.fullmatch(r"[a-zA-Z](_\{?\w+\}?)?", v)
                                                   for pair in factors for v in pair):
                continue
            top, bottom = lhs.group(2), lhs.group(3)
            linked = all(d == n for (_, d), (n, _) in zip(factors, factors[1:], strict=False))
            if linked and factors[0][0] == top and factors[-1][1] == bottom:
                continue
            balance = Counter(n for n, _ in factors)
            balance.subtract(d for _, d in factors)
            balance.subtract([top])
            balance.update([bottom])
            if any(balance.values()):
                shown = " ".join(f"d{n}/d{d}" for n, d in factors)
                problems.append(f"d{top}/d{bottom} = {shown}: the factors do not link up")
    return problems


def relu_jacobian_problems(text: str) -> list[str]:
    """001-88, 002-24: the Jacobian of max(0, x) on a vector is diag(1[x_i > 0]), not a vector of 0s/1s."""
    problems = []
    for span in _math(text):
        s = _squash(span)
        for m in re.finditer(r"(?:\\frac\{\\partial\\max\(0,\\mathbf\{x\}\)\}\{\\partial\\mathbf\{x\}\}|"
                             r"\\frac\{\\partial\}\{\\partial\\mathbf\{x\}\}\\max\(0,\\mathbf\{x\}\))=([^=]{0,25})", s):
            if not m.group(1).startswith(r"\operatorname{diag}"):
                problems.append(f"the Jacobian of max(0, x) is written {m.group(1)!r}, not as diag(...)")
    for para in _paragraphs(text):
        if re.search(r"vector\s+of\s+(zeros\s+and\s+ones|0s\s+and\s+1s)", para, re.I) and not re.search(
                r"diagonal|not|only|mistake", para, re.I):
            problems.append(f"'vector of zeros and ones' without saying it is only the diagonal: {para[:90]!r}")
    return problems


_OPS = {"+": lambda w, x: w + x, "-": lambda w, x: w - x, r"\otimes": lambda w, x: w * x,
        r"\oslash": lambda w, x: w / x}
_W, _X = sp.symbols("w x")


def _diag_entry(tex: str):
    """The diagonal entry a claimed element-wise Jacobian stands for, as a sympy expression in w and x."""
    s = _squash(tex).strip("$")
    if s in ("I", "-I"):
        return sp.Integer(1 if s == "I" else -1)
    m = re.fullmatch(r"\\operatorname\{diag\}\((.*)\)", s)
    if not m:
        raise ValueError(tex)
    inner = re.sub(r"\\dots,|,\\dots|\\ldots,|,\\ldots", "", m.group(1))
    inner = re.sub(r"\\mathbf\{(w|x)\}|(w|x)_i", lambda k: k.group(1) or k.group(2), inner)
    return parse_tex(inner)


def elementwise_problems(text: str) -> list[str]:
    """001-37, 001-38: the Jacobians of w∘x w.r.t. w and x (⊘ gives diag(1/x_i) and diag(-w_i/x_i²), ⊗ gives
    diag(x) and diag(w)), in equations and tables. 001-41: row k of the element-wise definition uses f_k, g_k."""
    problems = []
    for span in _math(text):
        s = _squash(span)
        for f_i, g_i in re.findall(r"f_\{?(\w+)\}?\(\\mathbf\{w\}\)\\bigcirc\s*g_\{?(\w+)\}?\(", s):
            if f_i != g_i:
                problems.append(f"f_{f_i}(w) ○ g_{g_i}(x): an element-wise row uses the same index twice")
        for m in re.finditer(r"(?:\\frac\{\\partial\(\\mathbf\{w\}(\+|-|\\otimes|\\oslash)\\mathbf\{x\}\)\}\{\\partial"
                             r"\\mathbf\{(w|x)\}\}|\\partial\(\\mathbf\{w\}(\+|-|\\otimes|\\oslash)\\mathbf\{x\}\)/"
                             r"\\partial\\mathbf\{(w|x)\})=(-?I(?![a-zA-Z])|\\operatorname\{diag\}\((?:[^()]|\([^()]*\))*\))", s):
            op, wrt, claim = m.group(1) or m.group(3), m.group(2) or m.group(4), m.group(5)
            problems += _compare_entry(op, wrt, claim)
    # tables: | $w op x$ | d/dw | d/dx |
    for table in re.findall(r"(?:^\|.*\|\s*$\n?)+", text, flags=re.M):
        rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in table.strip().splitlines()]
        header = [_squash(c) for c in rows[0]]
        cols = {}
        for j, h in enumerate(header):
            for wrt in "wx":
                if re.search(r"\\partial\\mathbf\{y\}/\\partial\\mathbf\{" + wrt + r"\}", h):
                    cols[wrt] = j
        both = [j for j, h in enumerate(header) if h.lower() == "derivative"]  # "$d/dw$, $d/dx$" in one cell
        if len(cols) != 2 and not both:
            continue
        for row in rows[2:]:
            m = re.fullmatch(r"\$\\mathbf\{w\}(\+|-|\\otimes|\\oslash)\\mathbf\{x\}\$", _squash(row[0]))
            if not m:
                continue
            if len(cols) == 2:
                pairs = [(wrt, row[j]) for wrt, j in cols.items()]
            else:
                spans = re.findall(r"\$[^$]+\$", row[both[0]])
                pairs = list(zip("wx", spans, strict=False)) if len(spans) == 2 else []
            for wrt, claim in pairs:
                problems += _compare_entry(m.group(1), wrt, claim)
    return problems


def _compare_entry(op: str, wrt: str, claim: str) -> list[str]:
    try:
        got = _diag_entry(claim)
    except Exception:
        return [f"cannot read the Jacobian {claim!r} of w {op} x w.r.t. {wrt}"]
    want = sp.diff(_OPS[op](_W, _X), _W if wrt == "w" else _X)
    if sp.simplify(got.subs({sp.Symbol("w"): _W, sp.Symbol("x"): _X}) - want) != 0:
        return [f"d(w {op} x)/d{wrt} is written {claim!r}; its diagonal entry is {want}"]
    return []


def neuron_problems(text: str) -> list[str]:
    """001-93, 001-95, 001-102, 001-103: a gradient of the batch loss carries one indicator per sample,
    inside the sum; case splits at the kink do not overlap (≤ 0 and > 0, never ≤ 0 and ≥ 0)."""
    problems = []
    for span in _math(text):
        s = _squash(span)
        for cases in re.findall(r"\\begin\{cases\}(.*?)\\end\{cases\}", s):
            conditions = [row.split("&", 1)[1] for row in cases.split("\\\\") if "&" in row]
            if re.search(r"\\le(?:q)?0", cases) and re.search(r"\\ge(?:q)?0", cases) \
                    or len(set(conditions)) < len(conditions):
                problems.append(f"overlapping cases at 0: {cases[:80]!r}")
        for m in re.finditer(r"(?:\\frac\{\\partialC\}\{\\partial(?:\\mathbf\{w\}|b|\\hat\{\\mathbf\{w\}\})\}"
                             r"|\\nabla_\{?(?:\\mathbf\{w\}|\\hat\{\\mathbf\{w\}\})\}?C)=(.*)", s):
            rhs = _split_top(m.group(1), ["="])[0]
            if r"\sum" not in rhs:
                continue
            if r"\begin{cases}" in rhs or not re.search(r"\\mathbb\{1\}\[[^\]]*_i|\\mathbb\{1\}\[z_i|m_i|\\mathbf\{m\}",
                                                       rhs):
                problems.append(f"a batch gradient without a per-sample activity test inside the sum: {rhs[:90]!r}")
    return problems


def bias_average_problems(text: str) -> list[str]:
    """001-104, 002-35: ∂C/∂b = (2/N) Σ 1[z_i>0] e_i is twice the average error; the average is over all N
    samples (inactive ones count as 0), not over the active ones."""
    problems = []
    for para in _paragraphs(text):
        if re.search(r"average\s+error", para, re.I) and not re.search(r"twice|\b2\s*(×|\\times|times)", para, re.I):
            problems.append(f"'average error' without the factor 2: {para[:100]!r}")
        if re.search(r"average[^.]{0,30}?over\s+the\s+active\s+samples", para, re.I):
            problems.append(f"the bias gradient averages over all N samples, not the active ones: {para[:100]!r}")
    return problems


def update_problems(text: str) -> list[str]:
    """001-98, 002-31: gradient descent updates the parameters w, b (never the input x), against the gradient."""
    problems = []
    for span in _math(text):
        s = _squash(span)
        if re.search(r"\\mathbf\{x\}(?:_\{?\w+\}?)?\\leftarrow|\\mathbf\{x\}_\{t\+1\}", s):
            problems.append(f"an update of the input x: {s[:80]!r}")
        for target, rest in re.findall(r"([^\s=]+?)\\leftarrow(.{0,40})", s):
            if re.match(re.escape(target) + r"\+", rest):
                problems.append(f"a step along the gradient: {s[:80]!r}")
        if re.search(r"_\{t\+1\}=[^=]*?_t\+\\eta", s):
            problems.append(f"a step along the gradient: {s[:80]!r}")
    for para in _paragraphs(text):
        if re.search(r"updat\w*\s+(the\s+)?(input|\$\\mathbf\{x\}\$|\$x\$|x\b)", para, re.I) and not re.search(
                r"\bnot\b|never|instead|source|stay", para, re.I):
            problems.append(f"updating the input x: {para[:100]!r}")
    return problems


def sigmoid_problems(text: str) -> list[str]:
    """000-07: 1/(1 + e^{-x}) is the logistic sigmoid; calling it softmax is the seed's error."""
    problems = []
    for para in _paragraphs(text):
        squashed = _squash(para)
        if "softmax" in para.lower() and re.search(r"\\frac\{1\}\{1\+e\^\{-\w\}\}|1/\(1\+e\^\{-\w\}\)", squashed):
            if not re.search(r"\bnot\b|mislabel|unlike|special case|first entry|agree only|is the (logistic )?sigmoid", para, re.I):
                problems.append(f"the sigmoid formula next to 'softmax': {para[:100]!r}")
    return problems


# ----------------------------------------------------------------------------------------------------
# tests on the course


def _all(check) -> list[str]:
    return [f"{where}: {p}" for where, _, text in DOCS for p in check(text)]


@pytest.mark.parametrize("check", [garbled_problems, composition_problems, chain_link_problems,
                                   relu_jacobian_problems, elementwise_problems, neuron_problems,
                                   bias_average_problems, update_problems, sigmoid_problems],
                         ids=lambda c: c.__name__)
def test_the_course_does_not_repeat_an_erratum(check):
    assert not _all(check), _report(_all(check))


def test_stated_derivatives_and_identities_hold():
    """000-04, 000-06, 000-16, 001-54 and every other worked step written as arithmetic: each readable
    `A = B` holds, and d/dx(...) = ... is the derivative sympy computes. Common-mistakes sections show
    wrong formulas on purpose and are skipped."""
    checked: list[str] = []
    problems = [f"{where}: {p}" for where, heading, text in DOCS if "mistake" not in heading.lower()
                for p in identity_problems(text, checked)]
    assert not problems, _report(problems)
    assert len(checked) >= 30, f"the reader understood only {len(checked)} equations: {checked}"


def _lesson_code_diagnostics(paths: list[Path]) -> list[str]:
    """ruff's undefined names (F821) in all code, and unused parameters (ARG001) outside answer cells,
    whose signatures the exercise fixes."""
    ruff = Path(sys.executable).with_name("ruff")
    ruff = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    proc = subprocess.run([ruff, "check", "--isolated", "--select", "F821,ARG001", "--output-format",
                           "json", *map(str, paths)], capture_output=True, text=True, cwd=REPO)
    found = []
    for item in json.loads(proc.stdout or "[]"):
        path = Path(item["filename"])
        cell = item.get("cell")
        if path.suffix == ".ipynb" and cell is not None and item["code"] == "ARG001":
            meta = _notebook_cells(path)[cell - 1].get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                continue
        found.append(f"{path.name} cell {cell}: {item['code']} {item['message']}")
    return found


def test_lesson_code_uses_its_own_variables():
    """000-08 (sigmoid(z) computing with x) and 000-09 (returning an undefined v): no function in the
    notebooks reads an undefined name or ignores a parameter."""
    problems = _lesson_code_diagnostics(NOTEBOOKS)
    assert not problems, _report(problems)


# ----------------------------------------------------------------------------------------------------
# each check catches the seed's error


SEED_ERRORS = {
    "000-02": (composition_problems, r"If $f: X \to Y$ and $g: Y \to Z$, then $g\circ f: X \to Y$."),
    "000-04": (identity_problems, r"$\frac{d}{dx}(x-2)^2 = 2(x-2)^2$"),
    "000-06": (identity_problems, r"$\frac{d}{dx}\cos((x-2)^3) = -\sin((x-2)^3)\cdot 3(x-2)$"),
    "000-07": (sigmoid_problems, r"Take the softmax function $z(x) = \frac{1}{1+e^{-x}}$ as an example."),
    "000-16": (identity_problems, r"$(t^4+5)\cdot 2t = 2t^6 + 10t$"),
    "000-19": (composition_problems, r"Given $g: \mathbb{R}^n \to \mathbb{R}^m$ and a point $a$ belonging to "
                                     r"Real Numbers."),
    "000-19b": (composition_problems, r"For $\mathbf{g}: \mathbb{R}^n \to \mathbb{R}^m$ and a point "
                                      r"$\mathbf{a} \in \mathbb{R}^m$."),
    "001-15": (garbled_problems, r"power rule: $f(x) = χ^n$"),
    "001-17": (garbled_problems, r"$\frac{\partial}{\partial x}(a) = \frac12\int_{-\infty}^{\infty} f(x)dx$"),
    "001-37": (elementwise_problems, r"$\frac{\partial (\mathbf{w} \oslash \mathbf{x})}{\partial \mathbf{w}} = "
                                     r"\operatorname{diag}(\mathbf{x})$"),
    "001-38": (elementwise_problems, "| op | $\\partial\\mathbf{y}/\\partial\\mathbf{w}$ | "
                                     "$\\partial\\mathbf{y}/\\partial\\mathbf{x}$ |\n|---|---|---|\n"
                                     "| $\\mathbf{w} \\oslash \\mathbf{x}$ | $\\operatorname{diag}(1/x_i)$ | "
                                     "$\\operatorname{diag}(w_i/x_i^2)$ |\n"),
    "001-41": (elementwise_problems, r"$\begin{bmatrix} f_1(\mathbf{w}) \bigcirc g_1(\mathbf{x}) \\ "
                                     r"f_n(\mathbf{w}) \bigcirc g_2(\mathbf{x}) \end{bmatrix}$"),
    "001-54": (chain_link_problems, r"$\frac{dy}{dx} = \frac{du}{dx}\frac{dy}{dx}$"),
    "001-57": (chain_link_problems, r"$\frac{dy}{dx} = \frac{dy}{du_2}\frac{du_2}{du_3}\frac{du_1}{dx}$"),
    "001-61": (chain_link_problems, r"$\frac{dy}{dx} = \frac{du_4}{du_3}\frac{du_3}{du_2}\frac{du_1}{du_1}"
                                    r"\frac{du_1}{dx}$"),
    "001-88": (relu_jacobian_problems, r"$\frac{\partial}{\partial \mathbf{x}} \max(0, \mathbf{x}) = "
                                       r"\begin{bmatrix} 0 \\ 1 \end{bmatrix}$"),
    "002-24": (relu_jacobian_problems, "Applied to a vector we get a vector of zeros and ones."),
    "001-93": (neuron_problems, r"$$\begin{cases} 0 & \mathbf{w}\cdot\mathbf{x}_i + b \le 0 \\ -2v\mathbf{x}^T & "
                                r"\mathbf{w}\cdot\mathbf{x}_i + b \ge 0 \end{cases}$$"),
    "001-95": (neuron_problems, r"$$\frac{\partial C}{\partial \mathbf{w}} = \begin{cases} \vec 0^T & "
                                r"\mathbf{w}\cdot\mathbf{x} + b \le 0 \\ \frac{2}{N}\sum_{i=1}^N (\mathbf{w}\cdot"
                                r"\mathbf{x}_i + b - y_i)\mathbf{x}_i^T & \mathbf{w}\cdot\mathbf{x} + b > 0 "
                                r"\end{cases}$$"),
    "001-102": (neuron_problems, r"$$\frac{\partial C}{\partial b} = \begin{cases} 0 & \mathbf{w}\cdot\mathbf{x}_i + b "
                                 r"\le 0 \\ \frac{2}{N}\sum_i e_i & \mathbf{w}\cdot\mathbf{x}_i + b \le 0 \end{cases}$$"),
    "001-103": (neuron_problems, r"$$\frac{\partial C}{\partial b} = \frac{2}{N}\sum_{i=1}^N e_i$$"),
    "001-98": (update_problems, "We want to update x in the opposite direction of the gradient."),
    "002-31": (update_problems, r"$\mathbf{x} \leftarrow \mathbf{x} - \eta \nabla C$"),
    "descent-sign": (update_problems, r"$\mathbf{w} \leftarrow \mathbf{w} + \eta\,\nabla_{\mathbf{w}} C$"),
    "001-104": (bias_average_problems, "The partial derivative is then just the average error."),
    "002-35": (bias_average_problems, "It is the average error or zero."),
    "active-mean": (bias_average_problems, "It is twice the average error over the active samples."),
}


@pytest.mark.parametrize("erratum", sorted(SEED_ERRORS))
def test_the_checks_catch_the_seed_errata(erratum):
    check, text = SEED_ERRORS[erratum]
    assert check(text), f"{check.__name__} misses erratum {erratum}: {text}"


def test_the_code_check_catches_the_seed_sigmoid(tmp_path):
    """000-08 and 000-09 as the blog post wrote them."""
    seed = tmp_path / "seed_sigmoid.py"
    seed.write_text("import numpy as np\n\n\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-1 * x))\n\n\n"
                    "def sigmoid_steps(z):\n    a = -x\n    b = np.exp(a)\n    c = 1 + b\n    d = 1 / c\n"
                    "    return v\n")
    found = " ".join(_lesson_code_diagnostics([seed]))
    assert "F821" in found and "ARG001" in found and "`v`" in found, found


# ----------------------------------------------------------------------------------------------------
# coverage of ERRATA.md and originality of the text (need the seeds, which are not shipped)


def _need_seeds():
    if not (SEEDS / "ERRATA.md").is_file():
        pytest.skip(f"the seed texts are not at {SEEDS} (set CHAINRULE_SEEDS)")


def test_every_checked_erratum_has_a_check():
    _need_seeds()
    part_a = (SEEDS / "ERRATA.md").read_text(encoding="utf-8").split("## B.")[0]
    ids = set(re.findall(r"^\| (\d{3}-\d{2,3}) \|", part_a, flags=re.M))
    assert len(ids) >= 20, "could not read the errata table"
    covered = {key.rstrip("b") for key in SEED_ERRORS} | {"000-08", "000-09"}  # those two: the code test
    assert ids <= covered, f"errata with no check: {sorted(ids - covered)}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _prose(text: str) -> str:
    """Text without math, code and HTML tags: what a reader sees as sentences."""
    text = re.sub(r"```.*?```|`[^`\n]*`|<[^>]+>", " ", text, flags=re.S)
    text = re.sub(r"\$\$.+?\$\$", " ", text, flags=re.S)
    return re.sub(r"(?<!\\)\$.+?(?<!\\)\$", " ", text, flags=re.S)


SHINGLE = 8  # words in a row: a shared run this long is a copied sentence, not a shared term
ALLOWED_RUNS = {"the matrix calculus you need for deep learning"}  # the cited title of seed 001


def _shingles(text: str) -> set[str]:
    w = _words(text)
    return {" ".join(w[i:i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}


def copied_runs(text: str, seed_shingles: set[str]) -> list[str]:
    return sorted(r for r in _shingles(_prose(text)) & seed_shingles
                  if not any(r in allowed or allowed in r for allowed in ALLOWED_RUNS))


def test_prose_is_not_copied_from_the_seeds():
    """No run of 8 words (math, code and markup removed) is shared with a seed text."""
    _need_seeds()
    seed_shingles = set().union(*(_shingles(_prose(p.read_text(encoding="utf-8", errors="replace")))
                                  for p in sorted(SEEDS.glob("0*.txt"))))
    assert seed_shingles
    problems = [f"{where}: {copied}" for where, _, text in DOCS if (copied := copied_runs(text, seed_shingles))]
    assert not problems, _report(problems)
    # the check itself sees a copied sentence
    sample = next(iter(sorted(seed_shingles)))
    assert copied_runs(f"Here we write {sample} in our own page.", seed_shingles)


_SEED_TALK = re.compile(r"\bseeds\b|\bseeds'|extracted text", re.IGNORECASE)


def seed_talk_problems(text: str) -> list[str]:
    """The course cites its sources by name, as a textbook does: never "the seeds" or "extracted text"."""
    return [f"{m.group(0)!r} in {text[max(0, m.start() - 40):m.end() + 40]!r}" for m in _SEED_TALK.finditer(text)]


def test_lesson_text_cites_sources_by_name():
    """Markdown and code (comments and printed text reach the student) of every notebook."""
    problems = [f"{nb.stem} cell {i}: {p}" for nb in NOTEBOOKS
                for i, cell in enumerate(_notebook_cells(nb)) for p in seed_talk_problems("".join(cell["source"]))]
    assert not problems, _report(problems)
    assert seed_talk_problems("print(\"seeds' version:\", report)") and seed_talk_problems(
        "The extracted text of source 001 mangles it.")
    assert not seed_talk_problems("rng = np.random.default_rng(seed=5)  # a fixed seed")
