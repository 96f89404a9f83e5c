"""The class report: reports/index.html with its plots in reports/img/ (the `report` command is
autograder/cmd_report.py).

Per assignment: summary numbers (graded / ungraded / missing; per question how many answered, how many
did not (answer cell left as released, or the notebook stopped before the exercise: NOT_ANSWERED), mean
and median; the total), the score distribution per question and of the total (matplotlib PNGs with alt
text), the most frequent diagnosed mistakes per question, ranked among the students who answered it
("5 of 13 (38%): transpose: <message>", counted from the stored ResultRow.mistake/message of graded
submissions; not answering is not a mistake) and the ungraded submissions with reasons.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autograder import html as H
from autograder.classdata import NOT_ANSWERED, ClassData, hand_points
from autograder.course import Course

TOP_MISTAKES = 5


@dataclass(frozen=True)
class MistakeCount:
    grade_id: str
    mistake: str
    count: int
    of: int          # graded submissions that answered this question
    message: str     # the most frequent message given for this mistake

    @property
    def percent(self) -> float:
        return 100.0 * self.count / self.of if self.of else 0.0


def not_answered(data: ClassData, assignment: str) -> Counter:
    """{grade_id: graded submissions with no answer to judge} (NOT_ANSWERED verdicts)."""
    out: Counter = Counter()
    for (a, student), rows in data.results.items():
        if a == assignment and data.status(a, student) == "graded":
            out.update(r.grade_id for r in rows if r.kind == "auto" and r.mistake in NOT_ANSWERED)
    return out


def mistake_counts(data: ClassData, assignment: str) -> dict[str, list[MistakeCount]]:
    """{grade_id: mistakes by decreasing frequency (ties by name)} among the graded submissions that
    answered the question (a NOT_ANSWERED verdict is neither a mistake nor counted in `of`)."""
    per_q: dict[str, Counter] = {}
    messages: dict[tuple[str, str], Counter] = {}
    seen: Counter = Counter()
    for (a, student), rows in data.results.items():
        if a != assignment or data.status(a, student) != "graded":
            continue
        for r in rows:
            if r.kind != "auto" or r.mistake in NOT_ANSWERED:
                continue
            seen[r.grade_id] += 1
            if r.mistake:
                per_q.setdefault(r.grade_id, Counter())[r.mistake] += 1
                messages.setdefault((r.grade_id, r.mistake), Counter())[r.message or ""] += 1
    out: dict[str, list[MistakeCount]] = {}
    for gid, counter in per_q.items():
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        out[gid] = [MistakeCount(gid, m, n, seen[gid], messages[(gid, m)].most_common(1)[0][0])
                    for m, n in ranked]
    return out


def question_scores(data: ClassData, assignment: str) -> dict[str, list[float]]:
    """{grade_id: scores of graded submissions} (hand-graded cells: only those graded so far)."""
    out: dict[str, list[float]] = {q.grade_id: [] for q in data.questions[assignment]}
    for (a, student), rows in data.results.items():
        if a != assignment or data.status(a, student) != "graded":
            continue
        for r in rows:
            if r.score is not None:
                out.setdefault(r.grade_id, []).append(r.score)
    return out


def _stats(values: list[float]) -> tuple[str, str]:
    if not values:
        return "–", "–"
    return H.fmt_points(statistics.fmean(values)), H.fmt_points(statistics.median(values))


def _distribution_plot(data: ClassData, assignment: str, scores: dict[str, list[float]],
                       totals: list[float], path: Path) -> str:
    """Left: per question, how many scored full marks / part / zero (stacked bars); right: a histogram
    of the assignment totals. Two axes only, so it stays cheap for long assignments. Returns alt text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    qs = [(q.grade_id, q.points, scores.get(q.grade_id, [])) for q in data.questions[assignment]]
    height = max(2.4, 0.32 * len(qs) + 1.2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, height), gridspec_kw={"width_ratios": [3, 2]})
    fig.subplots_adjust(left=0.22, right=0.98, bottom=0.2, top=0.86, wspace=0.3)
    names = [_plain(name) for name, _, _ in qs][::-1]
    parts = {"full marks": [], "part": [], "zero": []}
    alt = []
    for _name, points, values in qs[::-1]:
        full = sum(1 for v in values if v >= points - 1e-9)
        zero = sum(1 for v in values if v <= 1e-9 and points > 0)
        parts["full marks"].append(full)
        parts["zero"].append(zero)
        parts["part"].append(len(values) - full - zero)
    for name, points, values in qs:
        if values:
            full = sum(1 for v in values if v >= points - 1e-9)
            alt.append(f"{name}: {full} of {len(values)} full marks, mean {H.fmt_points(statistics.fmean(values))}"
                       f" of {H.fmt_points(points)}")
        else:
            alt.append(f"{name}: no grades yet")
    base = [0] * len(names)
    for label, color in (("full marks", "#3a8a3a"), ("part", "#d9a21b"), ("zero", "#b5544a")):
        left.barh(names, parts[label], left=base, color=color, label=label)
        base = [b + v for b, v in zip(base, parts[label], strict=True)]
    left.set_xlabel("students", fontsize=8)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.tick_params(labelsize=7)
    left.legend(fontsize=7, loc="lower right", frameon=False, ncols=3, bbox_to_anchor=(1.0, 1.0))
    left.set_title("per question", fontsize=9, loc="left")
    max_total = data.max_score(assignment)
    counts = Counter(round(v, 2) for v in totals)
    xs = sorted(counts)
    width = max(max_total, 1.0) / 25
    right.bar(xs, [counts[x] for x in xs], width=width, color="#4a78b5")
    right.set_xlim(-width, max(max_total, max(xs, default=0.0)) + width)
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel(f"total score (of {H.fmt_points(max_total)})", fontsize=8)
    right.set_ylabel("students", fontsize=8)
    right.tick_params(labelsize=7)
    right.set_title("assignment total", fontsize=9, loc="left")
    fig.suptitle(f"{assignment}: score distribution", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    if totals:
        alt.append(f"total: mean {H.fmt_points(statistics.fmean(totals))}, median "
                   f"{H.fmt_points(statistics.median(totals))} of {H.fmt_points(max_total)}")
    return f"Score distribution for {assignment}. " + "; ".join(alt) + "."


def _plain(label: str) -> str:
    """A plot label shown as written ('$' would start matplotlib mathtext, which can fail to parse)."""
    return label.replace("$", r"\$")


def _mistake_plot(assignment: str, mistakes: dict[str, list[MistakeCount]], path: Path) -> str | None:
    """Horizontal bars: share of the answers to each question with each of the most frequent mistakes."""
    items = sorted((m for ms in mistakes.values() for m in ms), key=lambda m: -m.percent)[:12]
    if not items:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.2))
    labels = [_plain(f"{m.grade_id}: {m.mistake}") for m in items][::-1]
    ax.barh(labels, [m.percent for m in items][::-1], color="#b5544a")
    ax.set_xlabel("% of answers to the question")
    ax.set_xlim(0, 100)
    ax.set_title(f"{assignment}: most frequent mistakes", fontsize=10)
    ax.tick_params(labelsize=8)
    fig.subplots_adjust(left=0.38, right=0.97, bottom=0.8 / fig.get_figheight(), top=1 - 0.45 / fig.get_figheight())
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return (f"Most frequent mistakes in {assignment}: "
            + "; ".join(f"{m.grade_id} {m.mistake} {m.percent:.0f}%" for m in items) + ".")


