"""The grading specs of a source notebook: which exercises it has and how each one is judged.

An exercise is a test cell (nbgrader `grade: true, solution: false`) whose hidden part assigns one
Python literal, `grading = {...}` (course/AUTHORING.md). The literal is read with `ast.literal_eval`,
never executed. Manually graded cells (`grade: true, solution: true`) are `ManualCell`s.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from autograder.kinds import NAMES, kind_of
from autograder.kinds.base import BadSpec, is_identifier, is_number
from autograder.nbmeta import is_manual_cell, is_test_cell, nbgrader_meta
from autograder.notebooks import read_notebook

_COMMON_KEYS = {"kind", "answer", "hand", "target", "rtol", "atol", "wrong"}
_WRONG_KEYS = {"mistake", "message", "code", "max_score"}


@dataclass(frozen=True)
class WrongAnswer:
    """A catalogued wrong answer: `code` replaces the whole answer cell."""

    mistake: str
    message: str
    code: str
    max_score: float = 0.0


@dataclass(frozen=True)
class Exercise:
    grade_id: str            # test cell grade_id, e.g. "02_jac_tanh"
    notebook: str            # notebook file stem, e.g. "02_jacobians"
    points: float
    kind: str                # a module of autograder.kinds: "function", "expression", "value", ...
    answer: str              # name the student defines
    answer_cell: str         # grade_id of the answer cell: f"{grade_id}_answer" (must exist)
    spec: dict               # the whole `grading` literal
    wrong: tuple[WrongAnswer, ...]
    hand: bool

    @property
    def rtol(self) -> float:
        """Relative tolerance: the spec's, else 1e-11 for hand derivations, else 1e-7."""
        return float(self.spec.get("rtol", 1e-11 if self.hand else 1e-7))

    @property
    def atol(self) -> float:
        return float(self.spec.get("atol", 0.0))

    @property
    def target(self) -> str | None:
        return self.spec.get("target")


@dataclass(frozen=True)
class ManualCell:
    """A hand-graded cell (a written explanation)."""

    grade_id: str
    notebook: str
    points: float


class SpecError(ValueError):
    """A malformed grading spec or exercise layout; the message is one line naming notebook and cell."""


def find_grading_literal(source: str) -> ast.expr | None:
    """The value node of the single top-level `grading = ...` assignment in `source` (None if absent).

    Raises SyntaxError when the source does not parse and ValueError when there are several.
    """
    tree = ast.parse(_strip_magics(source))
    found = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "grading"
    ]
    if len(found) > 1:
        raise ValueError("more than one `grading = ...` assignment")
    return found[0] if found else None


def _strip_magics(source: str) -> str:
    """Comment out IPython magics / shell lines so that `ast` can parse the rest."""
    lines = source.splitlines()
    return "\n".join("#" + line if line.lstrip().startswith(("%", "!")) else line for line in lines)


def load_exercises(source_notebook: Path) -> list[Exercise]:
    """Every autograded exercise of a source notebook, in notebook order; validates every spec.

    Raises SpecError (one line: notebook, cell, problem) on the first problem found.
    """
    path = Path(source_notebook)
    nb = read_notebook(path)
    stem = path.stem
    ids = _grade_ids(nb, stem)
    exercises: list[Exercise] = []
    answers: dict[str, str] = {}
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        meta = nbgrader_meta(cell)
        gid = meta["grade_id"]
        where = f"{stem}: cell {gid!r}"
        try:
            node = find_grading_literal(cell.source)
        except (SyntaxError, ValueError) as exc:
            raise SpecError(f"{where}: cannot read the grading spec ({_one_line(exc)})") from None
        if node is None:
            raise SpecError(f"{where}: test cell has no `grading = {{...}}` spec in its hidden part")
        try:
            spec = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            raise SpecError(f"{where}: `grading` is not a Python literal ({_one_line(exc)})") from None
        exercise = _exercise(spec, gid, stem, meta, where)
        if exercise.answer_cell not in ids:
            raise SpecError(f"{where}: no answer cell with grade_id {exercise.answer_cell!r}")
        if exercise.answer in answers:
            other = answers[exercise.answer]
            raise SpecError(f"{where}: answer name {exercise.answer!r} is also used by {other!r}")
        answers[exercise.answer] = gid
        exercises.append(exercise)
    return exercises


