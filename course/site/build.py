"""Build the course site (Jupyter Book 1) from the student copies: `python course/site/build.py`.

Reads ONLY course/release/<a>/<a>.ipynb (what `python -m autograder release` writes), never
course/source, so no solution or hidden test can reach the site. Writes into course/site/_generated/:
- <a>/<a>.ipynb, a "reader copy" of each student copy: lesson and worked-example cells kept (the book
  executes them for outputs and figures); exercise prompts and answer stubs kept, with the stubs (and
  any later cell that uses a name they define) tagged `skip-execution`; self-check/test cells and
  "YOUR ANSWER HERE" cells dropped; <details> hint blocks turned into MyST dropdowns (so their math
  renders); sections numbered "N. Title"; "(source 003)" moved out of headings into a References
  section (citations.py); figure alt text from the cell's `mystnb.image.alt` metadata (else made up
  from the plot's titles, with a warning);
- downloads/ and get-notebooks.md: the student copies, their folders as zips, a student environment
  and launcher (student_kit.py); reference.md, rendered from reference_rules.py; _toc.yml;
- static/: the vendored MathJax 3 from autograder/assets/mathjax (its fonts; the whole of it where math
  must be typeset in the browser) and the copy script.
After the book is built, the math of every page written is typeset into the HTML (autograder/mathrender.py:
MathJax in one node process, results cached in _build/.math_cache), so pages need no math JavaScript;
where node or tools/node's npm packages are missing the build says so in one line and pages typeset in the
browser as before. Files are rewritten only when their content changes, so jupyter-cache and Sphinx's
incremental build hold and a rebuild with nothing changed executes nothing. Output: course/site/_build/html.
"""
from __future__ import annotations

import argparse
import ast
import filecmp
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

SITE = Path(__file__).resolve().parent
COURSE = SITE.parent
REPO = COURSE.parent
GENERATED = SITE / "_generated"
SKIP = "skip-execution"
sys.path.insert(0, str(SITE))
if importlib.util.find_spec("autograder") is None:  # run with a Python that has not installed the project
    sys.path.append(str(REPO))
import citations  # noqa: E402
import student_kit  # noqa: E402

from autograder import mathrender  # noqa: E402
from autograder.html import DETAILS  # noqa: E402


class BuildError(Exception):
    """A problem the user can fix, reported as one line."""


# ----------------------------------------------------------------------------------------------------
# files that keep their mtime when unchanged


