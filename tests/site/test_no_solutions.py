"""No solution line and no hidden-test line of any source notebook appears anywhere in the built site."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from sitekit import COURSE

from autograder.leaks import secret_lines as leak_lines
from autograder.notebooks import read_notebook

pytestmark = pytest.mark.xdist_group("site")

TEXT_SUFFIXES = {".html", ".js", ".ipynb", ".txt", ".json", ".md", ".log", ".inv"}


def _norm(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def _is_trivial(line: str) -> bool:
    """Lines too short or generic to identify a solution (`return x`, `}`, `"kind": "function",`)."""
    return len(line) < 16 or not re.search(r"[A-Za-z0-9]{2}", line)


def secret_lines(notebooks: list[Path]) -> set[str]:
    """The secret lines `release` already refuses to ship (autograder.leaks: solution / hidden-test
    regions and model written answers), whitespace-normalised as the site text is, without lines too
    short or generic to identify a solution."""
    secret = set()
    for path in notebooks:
        secret.update(_norm(ln) for ln in leak_lines(read_notebook(path)))
    return {ln for ln in secret if not _is_trivial(ln)}


def site_text(root: Path) -> str:
    """All text of the built site: HTML with tags removed and entities decoded, notebooks' cell sources."""
    chunks = []
    for f in root.rglob("*"):
        if not f.is_file() or f.suffix not in TEXT_SUFFIXES:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        if f.suffix == ".ipynb":
            try:
                nb = json.loads(text)
                text = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []))
            except ValueError:
                pass
        elif f.suffix == ".html":
            chunks.append(text)  # raw too: attributes, scripts
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        chunks.append(text)
    return "\n".join(_norm(ln) for chunk in chunks for ln in chunk.splitlines())


def leaks(root: Path, notebooks: list[Path]) -> list[str]:
    text = site_text(root)
    return sorted(ln for ln in secret_lines(notebooks) if ln in text)


def _sources() -> list[Path]:
    return sorted(p for p in (COURSE / "source").glob("*/*.ipynb") if p.stem == p.parent.name)


def test_built_site_holds_no_solution_or_hidden_test(built_site):
    notebooks = _sources()
    assert notebooks, "no source notebooks to check against"
    secrets = secret_lines(notebooks)
    assert len(secrets) >= 5 * len(notebooks) // 2, "too few solution lines found: the region reader is broken"
    found = leaks(built_site, notebooks)
    assert not found, f"{len(found)} solution/hidden-test lines in the site, e.g. {found[:3]}"
    # the site is the lesson: lesson lines do appear (the text search can find things)
    assert "Jacobian" in site_text(built_site / "_generated")


def test_leak_detector_catches_a_leaked_line(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "source": "def jac(x):\n    ### BEGIN SOLUTION\n"
         "    return np.diag(-w / x**2) * secret_scale\n    ### END SOLUTION\n"},
        {"cell_type": "code", "metadata": {}, "source": "check(jac)\n### BEGIN HIDDEN TESTS\n"
         "grading = {'kind': 'function', 'answer': 'jac'}\n### END HIDDEN TESTS\n"},
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}},
         "source": "The Jacobian is diagonal because each output sees one input."},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    src = tmp_path / "src.ipynb"
    src.write_text(json.dumps(nb))
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.html").write_text("<p>def jac(x): raise NotImplementedError()</p>")
    assert leaks(site, [src]) == []
    # highlighted code (spans between tokens) and HTML entities still count as a leak
    (site / "bad.html").write_text('<pre><span class="k">return</span> np.diag(-w / x**2) '
                                   '<span class="o">*</span> secret_scale</pre>')
    assert leaks(site, [src]) == ["return np.diag(-w / x**2) * secret_scale"]
    (site / "bad.html").unlink()
    (site / "nb.ipynb").write_text(json.dumps({"cells": [{"source": ["grading = {'kind': 'function', "
                                                                     "'answer': 'jac'}"]}]}))
    assert leaks(site, [src]) == ["grading = {'kind': 'function', 'answer': 'jac'}"]
    (site / "nb.ipynb").unlink()
    (site / "page.html").write_text("<p>The Jacobian is diagonal because each output sees one input.</p>")
    assert len(leaks(site, [src])) == 1
