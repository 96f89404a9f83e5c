"""Feedback pages: one HTML page per student and assignment (the `feedback` command is
autograder/cmd_feedback.py).

feedback/<student>/<assignment>/<assignment>.html shows the score per question, and for each exercise
that lost points the diagnosis message, the student's own answer cell and the prompt (Markdown with
math); hand-graded cells show their status. An ungraded submission gets a page saying why.
Never on a page: hidden tests, their tracebacks, solutions. Prompts come from the RELEASED student copy
(or, without one, only from unmarked markdown cells of the source); a student's answer that contains a
line of the reference solution (e.g. a correct answer the notebook never reached) is not echoed.
Everything the student wrote is escaped. Math in prompts is typeset when the page is written (autograder/mathrender.py,
via H.page); its fonts (and MathJax itself, for the browser-side fallback where node is missing) are copied to
feedback/_static/ and referenced relatively: the pages work offline.
"""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from autograder import html as H
from autograder.classdata import ClassData, Question
from autograder.course import Course
from autograder.notebooks import NotebookError, grade_id, read_notebook
from autograder.spec import nbgrader_meta

# a folder name: letters (any script), digits, space, '.', '_', '@', '+', '-'; no leading '.' or space,
# no trailing '.' or space (Windows); use with fullmatch
SAFE_ID = re.compile(r"(?![. ])[\w.@+\- ]{0,127}[\w@+\-]")
_HEADING = re.compile(r"^#{1,6}\s.*\b(Exercise|Question|Problem|Task)\b[^\n]*", re.IGNORECASE | re.MULTILINE)


def prompts(course: Course, assignment: str) -> dict[str, str]:
    """{grade_id of a graded cell: the Markdown prompt before its answer cell} from the released copy."""
    out: dict[str, str] = {}
    released = course.release_notebooks(assignment)
    paths = released or course.source_notebooks(assignment)
    for path in paths:
        try:
            nb = read_notebook(path)
        except NotebookError:
            continue
        cells = nb.cells
        for i, cell in enumerate(cells):
            meta = nbgrader_meta(cell)
            gid = meta.get("grade_id")
            if not isinstance(gid, str):
                continue
            # the answer cell of an exercise is "<id>_answer"; a written answer is its own graded cell
            key = gid[: -len("_answer")] if gid.endswith("_answer") else gid if meta.get("grade") else None
            if key is None or not meta.get("solution"):
                continue
            out[key] = _prompt_before(cells, i)
    return out


def _prompt_before(cells, index: int) -> str:
    """Unmarked markdown cells just before cells[index], from the nearest 'Exercise' heading on."""
    parts: list[str] = []
    j = index - 1
    while j >= 0 and len(parts) < 4:
        cell = cells[j]
        meta = nbgrader_meta(cell)
        if meta.get("grade") or meta.get("solution"):
            break  # the previous exercise's cells (locked lesson cells in between are fine)
        if cell.cell_type == "markdown":
            text = cell.source
            headings = list(_HEADING.finditer(text))
            if headings:
                parts.insert(0, text[headings[-1].start():])
                break
            parts.insert(0, text)
        j -= 1
    return "\n\n".join(parts).strip()


def solution_lines(course: Course, assignment: str) -> set[str]:
    """Non-trivial lines of the source's solution and hidden-test regions (never shown on a page)."""
    from autograder.leaks import secret_lines

    out: set[str] = set()
    for path in course.source_notebooks(assignment):
        try:
            out |= secret_lines(read_notebook(path))
        except NotebookError:
            continue
    return out


def title_of(prompt: str | None) -> str | None:
    """The prompt's 'Exercise ...' heading without the point count, e.g. 'Exercise 1.2 — A Jacobian'."""
    m = _HEADING.search(prompt or "")
    if not m:
        return None
    text = m.group(0).lstrip("#").strip()
    return re.sub(r"\s*\([^()]*\bpoints?\b[^()]*\)\s*$", "", text, flags=re.IGNORECASE) or None


def student_answer(course: Course, assignment: str, student: str, notebook: str,
                   answer_cell: str) -> str | None:
    """The source of the student's answer cell, or None if the notebook or cell is not there."""
    path = course.submitted / student / assignment / f"{notebook}.ipynb"
    try:
        nb = read_notebook(path, follow_symlinks=False)  # a symlink could show another file's cells
    except NotebookError:
        return None
    cells = [c for c in nb.cells if grade_id(c) == answer_cell]
    return cells[-1].source if cells else None  # of copies of the cell, the last one ran last


