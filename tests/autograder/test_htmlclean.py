"""Student markdown and outputs rebuilt from an allow-list (autograder/htmlclean.py) and the autograded copy's
cells (autograder/autograded_copy.py): what renders is what the student meant, minus anything that runs."""
from __future__ import annotations

from html.parser import HTMLParser

import nbformat
import pytest

from autograder import htmlclean
from autograder.autograded_copy import add_verdicts, student_cell, verdict_text


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def _rendered(source: str) -> _Tags:
    """What the formgrader renders for this markdown cell source (nbconvert's own renderer)."""
    parsed = _Tags()
    parsed.feed(htmlclean._render(source))
    return parsed


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnError=alert(1)>",
    "<img/src/onerror=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg onload=alert(1)>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<a href=javascript:alert(1)>x</a>",
    "<a href='jav&#x61;script:alert(1)'>x</a>",
    "<a href=' javascript:alert(1)'>x</a>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "<details open ontoggle=alert(1)>x</details>",
    "<!--><img src=x onerror=alert(1)>-->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>body{display:none}</style>",
    "<form action=/api/terminals method=post><button>go</button></form>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<div class='btn full-credit' id='01_jac'>fake button</div>",
    "<base href=//evil.example/>",
    "# Title <img src=x onerror=alert(1)>",
    "`code` <script>alert(1)</script> $x<y$",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_renders_nothing_that_runs(source):
    block = htmlclean.markdown(source)
    parsed = _rendered(block)
    assert set(parsed.tags) <= htmlclean.TAGS, parsed.tags
    for tag, name, value in parsed.attrs:
        assert not name.startswith("on"), (tag, name)
        assert name in htmlclean.ATTRIBUTES.get(tag, ()) or (tag, name, value) == ("div", "class", "chainrule-student")
        assert "javascript" not in value.lower().replace("&#x61;", "a")
        assert (tag, name) != ("img", "src")                     # an image never loads a URL
    assert htmlclean._render(block).strip() == block           # passed through verbatim by the renderer


@pytest.mark.parametrize("source, kept", [
    ("The Jacobian is $J_{ij} = \\partial f_i / \\partial x_j$ and $0 < x$.",
     "$J_{ij} = \\partial f_i / \\partial x_j$ and $0 &lt; x$"),
    ("$$\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}$$", "a &amp;= b \\\\ c &amp;= d"),
    ("**bold**, *it*, `code <b>`, H<sub>2</sub>O, x<sup>2</sup>", "<code>code &lt;b&gt;</code>, H<sub>2</sub>O"),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>"),
    ("line one  \nline two\n\n```\nfor i in range(3):\n\n    print(i)\n```", "print(i)"),
    ("[the notes](https://example.org/notes) and ![diagram](https://example.org/d.png)",
     '<a href="https://example.org/notes">the notes</a> and <img alt="diagram">'),
])
def test_honest_markdown_keeps_its_text_math_and_formatting(source, kept):
    block = htmlclean.markdown(source)
    assert kept in block, block
    assert "\n" not in block and block.startswith(htmlclean.WRAPPER)


def test_outputs_keep_text_and_images_and_drop_what_runs():
    png = "iVBORw0KGgo="
    outs = htmlclean.outputs([
        {"output_type": "stream", "name": "stdout", "text": ["a", "b\n"]},
        {"output_type": "stream", "name": 'stdout" onclick="x', "text": "forged stream name"},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["\x1b[31mTB\x1b[0m"]},
        {"output_type": "execute_result", "execution_count": '1]<img src=x onerror=alert(1)>',
         "data": {"text/plain": "42", "text/html": "<table onmouseover=alert(1)><tr><td>1</td></tr></table>"},
         "metadata": {}},
        {"output_type": "display_data", "metadata": {"image/png": {"width": 300, "height": "1 onload=x"}},
         "data": {"image/png": png, "image/svg+xml": "<svg onload=alert(1)/>",
                  "application/javascript": "alert(1)", "application/vnd.jupyter.widget-view+json": {}}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": 'x" onerror="alert(1)'}},
        {"output_type": "update_display_data", "data": {"text/html": "<b>x</b>"}, "metadata": {}},
    ])
    assert [o["output_type"] for o in outs] == ["stream", "error", "execute_result", "display_data"]
    assert outs[0].text == "ab\n" and outs[1].traceback == ["\x1b[31mTB\x1b[0m"]   # escaped by the page
    assert outs[2].execution_count is None
    assert outs[2].data == {"text/plain": "42", "text/html": "<table><tbody><tr><td>1</td></tr></tbody></table>"}
    assert outs[3].data == {"image/png": png} and outs[3].metadata == {"image/png": {"width": 300}}