def write_if_changed(path: Path, text: str) -> bool:
    """Write text to path unless it already holds exactly that; True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def write_bytes_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def copy_if_changed(src: Path, dst: Path) -> bool:
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return True


def sync_tree(src: Path, dst: Path, keep=lambda p: True, also: tuple[str, ...] = ()) -> None:
    """Make dst a copy of src (files passing `keep`), touching only files that differ; files named in
    `also` (paths relative to dst) are left alone."""
    wanted = {Path(a) for a in also}
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        if f.is_file() and keep(rel):
            wanted.add(rel)
            copy_if_changed(f, dst / rel)
    if dst.is_dir():
        for f in sorted(dst.rglob("*"), reverse=True):
            rel = f.relative_to(dst)
            if f.is_file() and rel not in wanted:
                f.unlink()
            elif f.is_dir() and not any(f.iterdir()):
                f.rmdir()


# ----------------------------------------------------------------------------------------------------
# reader copies

_TAG = re.compile(r"<[^>]+>")
_SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def details_to_dropdowns(markdown: str) -> str:
    """<details><summary>T</summary>body</details> (on its own lines) -> a MyST dropdown, so math renders."""
    def repl(m: re.Match) -> str:
        title = _TAG.sub("", m.group(1)).strip() or "Details"
        body = m.group(2).strip()
        return f"\n::::{{dropdown}} {title}\n{body}\n::::\n"
    return DETAILS.sub(repl, markdown)


_FENCE = re.compile(r"(^[ \t]*(```|~~~).*?^[ \t]*\2[ \t]*$)", re.DOTALL | re.MULTILINE)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
_DISPLAY_LINES = re.compile(r"^([ \t]*)\$\$(.+?)\$\$[ \t]*$", re.DOTALL | re.MULTILINE)


def _display_block(m: re.Match) -> str:
    indent, body = m.group(1), " ".join(ln.strip() for ln in m.group(2).split("\n"))
    return f"\n{indent}$$\n{indent}{body.strip()}\n{indent}$$\n"


def one_line_display_math(markdown: str) -> str:
    """Make every $$...$$ outside code fences parse in MyST as it renders in Jupyter: a $$ block whose lines
    start and end a line becomes a block of its own (blank lines around, same indent, so it stays in its
    list item); any other $$...$$ is joined onto one line (newlines inside TeX are just spaces)."""
    parts = _FENCE.split(markdown)
    out = []
    for i, part in enumerate(parts):
        if i % 3 == 0:  # text between fences (split yields text, fence, fence-marker, text, ...)
            part = _DISPLAY_LINES.sub(_display_block, part)
            part = _DISPLAY.sub(lambda m: "$$" + " ".join(ln.strip() for ln in m.group(1).split("\n")) + "$$",
                                part)
        if i % 3 != 2:
            out.append(part)
    return "".join(out)


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at top level (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def used_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _plot_helper_docs() -> dict[str, str]:
    """First docstring line of each public chainrule_utils.plots function (alt text for their figures)."""
    try:
        from chainrule_utils import plots
    except Exception:
        return {}
    docs = {}
    for name in dir(plots):
        obj = getattr(plots, name)
        if not name.startswith("_") and callable(obj) and getattr(obj, "__doc__", None):
            docs[name] = obj.__doc__.strip().splitlines()[0].rstrip(".")
    return docs


def _plain(text: str) -> str:
    """TeX and markdown stripped to readable words for alt text."""
    text = re.sub(r"\\(mathrm|mathbf|text|operatorname)\{([^}]*)\}", r"\2", text)
    text = text.replace("$", "").replace("\\", "").replace("`", "").replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def figure_alt(source: str, heading: str, helper_docs: dict[str, str]) -> str:
    """Alt text for the figures a code cell draws: its titles, else the plot helper's purpose, + section."""
    titles, helpers = [], []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call):
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fname in ("title", "set_title", "suptitle", "set_label"):
                for a in node.args[:1]:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.strip():
                        titles.append(_plain(a.value))
            if fname in helper_docs:
                helpers.append(helper_docs[fname])
    parts = titles or helpers
    what = "; ".join(dict.fromkeys(p for p in parts if p)) if parts else "Figure"
    return f"{what} (section: {_plain(heading)})" if heading else what


