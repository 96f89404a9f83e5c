"""Text a submission controls, made safe to print in a terminal, store in the gradebook and export.

The threat: much of what the grader reports about a submission is written by it: an exception message
raised in the sandbox, a reason built from a file name, a timestamp.txt. Raw, such text can take over
the instructor's terminal (ANSI escape sequences recolour it, move the cursor over earlier lines, set
the window title or, in some terminals, write to the clipboard), forge lines (a CR or LF inside a reason
prints a fake "graded 30, ungraded 0" or adds a row to a CSV) and reorder what is shown (bidirectional
controls). Every sink (progress lines, summaries, the results tables, CSV exports, the autograded copy)
passes such text through `clean()` (or `reason()`), stated here once:

- ANSI escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-character escapes, 8-bit CSI) go;
- CR, LF, tab and the other line/paragraph separators become a space, runs of spaces one space;
- every other C0 control, DEL, C1 control and bidirectional formatting character goes;
- a lone surrogate (not UTF-8) becomes U+FFFD.

`reason()` also makes a reason read as one sentence: parentheses nest at most one level deep (an inner
group becomes a comma clause: "not valid JSON (Expecting value: line 1, char 0)").
"""
from __future__ import annotations

import re

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"               # CSI: ESC [ params intermediates final
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"   # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"         # DCS, SOS, PM, APC ... ST
    r"|\x1b[ -/]*[0-~]?"                       # other escapes (charset designation, 7-bit C1, ...)
    r"|\x9b[0-?]*[ -/]*[@-~]?"                 # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)?"   # 8-bit DCS, SOS, OSC, PM, APC strings
)
_SPACES = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029 ]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean(text: object, limit: int | None = None) -> str:
    """`text` as one line without escape sequences or control characters (see the module docstring),
    stripped; cut to `limit` characters (an ellipsis marks a cut)."""
    if text is None:
        return ""
    out = _ANSI.sub("", str(text))
    out = _SPACES.sub(" ", out)
    out = _CONTROLS.sub("", out)
    out = _SURROGATE.sub("\ufffd", out).strip()
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 1, 0)].rstrip() + "…"
    return out


def reason(text: object, limit: int | None = 300) -> str:
    """A reason (why a submission is ungraded, why a step failed) as one clean sentence: `clean()`, and
    a parenthesis inside another becomes a comma clause ("a (b (c))" -> "a (b, c)")."""
    out, depth = [], 0
    for ch in clean(text):
        if ch == "(":
            depth += 1
            if depth == 1:
                out.append(ch)
            else:
                while out and out[-1] == " ":
                    out.pop()
                out.append(", " if out and out[-1] not in "(," else "")
            continue
        if ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(ch)
            continue
        out.append(ch)
    text = re.sub(r" {2,}", " ", "".join(out)).replace(" ,", ",")
    return clean(text, limit)


def escaped(text: object) -> str:
    """`text` (a file name from an upload, say) with every unprintable character shown as its escape
    (`\\x1b`, `\\u202e`): safe on a terminal, and the instructor still sees what was there."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))