def load_manual_cells(source_notebook: Path) -> list[ManualCell]:
    """The manually graded cells (`grade` and `solution` both true), in notebook order."""
    path = Path(source_notebook)
    nb = read_notebook(path)
    _grade_ids(nb, path.stem)
    return [
        ManualCell(nbgrader_meta(c)["grade_id"], path.stem, _points(nbgrader_meta(c), f"{path.stem}: cell"))
        for c in nb.cells
        if is_manual_cell(c)
    ]


def _grade_ids(nb, stem: str) -> set[str]:
    """All grade_ids of the notebook; raises SpecError on a missing or duplicate id."""
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        gid = meta.get("grade_id")
        if (meta.get("grade") or meta.get("solution") or meta.get("locked")) and not isinstance(gid, str):
            raise SpecError(f"{stem}: cell {i} has nbgrader metadata but no grade_id")
        if gid is None:
            continue
        if gid in seen:
            raise SpecError(f"{stem}: grade_id {gid!r} is used by more than one cell")
        seen.add(gid)
    return seen


def _points(meta: dict, where: str) -> float:
    pts = meta.get("points")
    if isinstance(pts, bool) or not isinstance(pts, (int, float)) or pts < 0:
        gid = meta.get("grade_id")
        raise SpecError(f"{where} {gid!r}: graded cell needs non-negative `points`, got {pts!r}")
    return float(pts)


def _exercise(spec, gid: str, stem: str, meta: dict, where: str) -> Exercise:
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: `grading` must be a dict, got {type(spec).__name__}")
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in NAMES:
        raise SpecError(f"{where}: `kind` must be one of {', '.join(NAMES)}, got {kind!r}")
    rules = kind_of(kind)
    unknown = set(spec) - _COMMON_KEYS - rules.keys
    if unknown:
        raise SpecError(f"{where}: unknown key(s) for kind {kind!r}: {', '.join(sorted(map(str, unknown)))}")
    answer = spec.get("answer")
    if not is_identifier(answer):
        raise SpecError(f"{where}: `answer` must be a Python name, got {answer!r}")
    hand = spec.get("hand", False)
    if not isinstance(hand, bool):
        raise SpecError(f"{where}: `hand` must be True or False, got {hand!r}")
    target = spec.get("target")
    if target is not None and not is_identifier(target):
        raise SpecError(f"{where}: `target` must be a Python name, got {target!r}")
    for key in ("rtol", "atol"):
        if key in spec and not is_number(spec[key], minimum=0):
            raise SpecError(f"{where}: `{key}` must be a non-negative number, got {spec[key]!r}")
    try:
        rules.check_spec(spec)
    except BadSpec as exc:
        raise SpecError(f"{where}: {exc}") from None
    wrong = _wrong_answers(spec.get("wrong", []), where)
    return Exercise(
        grade_id=gid,
        notebook=stem,
        points=_points(meta, f"{stem}: cell"),
        kind=kind,
        answer=answer,
        answer_cell=f"{gid}_answer",
        spec=spec,
        wrong=wrong,
        hand=hand,
    )


def _wrong_answers(items, where: str) -> tuple[WrongAnswer, ...]:
    if not isinstance(items, list):
        raise SpecError(f"{where}: `wrong` must be a list of dicts")
    out = []
    for i, w in enumerate(items):
        at = f"{where}: wrong[{i}]"
        if not isinstance(w, dict):
            raise SpecError(f"{at}: must be a dict with mistake, message and code")
        extra = set(w) - _WRONG_KEYS
        if extra:
            raise SpecError(f"{at}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        for key in ("mistake", "message", "code"):
            if not isinstance(w.get(key), str) or not w[key].strip():
                raise SpecError(f"{at}: `{key}` must be a non-empty string")
        try:
            ast.parse(_strip_magics(w["code"]))
        except SyntaxError as exc:
            raise SpecError(f"{at}: `code` does not parse ({_one_line(exc)})") from None
        max_score = w.get("max_score", 0.0)
        if isinstance(max_score, bool) or not isinstance(max_score, (int, float)) or not 0 <= max_score < 1:
            raise SpecError(f"{at}: `max_score` must be a fraction in [0, 1), got {max_score!r}")
        out.append(WrongAnswer(w["mistake"], w["message"], w["code"], float(max_score)))
    return tuple(out)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