def draws_figure(source: str, helper_docs: dict[str, str]) -> bool:
    """True if a code cell calls matplotlib's pyplot (plt.*), makes subplots or calls a plot helper."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "plt":
                return True
            if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) in {*helper_docs, "subplots"}:
                return True
    return False


_H2 = re.compile(r"^##[ \t]+(?:(\d+(?:\.\d+)*)\.?[ \t]+)?(\S.*?)[ \t]*$", re.MULTILINE)


def number_sections(sources: list[str]) -> list[str]:
    """A notebook's sections (## headings, in these markdown sources in order) as "N. Title": a number
    without its full stop gets one; once sections are numbered, an unnumbered one after them gets the
    next number. Headings before the first numbered one and headings inside code fences stay as written."""
    last = 0

    def fix(m: re.Match) -> str:
        nonlocal last
        number, title = m.group(1), m.group(2)
        if number and "." not in number:
            last = int(number)
            return f"## {number}. {title}"
        if number or not last:
            return m.group(0)
        last += 1
        return f"## {last}. {title}"

    out = []
    for text in sources:
        parts = _FENCE.split(text)   # text, fence, fence marker, text, ...
        out.append("".join(_H2.sub(fix, part) if i % 3 == 0 else part
                           for i, part in enumerate(parts) if i % 3 != 2))
    return out


def reader_copy(nb: dict, helper_docs: dict[str, str], doc: str = "notebook",
                warnings: list[str] | None = None) -> dict:
    """The site's copy of a student notebook (nbformat JSON dict in, dict out); see the module doc.
    `doc` names the page (for its References label); figure cells without alt text are reported in
    `warnings`."""
    cells, tainted, heading = [], set(), ""
    for cell in nb.get("cells", []):
        grader = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell.get("source", ""))
        kind = cell.get("cell_type")
        is_solution = bool(grader.get("solution"))
        is_test = bool(grader.get("grade")) and not is_solution and kind == "code"
        if is_test or (kind == "markdown" and is_solution):
            continue  # self-checks would fail on stubs; written answers are "YOUR ANSWER HERE"
        if any(m in source for m in _SOLUTION_MARKERS):
            raise BuildError("a release notebook still holds a solution or hidden-test region: "
                             "re-run `python -m autograder release`")
        meta = {k: v for k, v in cell.get("metadata", {}).items() if k not in ("nbgrader", "collapsed")}
        tags = [t for t in meta.get("tags", []) if t != SKIP]
        new = {"cell_type": kind, "metadata": meta, "source": source}
        if cell.get("attachments"):
            new["attachments"] = cell["attachments"]  # images pasted into markdown cells
        if kind == "markdown":
            new["source"] = one_line_display_math(details_to_dropdowns(source))
            found = re.findall(r"^#{1,6}\s+(.+)$", source, re.MULTILINE)
            heading = found[-1] if found else heading
        elif kind == "code":
            uses_stub = bool(used_names(source) & tainted)
            if is_solution or uses_stub or "NotImplementedError" in source:
                tags.append(SKIP)
                tainted |= defined_names(source)
            else:
                tainted -= defined_names(source)  # a lesson cell that redefines a name owns it again
                mystnb = dict(meta.get("mystnb", {}))
                image = dict(mystnb.get("image", {}))
                if not str(image.get("alt", "")).strip():
                    image["alt"] = figure_alt(source, heading, helper_docs)
                    if warnings is not None and draws_figure(source, helper_docs):
                        warnings.append(f"{doc}: figure cell {cell.get('id', len(cells))} has no alt text "
                                        "(set its metadata mystnb.image.alt to what the figure shows)")
                mystnb["image"] = image
                meta["mystnb"] = mystnb
            new.update(outputs=[], execution_count=None)
        if tags:
            meta["tags"] = tags
        else:
            meta.pop("tags", None)
        cells.append(new)
    markdown = [c for c in cells if c["cell_type"] == "markdown"]
    for cell, text in zip(markdown, number_sections([c["source"] for c in markdown])):
        cell["source"] = citations.move_heading_citations(text, doc)
    references = citations.references_markdown(citations.cited("\n".join(c["source"] for c in markdown)), doc)
    if references:
        cells.append({"cell_type": "markdown", "metadata": {}, "source": references})
    metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def notebook_title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", cell["source"], re.MULTILINE)
            if m:
                return m.group(1).strip()
    return fallback


def find_release(release: Path) -> list[Path]:
    """The student copies release/<a>/<a>.ipynb, in teaching order (names sort that way)."""
    if not release.is_dir():
        raise BuildError(f"no student copies: {release} does not exist "
                         "(run `python -m autograder --course course release` first)")
    found = sorted(p for p in release.glob("*/*.ipynb") if p.stem == p.parent.name)
    if not found:
        raise BuildError(f"no student copies in {release} (expected <a>/<a>.ipynb; run "
                         "`python -m autograder --course course release` first)")
    return found


def write_reader_copies(notebooks: list[Path], warnings: list[str]) -> list[tuple[str, str]]:
    """Reader copies under _generated/<a>/ plus the release folder's other files; [(docname, title)]."""
    helper_docs = _plot_helper_docs()
    chapters = []
    names = []
    for nb_path in notebooks:
        name = nb_path.stem
        names.append(name)
        try:
            nb = json.loads(nb_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BuildError(f"cannot read {nb_path}: {exc}") from None
        copy = reader_copy(nb, helper_docs, name, warnings)
        out = GENERATED / name
        sync_tree(nb_path.parent, out, keep=lambda rel: rel.suffix != ".ipynb" and ".ipynb_checkpoints"
                  not in rel.parts, also=(f"{name}.ipynb",))
        write_if_changed(out / f"{name}.ipynb", json.dumps(copy, indent=1, ensure_ascii=False) + "\n")
        chapters.append((f"_generated/{name}/{name}", notebook_title(copy, name)))
    for old in GENERATED.iterdir() if GENERATED.is_dir() else []:
        if old.is_dir() and re.fullmatch(r"\d\d_\w+", old.name) and old.name not in names:
            shutil.rmtree(old)
    return chapters


# ----------------------------------------------------------------------------------------------------
# reference page, toc, MathJax


def render_reference() -> str:
    """The matrix-calculus reference page (MyST markdown) from reference_rules.RULES."""
    sys.path.insert(0, str(SITE))
    try:
        import reference_rules as rr
    finally:
        sys.path.remove(str(SITE))
    lines = [
        "# Matrix-calculus reference",
        "",
        "Every rule the course uses, in numerator layout: the Jacobian of $\\mathbf{f}:\\mathbb{R}^n\\to"
        "\\mathbb{R}^m$ is $m\\times n$ and a gradient has the shape of its input. Each rule on this page "
        "is stored as data next to a claim that the test suite differentiates with sympy "
        "(`tests/site/test_reference_rules.py`), so a wrong formula here fails the build's tests.",
        "",
    ]
    for section in rr.SECTIONS:
        lines += [f"## {section}", ""]
        for rule in (r for r in rr.RULES if r.section == section):
            lines += [f"### {rule.name}", "", "$$", rule.statement, "$$", ""]
            if rule.note:
                lines += [rule.note, ""]
    return "\n".join(lines)


def write_downloads(notebooks: list[Path], chapters: list[tuple[str, str]]) -> None:
    """_generated/downloads/ (student_kit.py) and the page that offers them, _generated/get-notebooks.md."""
    kit = student_kit.write_kit(notebooks, GENERATED / "downloads", write_bytes_if_changed)
    titles = {doc.rsplit("/", 1)[1]: title for doc, title in chapters}
    write_if_changed(GENERATED / "get-notebooks.md", student_kit.page_markdown(kit, titles))


def write_toc(chapters: list[tuple[str, str]]) -> Path:
    toc = ["# Generated by course/site/build.py from the student copies that exist.",
           "format: jb-book", "root: pages/intro", "parts:", "  - caption: Start here", "    chapters:",
           "      - file: _generated/get-notebooks", "  - caption: Notebooks", "    chapters:"]
    toc += [f"      - file: {doc}\n        title: {json.dumps(title)}" for doc, title in chapters]
    toc += ["  - caption: Reference", "    chapters:", "      - file: _generated/reference",
            "      - file: pages/notation", "      - file: pages/mistakes"]
    path = GENERATED / "_toc.yml"
    write_if_changed(path, "\n".join(toc) + "\n")
    return path


ASSETS = Path(mathrender.__file__).resolve().parent / "assets"   # autograder/assets (installed or here)


def vendor_mathjax() -> None:
    """The shipped MathJax 3 (its fonts serve the math typeset at build time; all of it serves the browser
    where that is not possible) and the copy script, into _generated/static/."""
    src = ASSETS / "mathjax"
    entry = src / "tex-chtml.js"
    if not entry.is_file():
        raise BuildError(f"vendored MathJax missing: {entry} (math must render with no network)")
    sync_tree(src, GENERATED / "static" / "mathjax")
    copy_if_changed(ASSETS / mathrender.COPY_SCRIPT, GENERATED / "static" / mathrender.COPY_SCRIPT)


def typeset_math(html: Path, cache: Path = SITE / "_build" / ".math_cache") -> str:
    """Typeset the math of every page Sphinx (re)wrote since the last call (pages already done are skipped),
    one node process for all; TeX errors are printed. Returns one line for the build's output."""
    renderer = mathrender.MathRenderer(cache_dir=cache)
    if renderer.reason:
        return f"math typeset in the browser by MathJax: {renderer.reason}"
    pages = formulas = 0
    with renderer:
        for page in sorted(html.rglob("*.html")):
            rel = page.relative_to(html)
            if rel.parts[0] in ("_static", "_sources"):
                continue
            text = page.read_text(encoding="utf-8")
            static = "/".join([".."] * (len(rel.parts) - 1) + ["_static"])
            seen = len(renderer.errors)
            try:
                new, n = mathrender.render_page(text, renderer, static)
            except mathrender.MathRenderError as exc:
                return f"math typeset in the browser by MathJax on {rel} and the pages after it: {exc}"
            for err in renderer.errors[seen:]:
                print(f"warning: TeX error on {rel}: {err}", file=sys.stderr)
            if n:
                page.write_text(new, encoding="utf-8")
                pages, formulas = pages + 1, formulas + n
    renderer.prune_cache(keep=4 * max(pages, 40))
    return f"math typeset into {pages} page(s) ({formulas} formulas)" if pages else ""


def run_book(quiet: bool, force: bool) -> None:
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else shutil.which("jupyter-book") or "jupyter-book", "build", str(SITE),
           "--toc", str(GENERATED / "_toc.yml"), "--path-output", str(SITE), "--keep-going"]
    if force:
        cmd.append("--all")
    proc = subprocess.run(cmd, cwd=SITE, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (SITE / "_build").mkdir(exist_ok=True)
    (SITE / "_build" / "build.log").write_text(log, encoding="utf-8")
    warnings = [ln for ln in log.splitlines() if ("WARNING" in ln or "ERROR" in ln) and "IPKernelApp" not in ln]
    for ln in warnings if (not quiet or proc.returncode) else [w for w in warnings if "Executing notebook" in w]:
        print(ln, file=sys.stderr)
    if proc.returncode or not (SITE / "_build" / "html" / "index.html").is_file():
        raise BuildError(f"jupyter-book failed (exit {proc.returncode}); see {SITE / '_build' / 'build.log'}")


LOOK = ("_config.yml", "static", "_templates", "_generated/static")   # inputs of every page, not of one


def inputs_digest(only: tuple[str, ...] | None = None) -> str:
    """sha256 over every input of the book (all files under course/site except _build, or only those under
    the paths `only`) and the jupyter-book version."""
    h = hashlib.sha256(importlib.metadata.version("jupyter-book").encode())
    for f in sorted(SITE.rglob("*")):
        rel = f.relative_to(SITE)
        if only is not None and not any(rel.as_posix() == o or rel.as_posix().startswith(o + "/") for o in only):
            continue
        if f.is_file() and not ({"_build", "__pycache__", ".ipynb_checkpoints"} & set(rel.parts)):
            h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def build(release: Path, *, quiet: bool = False, force: bool = False) -> Path:
    """Everything above, in order; returns the html folder. When no input changed since the last
    successful build (same digest, html present) the book step is skipped, as make would."""
    start = time.perf_counter()
    GENERATED.mkdir(exist_ok=True)
    vendor_mathjax()
    notebooks = find_release(release)
    warnings: list[str] = []
    chapters = write_reader_copies(notebooks, warnings)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    write_downloads(notebooks, chapters)
    write_if_changed(GENERATED / "reference.md", render_reference())
    write_toc(chapters)
    html = SITE / "_build" / "html"
    stamp = SITE / "_build" / "inputs.sha256"
    digest = [inputs_digest(), inputs_digest(LOOK) + "-" + mathrender.VERSION]   # new math output: every page
    last = stamp.read_text().split() if stamp.is_file() else []
    fresh = last == digest and (html / "index.html").is_file()
    if force or not fresh:
        stamp.unlink(missing_ok=True)
        # Sphinx rewrites only pages whose sources changed: a new stylesheet, template or config must
        # reach every page
        run_book(quiet, force or (len(last) == 2 and last[1] != digest[1]))
        stamp.write_text("\n".join(digest))
    math = typeset_math(html)
    if math.startswith("math typeset in the browser"):
        print(f"note: {math}", file=sys.stderr)   # the one line that says math falls back to the browser
    elif math and not quiet:
        print(f"site: {math}")
    if not quiet:
        what = "built" if force or not fresh else "up to date"
        print(f"site: {len(chapters)} notebook(s) {what} in {time.perf_counter() - start:.1f} s -> "
              f"{html / 'index.html'}")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, default=COURSE / "release",
                        help="folder of student copies <a>/<a>.ipynb (default: course/release)")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.add_argument("--all", action="store_true", help="rebuild every page (still uses the execution cache)")
    parser.add_argument("--clean", action="store_true",
                        help="delete _build and _generated first (re-executes every notebook, e.g. after a "
                             "change to chainrule_utils that the execution cache cannot see)")
    args = parser.parse_args(argv)
    if args.clean:
        shutil.rmtree(SITE / "_build", ignore_errors=True)
        shutil.rmtree(GENERATED, ignore_errors=True)
    try:
        build(args.release.resolve(), quiet=args.quiet, force=args.all)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
