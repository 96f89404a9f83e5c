"""Math typeset when a page is built, so the page shows its formulas with no math JavaScript.

One module for the course site (course/site/build.py) and for feedback pages and reports
(autograder/html.py). `MathRenderer` drives ONE node process per build (tools/node/render_math.js, MathJax 3
from npm); `render_page(html, ...)` finds the page's math elements, typesets them in one request and puts
the CSS they need in the page's <head>. The output keeps MathML for screen readers
(<mjx-assistive-mml>) and each formula's TeX (data-tex, copied by assets/copy-tex.js when the reader copies
a selection), and gives each formula its size (content-visibility: auto), so a long page lays out only the
formulas near the screen. Where node or the npm packages are missing, `MathRenderer.reason` says why and
callers keep the browser-side MathJax they always shipped.

Math elements are the ones our own Markdown/Sphinx output makes: <span|div class="... math ...">TeX</span|div>
(Sphinx: \\(..\\) and \\[..\\]; mistune: \\(..\\) and $$..$$). Only those are sent to MathJax: text a
student controls is escaped by the callers (no element can come from it), so it is never typeset.
Results are cached by request (in memory, and in `cache_dir` if given).
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

NODE_DIR = Path(os.environ.get("CHAINRULE_NODE_DIR") or Path(__file__).resolve().parents[1] / "tools" / "node")
SCRIPT = "render_math.js"
FONTS = "mathjax/output/chtml/fonts/woff-v2"   # under a page's _static folder (autograder/assets layout)
COPY_SCRIPT = "copy-tex.js"                     # under _static too
TIMEOUT = 120.0                                 # seconds for one request (a whole page)

# an element our Markdown/Sphinx made for one formula (class token "math"); group 3 is its content (HTML-escaped TeX)
MATH_ELEMENT = re.compile(r'<(span|div)((?:\s+[\w-]+="[^"]*")*?\s+class="(?:[^"]*\s)?math(?:\s[^"]*)?"'
                          r'(?:\s+[\w-]+="[^"]*")*)\s*>(.*?)</\1>', re.DOTALL)
_HEAD_END = re.compile(r"</head>", re.IGNORECASE)
# what Sphinx's mathjax extension puts in a page: its config and the script itself
_CLIENT_MATHJAX = re.compile(r'<script>\s*window\.MathJax\s*=.*?</script>\s*|<script\b[^>]*\bsrc="[^"]*mathjax/'
                             r'tex-chtml\.js[^"]*"[^>]*>\s*</script>\s*', re.DOTALL)
STYLE_ID = 'id="chainrule-math"'   # the <style> a typeset page carries
VERSION = "chtml-7"    # bump when render_math.js changes its output (the site then rewrites every page)


class MathRenderError(Exception):
    """The node process failed; the caller keeps browser-side MathJax for this page."""


class MathRenderer:
    """TeX -> CHTML by one node process, started on first use; `close()` (or `with`) ends it."""

    def __init__(self, cache_dir: Path | None = None, node_dir: Path = NODE_DIR):
        self.node_dir = Path(node_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.errors: list[str] = []          # TeX errors reported by MathJax, in order
        self._memo: dict[str, dict] = {}
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log = None

    @property
    def reason(self) -> str | None:
        """None if math can be typeset here, else one phrase saying what is missing."""
        if shutil.which("node") is None:
            return "node is not installed"
        if not (self.node_dir / SCRIPT).is_file():
            return f"{self.node_dir / SCRIPT} is missing"
        if not (self.node_dir / "node_modules" / "mathjax-full" / "package.json").is_file():
            return f"the npm packages are not installed in {self.node_dir} (run `make setup`)"
        return None

    # -- requests ------------------------------------------------------------------------------------

    def typeset(self, fragments: list[str], font_url: str, *, dollars: bool = False) -> tuple[list[str], str]:
        """(each fragment with its formulas typeset, the CSS they need). `fragments` are HTML; TeX in them
        is found between \\(..\\), \\[..\\], $$..$$, and $..$ too if `dollars`. Fonts load from font_url."""
        request = {"fragments": list(fragments), "font_url": font_url,
                   "inline": [["$", "$"], ["\\(", "\\)"]] if dollars else [["\\(", "\\)"]],
                   "display": [["$$", "$$"], ["\\[", "\\]"]]}
        key = hashlib.sha256((VERSION + json.dumps(request, sort_keys=True)).encode()).hexdigest()
        answer = self._memo.get(key) or self._from_disk(key)
        if answer is None:
            answer = self._ask(request)
            if answer.get("error"):
                raise MathRenderError(answer["error"].splitlines()[0])
            self._to_disk(key, answer)
        self._memo[key] = answer
        self.errors += [e for e in answer.get("errors", []) if e not in self.errors]
        return answer["html"], answer["css"]

    def _ask(self, request: dict) -> dict:
        if self.reason:
            raise MathRenderError(self.reason)
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            line = self._lines.get(timeout=TIMEOUT)
        except (OSError, queue.Empty) as exc:
            self.close()
            raise MathRenderError(f"the node math renderer stopped answering ({type(exc).__name__})") from None
        if line is None:
            raise MathRenderError(f"the node math renderer exited: {self._stderr_tail()}")
        return json.loads(line)

    def _start(self) -> None:
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._proc = subprocess.Popen(["node", SCRIPT], cwd=self.node_dir, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, text=True, encoding="utf-8")
        self._lines = queue.Queue()
        stdout = self._proc.stdout

        def pump() -> None:
            for line in stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def _stderr_tail(self) -> str:
        if self._log is None:
            return "no output"
        self._log.seek(0)
        lines = self._log.read().strip().splitlines()
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MathRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- cache ---------------------------------------------------------------------------------------

    def _from_disk(self, key: str) -> dict | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.json"
        try:
            answer = json.loads(path.read_text(encoding="utf-8"))
            path.touch()   # used now: kept by prune_cache
            return answer
        except (OSError, ValueError):
            return None

    def _to_disk(self, key: str, answer: dict) -> None:
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{key}.part"
            tmp.write_text(json.dumps(answer), encoding="utf-8")
            tmp.replace(self.cache_dir / f"{key}.json")

    def prune_cache(self, keep: int) -> None:
        """Keep the `keep` cached answers used most recently (a page whose math changed gets a new key)."""
        if self.cache_dir is not None and self.cache_dir.is_dir():
            files = sorted(self.cache_dir.glob("*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
            for f in files[keep:]:
                f.unlink(missing_ok=True)


def render_page(html: str, renderer: MathRenderer, static_url: str, *, dollars: bool = False) -> tuple[str, int]:
    """(html with every math element typeset, number of elements). The CSS goes into <head> (or in front,
    for a fragment), with the copy script; Sphinx's browser-side MathJax scripts are dropped. static_url is
    the relative URL of the page's _static folder. Raises MathRenderError (the page is then left as it was)."""
    found = [] if STYLE_ID in html else list(MATH_ELEMENT.finditer(html))   # a page typeset already: as is
    if not found:
        return html, 0
    rendered, css = renderer.typeset([m.group(0) for m in found], f"{static_url}/{FONTS}", dollars=dollars)
    out, last = [], 0
    for m, new in zip(found, rendered):
        out += [html[last:m.start()], new]
        last = m.end()
    out.append(html[last:])
    page = _CLIENT_MATHJAX.sub("", "".join(out))
    head = (f'<style {STYLE_ID}>\n{css.strip()}\n</style>\n'
            f'<script defer src="{static_url}/{COPY_SCRIPT}"></script>\n')
    m = _HEAD_END.search(page)
    page = page[:m.start()] + head + page[m.start():] if m else head + page
    return page, len(found)
