"""Hand grading in nbgrader's real formgrader (a Jupyter server with the course's nbgrader config, headless
chromium): math is typeset offline, each exercise shows the grader's verdict, the student's saved outputs
are there, and nothing a student wrote (a hostile written answer, hostile outputs, forged nbgrader
metadata) runs in the instructor's browser. A score typed into the formgrader reaches the next export."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from coursekit import chromium
from test_pipe_fixture import make_course, release, submit

from autograder.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("formgrader")]

A = "01_tiny"
TOKEN = "chainrule-formgrader-test"
MARK = "__pwned"
HOSTILE_ANSWER = (
    "Outputs index the rows: $J_{ij} = \\frac{\\partial h_i}{\\partial x_j}$, so $J$ is $2 \\times 3$.\n\n"
    f'<img src=x onerror="window.{MARK}=1"> <svg onload="window.{MARK}=2"></svg>\n\n'
    f"<script>window.{MARK}=3</script> [notes](javascript:window.{MARK}=4) "
    f'<a href="jav&#x61;script:window.{MARK}=5">more</a> <iframe srcdoc="<script>parent.{MARK}=6</script>">'
    f'</iframe> <details open ontoggle="window.{MARK}=7"><summary>x</summary>y</details>\n\n'
    f"<!--><img src=x onerror=window.{MARK}=8>-->\n\n$\\href{{javascript:window.{MARK}=9}}{{link}}$"
)
HOSTILE_OUTPUTS = [
    {"output_type": "stream", "name": "stdout", "text": "printed by the student's own kernel\n"},
    {"output_type": "display_data", "metadata": {"image/png": {"width": f'1" onload="window.{MARK}=10'}},
     "data": {"text/html": f'<b onclick="window.{MARK}=11">bold html output</b>',
              "application/javascript": f"window.{MARK}=12",
              "image/svg+xml": f'<svg onload="window.{MARK}=13"></svg>',
              "image/png": f'x" onerror="window.{MARK}=14',
              "text/plain": "<b>plain</b>"}},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """01_tiny graded for 'mal': a hostile written answer and hostile saved outputs, 01_jac transposed,
    nbgrader metadata of the written answer forged (points, and a grade_id that would break an attribute)."""
    course = make_course(tmp_path_factory.mktemp("fg"), assignments=(A,))
    release(course, A)
    folder = submit(course, A, "mal", {
        "01_cube_answer": "d_cube = 3 * x**2",
        "01_jac_answer": "def jac_h(x):\n    return np.array([[x[1], x[0], 0.0], [0.0, 1.0, 1.0]]).T",
        "01_shape_answer": "jac_shape = (2, 3)\nprint(jac_shape)",
        "01_explain_written": HOSTILE_ANSWER,
    })
    nb = nbformat.read(str(folder / f"{A}.ipynb"), 4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "01_shape_answer":
            cell.outputs = [nbformat.from_dict(o) for o in HOSTILE_OUTPUTS]
        if gid == "01_explain_written":
            cell.metadata["nbgrader"]["points"] = 100
        if cell.cell_type == "markdown" and cell.source.startswith("### Exercise 1.3"):
            cell.source += f'\n\n<img src=x onerror="window.{MARK}=15">'      # an edited lesson cell
            cell.metadata["nbgrader"] = {"grade": True, "solution": True, "points": 1, "schema_version": 3,
                                         "grade_id": f'x" autofocus onfocus="window.{MARK}=16'}
    nbformat.write(nb, str(folder / f"{A}.ipynb"))
    assert main(["--course", str(course), "grade", "--jobs", "1", "--cell-timeout", "20"]) == 0
    return course


def test_the_autograded_copy_has_verdicts_outputs_and_nothing_executable(graded):
    nb = nbformat.read(str(graded / "autograded" / "mal" / A / f"{A}.ipynb"), 4)
    outputs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.get("outputs", []) for c in nb.cells}
    jac = outputs["01_jac"]
    assert [o.name for o in jac] == ["stderr"]
    assert jac[0].text.startswith("chainrule grader: 0 / 2 points, mistake 'transpose': Your matrix is the transpose")
    assert outputs["01_cube"][0].text == "chainrule grader: 1 / 1 points, correct.\n"
    shape = outputs["01_shape_answer"]
    assert shape[0].text == "printed by the student's own kernel\n"
    assert set(shape[1].data) == {"text/html", "image/png", "text/plain"} - {"image/png"}
    assert shape[1].data["text/html"] == "<b>bold html output</b>" and not shape[1].metadata
    text = json.dumps(nb)
    assert "BEGIN HIDDEN TESTS" not in text and "grading = {" not in text     # no hidden test, no spec
    for cell in nb.cells:                 # markup that could run is gone; the rest is shown as text
        html = [cell.source] if cell.cell_type == "markdown" else [
            o.get("data", {}).get("text/html", "") for o in cell.get("outputs", [])]
        for fragment in html:
            live = _Live()
            live.feed(fragment)
            assert not live.found, (live.found, fragment[:300])
    assert "&lt;script&gt;window.__pwned=3&lt;/script&gt;" in text           # escaped, so visible
    written = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "01_explain_written")
    assert written.metadata.nbgrader["points"] == 1                            # the released cell's metadata
    assert not any("autofocus" in str(c.metadata) for c in nb.cells)


@pytest.fixture(scope="module")
def server(graded, tmp_path_factory):
    """A Jupyter server in the course folder (nbgrader loads the course's nbgrader_config.py from there)
    with the extensions this environment enables: nbgrader's formgrader and ours (`make setup`)."""
    enabled = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "chainrule.json"
    assert enabled.is_file(), f"{enabled} is missing: run `make setup` (it enables the MathJax extension)"
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "rt"),
               JUPYTER_DATA_DIR=str(home / "data"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    log = open(home / "server.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={graded}", f"--IdentityProvider.token={TOKEN}"],
        cwd=graded, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError((home / "server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _submission_id(course: Path) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(A, A, "mal").id


class _Live(HTMLParser):
    """Collects what could run: event-handler attributes, javascript: URLs, inline scripts, frames."""

    def __init__(self):
        super().__init__()
        self.found, self._script = [], False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").replace("\t", "").replace("\n", "").strip().lower()
            if name.startswith("on") or value.startswith("javascript:") or (name == "srcdoc"):
                self.found.append((tag, name, value))
        if tag in ("iframe", "object", "embed", "svg", "math"):
            self.found.append((tag, "", ""))
        self._script = tag == "script"

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script and MARK in data:
            self.found.append(("script", "", data[:80]))


def test_the_formgrader_page_holds_no_executable_student_html(graded, server):
    sid = _submission_id(graded)
    req = urllib.request.Request(f"{server}/formgrader/submissions/{sid}/",
                                 headers={"Authorization": f"token {TOKEN}"})
    page = urllib.request.urlopen(req, timeout=60).read().decode()
    assert "Outputs index the rows" in page and "chainrule grader: 0 / 2 points" in page
    live = _Live()
    live.feed(page.split('id="notebook-container"', 1)[1])    # the notebook; nbgrader's own page around it
    assert not live.found, live.found
    assert "/chainrule/mathjax/tex-chtml.js" in page and "cdnjs.cloudflare.com" not in page


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_formgrader_page_in_a_browser_typesets_math_shows_verdicts_and_saves_a_hand_score(graded, server, browser):
    context = browser.new_context(extra_http_headers={"Authorization": f"token {TOKEN}"})   # the page's API calls too
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    api = []
    page.on("response", lambda r: api.append(f"{r.status} {r.url}") if "/api/" in r.url else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    sid = _submission_id(graded)
    page.goto(f"{server}/formgrader/submissions/{sid}/")
    try:
        page.wait_for_function("window.formgrader && window.formgrader.loaded === true", timeout=60_000)
    except Exception:
        raise AssertionError(errors) from None
    try:
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=60_000)
    except Exception:
        raise AssertionError([errors, page.evaluate("[window.MathJax && window.MathJax.version, "
                                                    "document.querySelectorAll('mjx-container').length]")]) from None
    written = page.locator(".nbgrader_cell", has_text="Outputs index the rows")
    assert written.locator("mjx-container").count() >= 3          # the student's own math, typeset
    assert page.locator("mjx-container").count() >= 6             # prompts too
    text = page.inner_text("body")
    assert "chainrule grader: 0 / 2 points, mistake 'transpose'" in text
    assert "chainrule grader: 1 / 1 points, correct." in text
    assert "printed by the student's own kernel" in text and "bold html output" in text
    page.wait_for_timeout(1000)
    assert page.evaluate(f"typeof window.{MARK}") == "undefined"
    assert not errors, errors
    foreign = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert not foreign, foreign
    # the formgrader saves a hand score through nbgrader's API; the next export counts it
    try:
        page.wait_for_function("formgrader.grades.loaded === true", timeout=30_000)
    except Exception:
        raise AssertionError([errors, api]) from None
    score = page.locator('input.score[id="01_explain_written"]')
    ids = page.eval_on_selector_all("input.score", "els => els.map(e => e.id).sort()")
    assert ids == ["01_cube", "01_explain_written", "01_jac", "01_shape"]   # the forged grade cell got none
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as put:
        score.fill("1")
        score.dispatch_event("change")                                # what leaving the box does
    assert put.value.ok
    context.close()
    out = graded / "exports" / "after_formgrader.csv"
    assert main(["--course", str(graded), "export", "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    mal = next(r for r in rows if r["student"] == "mal")
    assert (mal[f"{A}: 01_explain_written"], mal[f"{A} manual"], mal[f"{A} to grade"]) == ("1", "1", "0")
    assert mal[f"{A} status"] == "graded"