def _result_cell(q: Question, score, max_score) -> tuple[str, str]:
    """(CSS class, text) describing a question's outcome."""
    if q.kind == "manual":
        if score is None:
            return "pending", "awaiting hand grading"
        return ("passed" if score >= max_score else "failed"), "hand graded"
    if score is None:
        return "failed", "not graded"
    return ("passed", "correct") if score >= max_score - 1e-9 else ("failed", "lost points")


def render_page(course: Course, data: ClassData, assignment: str, student: str,
                prompt_map: dict[str, str], static: str, secrets: set[str] = frozenset()) -> str:
    """The page of one submission. A student's answer that contains a line of the reference solution
    (`secrets`: autograder.leaks.secret_lines of the source) is not echoed, so no page ever carries one."""
    sub = data.submissions[(assignment, student)]
    title = f"{assignment}: feedback for {student}"
    body = [f"<h1>{H.escape(assignment)} <span class=\"muted\">feedback for</span> "
            f"{H.untrusted(student)}</h1>"]
    meta = []
    if sub.timestamp:  # timestamp.txt came with the submission
        meta.append(f"submitted {H.untrusted(_when(sub.timestamp))}")
    if sub.graded_at:
        meta.append(f"graded {H.escape(_when(sub.graded_at))}")
    if meta:
        body.append(f"<p class=\"muted\">{' · '.join(meta)}</p>")
    if sub.status != "graded":
        body.append(
            "<div class=\"notice\"><p><strong>This submission could not be graded.</strong></p>"
            f"<p>Reason: {H.untrusted(sub.reason or 'no reason recorded')}</p>"
            "<p>No points were given for it. Check that the notebook opens in JupyterLab and runs from "
            "top to bottom (Kernel → Restart and Run All), then submit it again or ask your instructor."
            "</p></div>")
        return H.page(title, "\n".join(body), static=static)

    rows = {r.grade_id: r for r in data.results.get((assignment, student), [])}
    qs = data.questions[assignment]
    total = data.score(assignment, student) or 0.0
    pending = [q for q in qs if q.kind == "manual" and (rows.get(q.grade_id) is None
                                                         or rows[q.grade_id].score is None)]
    note = (f" <span class=\"muted\">({len(pending)} written answer{'s' if len(pending) != 1 else ''} still to "
            "be graded by hand)</span>" if pending else "")
    body.append(f"<p><strong>Score: {H.fmt_points(total)} / {H.fmt_points(data.max_score(assignment))}"
                f"</strong>{note}</p>")
    table = ["<table><thead><tr><th>question</th><th>score</th><th>points</th><th>result</th></tr></thead>"
             "<tbody>"]
    for q in qs:
        r = rows.get(q.grade_id)
        score = r.score if r else None
        cls, text = _result_cell(q, score, q.points)
        color = {"passed": "ok", "failed": "bad"}.get(cls, "muted")
        table.append(f"<tr><td><a href=\"#{H.escape(q.grade_id)}\">{H.escape(q.grade_id)}</a></td>"
                     f"<td class=\"num\">{H.fmt_points(score)}</td>"
                     f"<td class=\"num\">{H.fmt_points(q.points)}</td>"
                     f"<td class=\"{color}\">{H.escape(text)}</td></tr>")
    table.append("</tbody></table>")
    body.append("\n".join(table))

    for q in qs:
        r = rows.get(q.grade_id)
        score = r.score if r else None
        cls, text = _result_cell(q, score, q.points)
        prompt = prompt_map.get(q.grade_id)
        heading = title_of(prompt) or q.grade_id
        part = [f"<section class=\"exercise {cls}\" id=\"{H.escape(q.grade_id)}\">",
                f"<h2>{H.markdown_inline(heading)}: {H.fmt_points(score)} / {H.fmt_points(q.points)} "
                f"<span class=\"muted\">({H.escape(text)}; {H.escape(q.grade_id)})</span></h2>"]
        if prompt:
            prompt = _HEADING.sub("", prompt, count=1).strip()
        if prompt:
            part.append(f"<details{' open' if cls == 'failed' else ''}><summary>The task</summary>"
                        f"<div class=\"prompt\">{H.markdown(prompt)}</div></details>")
        if q.kind == "manual":
            if score is None:
                part.append("<p>Your written answer will be graded by hand.</p>")
        elif cls == "failed":
            if r is not None and r.message:
                part.append(f"<p class=\"message untrusted\">{H.text(r.message)}</p>")
            elif r is None:
                part.append("<p class=\"message\">No result was recorded for this exercise.</p>")
            code = student_answer(course, assignment, student, q.notebook, f"{q.grade_id}_answer")
            if code is not None and not any(line in code for line in secrets):
                part.append("<p>Your answer:</p>" + H.code_block(code))
            elif code is not None:
                part.append("<p class=\"muted\">Your answer cell is not repeated here: open your notebook "
                            "to see it.</p>")
        part.append("</section>")
        body.append("\n".join(part))
    return H.page(title, "\n".join(body), static=static)


