"""The messages of the sandbox->grader channel: one dataclass per type, the only place type names live.

The runner (sandbox side) builds these and `runner.Channel.send`s them as signed JSON lines
`{"body": json({"seq", "type", **fields}), "mac"}`; the grader (autograder.sandbox) authenticates a
line, checks its sequence number, then turns its body back into a message with `parse`, and checks the
order of markers and answers (sandbox.MessageOrder).

Threat: student code runs in the same process as the runner and can find the signing key, so a
signed body is still untrusted data. `parse` accepts only the known types, normalises what the grader
reads (a cell number is an int or None; texts are cut to a length) and raises ValueError for an answer
whose identifying fields are malformed; the payload of an answer stays raw data for the judge to
validate. Constructors never validate: the runner is the only honest sender.

Per run, in order: Ready, then for each step a Cell marker (extract=True for an extraction step),
after a code marker possibly CellError and Stopped, after an extraction marker one Answer per
(grade_id, variant) (variant None for the student's answer, k for catalogued wrong answer k); the
run ends with Done, or Fatal on a sandbox error.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_ERROR_CHARS = 300      # an error line as the runner sends it
MAX_TEXT_CHARS = 300       # a warning or error text as the grader keeps it
MAX_FATAL_CHARS = 200


def error_text(exc: BaseException) -> str:
    """`exc` as one line of at most MAX_ERROR_CHARS (for a message field); never raises."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:MAX_ERROR_CHARS]


class Message:
    """Base of the message types; `TYPE` is the name on the wire."""

    TYPE: ClassVar[str]

    def fields(self) -> dict:
        """The body's fields, without "seq" and "type" (added by the channel)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_body(cls, body: dict) -> Message:
        raise NotImplementedError


@dataclass(frozen=True)
class Ready(Message):
    """The sandbox is set up; `warning` names each limit that could not be applied."""

    TYPE: ClassVar[str] = "ready"
    warning: str | None = None
    pid: int | None = None
    t: float | None = None

    @classmethod
    def from_body(cls, body: dict) -> Ready:
        w = body.get("warning")
        return cls(warning=str(w)[:MAX_TEXT_CHARS] if w else None)


@dataclass(frozen=True)
class Cell(Message):
    """The marker of the next step: code cell `cell` starts, or (extract) its exercises are read."""

    TYPE: ClassVar[str] = "cell"
    cell: int | None
    extract: bool = False

    @classmethod
    def from_body(cls, body: dict) -> Cell:
        return cls(_cell(body), body.get("extract") is True)


@dataclass(frozen=True)
class CellError(Message):
    """Code cell `cell` raised (one line)."""

    TYPE: ClassVar[str] = "cell_error"
    cell: int | None
    error: str

    @classmethod
    def from_body(cls, body: dict) -> CellError:
        return cls(_cell(body), str(body.get("error"))[:MAX_TEXT_CHARS])


@dataclass(frozen=True)
class Answer(Message):
    """What the sandbox read for exercise `grade_id` (variant None) or catalogued wrong answer
    `variant`: plain data as produced by the exercise kind's reader (autograder.kinds)."""

    TYPE: ClassVar[str] = "answer"
    grade_id: str
    variant: int | None
    answer: Any

    @classmethod
    def from_body(cls, body: dict) -> Answer:
        gid, variant = body.get("grade_id"), body.get("variant")
        if not (isinstance(gid, str) and (variant is None or (isinstance(variant, int)
                                                              and not isinstance(variant, bool)))):
            raise ValueError("a malformed answer")
        return cls(gid, variant, body.get("answer"))


@dataclass(frozen=True)
class Stopped(Message):
    """The notebook stopped itself at cell `cell` (SystemExit): nothing after it ran."""

    TYPE: ClassVar[str] = "stopped"
    cell: int | None
    reason: str = ""

    @classmethod
    def from_body(cls, body: dict) -> Stopped:
        return cls(_cell(body), str(body.get("reason", "")))


@dataclass(frozen=True)
class Fatal(Message):
    """The sandbox itself failed (the run cannot be graded)."""

    TYPE: ClassVar[str] = "fatal"
    error: str

    @classmethod
    def from_body(cls, body: dict) -> Fatal:
        return cls(str(body.get("error"))[:MAX_FATAL_CHARS])


@dataclass(frozen=True)
class Done(Message):
    """Every step ran."""

    TYPE: ClassVar[str] = "done"
    t: float | None = None

    @classmethod
    def from_body(cls, body: dict) -> Done:
        return cls()


_TYPES = {cls.TYPE: cls for cls in (Ready, Cell, CellError, Answer, Stopped, Fatal, Done)}


def parse(body: dict) -> Message | None:
    """The message an authenticated body carries (grader side); None for an unknown type (ignored).
    Raises ValueError when a known type's fields do not fit it."""
    t = body.get("type")
    cls = _TYPES.get(t) if isinstance(t, str) else None
    return cls.from_body(body) if cls is not None else None


def _cell(body: dict) -> int | None:
    cell = body.get("cell")
    return cell if isinstance(cell, int) and not isinstance(cell, bool) else None