def test_an_attachment_the_renderer_refuses_is_shown_as_text():
    block = htmlclean.markdown("see ![d](attachment:missing.png) $x$")       # nbconvert raises on it
    assert block == htmlclean.WRAPPER + "<pre>see ![d](attachment:missing.png) $x$</pre></div>"
    ok = htmlclean.markdown("see ![d](attachment:d.png)", {"d.png": {"image/png": "iVBORw0KGgo="}})
    assert ok == htmlclean.WRAPPER + '<p>see <img alt="d"></p></div>'


def test_attachments_keep_base64_images_only():
    att = htmlclean.attachments({"d.png": {"image/png": "iVBORw0KGgo=", "text/html": "<script>"},
                                 "x.svg": {"image/svg+xml": "<svg onload=alert(1)/>"},
                                 'a" onerror="x.png': {"image/png": "iVBORw0KGgo="},
                                 "bad.png": {"image/png": 'x" onerror="y'}})
    assert att == {"d.png": {"image/png": "iVBORw0KGgo="}}


def test_student_cells_get_the_released_metadata_and_lessons_stay_as_written():
    released = {"grade": True, "solution": True, "points": 1, "grade_id": "w", "locked": False, "schema_version": 3}
    cell = nbformat.v4.new_markdown_cell("<img src=x onerror=alert(1)> my answer")
    cell.metadata = {"nbgrader": dict(released, points=100), "tags": ['" onclick="x'], "other": 1}
    safe = student_cell(cell, released, set())
    assert dict(safe.metadata) == {"nbgrader": released} and "onerror" not in safe.source
    forged = nbformat.v4.new_code_cell("x = 1")
    forged.metadata = {"nbgrader": {"grade": True, "grade_id": 'x" autofocus onfocus="alert(1)', "points": 5}}
    forged.execution_count = '1"><script>'
    assert dict(student_cell(forged, None, set()).metadata) == {}
    assert student_cell(forged, None, set()).execution_count is None
    lesson = nbformat.v4.new_markdown_cell("## Lesson <details><summary>hint</summary>…</details>")
    assert student_cell(lesson, None, {lesson.source}).source == lesson.source        # instructor text


def test_verdicts_become_the_test_cells_output():
    from autograder.assemble import Assembled

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("answer = 1"), nbformat.v4.new_code_cell("check(answer)"),
                nbformat.v4.new_code_cell("check(other)")]
    asm = Assembled(nb, test_cells={"ex1": 2, "ex2": 3})
    add_verdicts(asm, {"ex1": (2.0, 2.0, None, None),
                       "ex2": (0.0, 1.0, "transpose", "Your matrix is\x1b[2J the transpose.\nfake line")})
    assert nb.cells[1].outputs[0].name == "stdout"
    assert nb.cells[1].outputs[0].text == "chainrule grader: 2 / 2 points, correct.\n"
    assert nb.cells[2].outputs[0].name == "stderr"
    assert nb.cells[2].outputs[0].text == ("chainrule grader: 0 / 1 points, mistake 'transpose': Your matrix is "
                                           "the transpose. fake line\n")
    assert verdict_text(0.5, 1, None, None) == "chainrule grader: 0.5 / 1 points: no message."