def _when(text: str) -> str:
    """A time as every page shows it ('2026-02-01 12:00:00 UTC'); text that is not a time, unchanged."""
    from autograder.submissions import display_time, parse_timestamp

    value = parse_timestamp(text)
    return display_time(value) if value is not None else text


def _write_index(root: Path, data: ClassData, written) -> None:
    """feedback/index.html for the instructor: links to every page (not meant for students)."""
    by_student: dict[str, dict[str, Path]] = {}
    for student, assignment, path in written:
        by_student.setdefault(student, {})[assignment] = path
    head = "".join(f"<th>{H.escape(a)}</th>" for a in data.assignments)
    rows = []
    for student in sorted(by_student):
        cells = []
        for a in data.assignments:
            p = by_student[student].get(a)
            if p is None:
                cells.append(f"<td class=\"muted\">{H.text(data.status(a, student))}</td>")
                continue
            score = data.score(a, student)
            label = (f"{H.fmt_points(score)} / {H.fmt_points(data.max_score(a))}" if score is not None
                     else H.text(data.status(a, student).split(":")[0]))
            if data.to_grade(a, student):  # the score is not final yet
                label += f" <span class=\"muted\">(+{H.fmt_points(data.to_grade(a, student))} to grade)</span>"
            href = urllib.parse.quote(p.relative_to(root).as_posix())
            cells.append(f"<td><a href=\"{H.escape(href)}\">{label}</a></td>")
        rows.append(f"<tr><td>{H.untrusted(student)}</td>{''.join(cells)}</tr>")
    body = ("<h1>Feedback pages</h1><p class=\"muted\">For the instructor: hand each student their own "
            "folder.</p><table><thead><tr><th>student</th>" + head + "</tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table>")
    H.write_page(root / "index.html", H.page("Feedback pages", body, math=False))


def write_pages(course: Course, data: ClassData, wanted: set[str] | None = None) -> tuple[list, list[str]]:
    """Write feedback/<student>/<a>/<a>.html for every submission in `data` (only `wanted` students if
    given) and the instructor's index; one page that cannot be made never stops the others.
    Returns (written: [(student, assignment, path)], skipped: [one line each])."""
    root = course.feedback
    H.copy_static(root)
    written, skipped = [], []
    for assignment in data.assignments:
        prompt_map = prompts(course, assignment)
        secrets = solution_lines(course, assignment)
        for student in data.students:
            key = (assignment, student)
            if (key not in data.submissions and key not in data.pending) or (wanted and student not in wanted):
                continue
            if not SAFE_ID.fullmatch(student) or student in ("index.html", "_static"):
                skipped.append(f"{student!r}: not a safe folder name")
                continue
            folder = root / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            static = H.relative_static(folder, root)
            if key in data.pending:   # replaces any page about an older submission
                page = H.page(f"{assignment}: feedback for {student}",
                              f"<h1>{H.escape(assignment)}</h1><div class=\"notice\"><p>Your latest submission "
                              "has not been graded yet; this page will show its feedback once it is.</p></div>",
                              static=static, math=False)
            else:
                try:  # one page that cannot be made never stops the others
                    page = render_page(course, data, assignment, student, prompt_map, static, secrets)
                except Exception as exc:
                    skipped.append(f"{student!r}/{assignment}: page not written ({type(exc).__name__}: "
                                   f"{' '.join(str(exc).split())[:200]})")
                    continue
            target = folder / f"{assignment}.html"
            H.write_page(target, page)
            written.append((student, assignment, target))
    _write_index(root, data, written)
    return written, skipped