def _hand_note(data: ClassData, assignment: str, graded: list[str]) -> str:
    """' 3 of them await hand grading (3 points): their totals are not final.' or ''."""
    waiting = [s for s in graded if data.to_grade(assignment, s)]
    if not waiting:
        return ""
    points = sum(data.to_grade(assignment, s) for s in waiting)
    return (f" {len(waiting)} of them await hand grading ({hand_points(points)}): their totals below are "
            "not final.")


def assignment_section(data: ClassData, assignment: str, img_dir: Path) -> str:
    graded = [s for s in data.students if data.status(assignment, s) == "graded"]
    ungraded = [(s, data.submissions[(assignment, s)].reason) for s in data.students
                if data.status(assignment, s).startswith("ungraded")]
    missing = [s for s in data.students if data.status(assignment, s) == "missing"]
    scores = question_scores(data, assignment)
    totals = [data.score(assignment, s) or 0.0 for s in graded]
    mistakes = mistake_counts(data, assignment)
    skipped = not_answered(data, assignment)
    parts = [f"<h2 id=\"{H.escape(assignment)}\">{H.escape(assignment)}</h2>",
             f"<p>{len(graded)} graded, {len(ungraded)} ungraded, {len(missing)} missing "
             f"(of {len(data.students)} students).{_hand_note(data, assignment, graded)}</p>"]
    rows = []
    for q in data.questions[assignment]:
        mean, median = _stats(scores.get(q.grade_id, []))
        n = len(scores.get(q.grade_id, []))
        unanswered = f"{skipped[q.grade_id]}" if q.kind == "auto" else "–"
        rows.append(f"<tr><td>{H.escape(q.grade_id)}</td><td>{q.kind}</td><td class=\"num\">"
                    f"{H.fmt_points(q.points)}</td><td class=\"num\">{n}</td>"
                    f"<td class=\"num\">{unanswered}</td>"
                    f"<td class=\"num\">{mean}</td><td class=\"num\">{median}</td></tr>")
    mean, median = _stats(totals)
    rows.append(f"<tr><th>total</th><td></td>"
                f"<td class=\"num\">{H.fmt_points(data.max_score(assignment))}</td>"
                f"<td class=\"num\">{len(totals)}</td><td></td><td class=\"num\">{mean}</td>"
                f"<td class=\"num\">{median}</td></tr>")
    parts.append("<table><thead><tr><th>question</th><th>kind</th><th>points</th><th>scores</th>"
                 "<th title=\"answer cell left as released, or the notebook stopped before it\">not answered"
                 "</th><th>mean</th><th>median</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")
    parts.append("<p class=\"muted\">Not answered: the answer cell was left as released, the answer was "
                 "never defined, or the notebook stopped before the exercise; such answers score 0 but are "
                 "not counted as mistakes below.</p>")
    if graded:
        img = img_dir / f"{assignment}_scores.png"
        alt = _distribution_plot(data, assignment, scores, totals, img)
        parts.append(f"<figure><img src=\"img/{H.escape(img.name)}\" alt=\"{H.escape(alt)}\">"
                     f"<figcaption>Score distribution per question and of the total.</figcaption></figure>")
    parts.append("<h3>Most frequent mistakes <span class=\"muted\">(share of the students who answered "
                 "the question)</span></h3>")
    if not mistakes:
        parts.append("<p class=\"muted\">No diagnosed mistakes.</p>")
    else:
        img = img_dir / f"{assignment}_mistakes.png"
        alt = _mistake_plot(assignment, mistakes, img)
        if alt:
            parts.append(f"<figure><img src=\"img/{H.escape(img.name)}\" alt=\"{H.escape(alt)}\"></figure>")
        rows = []
        for q in data.questions[assignment]:
            for m in mistakes.get(q.grade_id, [])[:TOP_MISTAKES]:
                rows.append(f"<tr><td>{H.escape(q.grade_id)}</td><td class=\"num\">{m.percent:.0f}%</td>"
                            f"<td class=\"num\">{m.count} of {m.of}</td><td>{H.untrusted(m.mistake)}</td>"
                            f"<td>{H.untrusted(m.message)}</td></tr>")
        parts.append("<table><thead><tr><th>question</th><th>share</th><th>count</th><th>mistake</th>"
                     "<th>message shown</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")
    parts.append("<h3>Ungraded submissions</h3>")
    if ungraded:
        rows = [f"<tr><td>{H.untrusted(s)}</td><td>{H.untrusted(r or 'no reason recorded')}</td></tr>"
                for s, r in ungraded]
        parts.append("<table><thead><tr><th>student</th><th>reason</th></tr></thead><tbody>"
                     + "\n".join(rows) + "</tbody></table>")
    else:
        parts.append("<p class=\"muted\">None.</p>")
    return "\n".join(parts)


def render(course: Course, data: ClassData) -> Path:
    root = course.reports
    img_dir = root / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    H.copy_static(root)
    sections = [assignment_section(data, a, img_dir) for a in data.assignments]
    totals = [data.total(s) for s in data.students]
    mean, median = _stats(totals)
    max_total = sum(data.max_score(a) for a in data.assignments)
    toc = " · ".join(f"<a href=\"#{H.escape(a)}\">{H.escape(a)}</a>" for a in data.assignments)
    body = (f"<h1>Class report</h1><p>{len(data.students)} students, {len(data.assignments)} assignments. "
            f"Course total (missing and ungraded count 0): mean {mean}, median {median} of "
            f"{H.fmt_points(max_total)}.</p><p>{toc}</p>" + "\n".join(sections))
    out = root / "index.html"
    H.write_page(out, H.page("Class report", body))
    return out

