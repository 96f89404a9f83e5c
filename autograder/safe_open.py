"""Reading files of a submission without following symlinks (submissions are untrusted input).

A submitted notebook or timestamp.txt that is a symlink could point at the source notebook, the
gradebook or any file the grader can read; these helpers refuse it. `check_submission` vets a whole
submission folder; `read_bytes` opens with O_NOFOLLOW | O_NONBLOCK (a FIFO never blocks the grader)
and accepts only a regular file.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class UnsafeFile(OSError):
    """A submission file that is a symlink, not a regular file, or outside its folder (one line)."""


def open_regular(path) -> int:
    """A read-only descriptor of the regular file `path`; never follows a symlink in the last
    component, never blocks on a FIFO (UnsafeFile for both). FileNotFoundError when it does not exist."""
    path = str(path)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a symlink (EMLINK on some BSDs)
            raise UnsafeFile(f"{os.path.basename(path)} is a symlink") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{os.path.basename(path)} is not a regular file")
    return fd


def read_bytes(path, limit: int) -> bytes:
    """The content of the regular file `path` (at most `limit` bytes, else UnsafeFile); never follows
    a symlink in the last component. FileNotFoundError when it does not exist."""
    path = str(path)
    fd = open_regular(path)
    try:
        st = os.fstat(fd)
        if st.st_size > limit:
            raise UnsafeFile(f"{os.path.basename(path)} is larger than {limit} bytes")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeFile(f"{os.path.basename(path)} is larger than {limit} bytes")
        return data
    finally:
        os.close(fd)


def check_submission(submitted: Path, student: str, assignment: str, names) -> str | None:
    """Why submitted/<student>/<assignment>/ cannot be graded safely (one line), or None.

    Refused: the student or assignment folder is a symlink or resolves elsewhere, or any of `names`
    (notebooks, timestamp.txt) that exists is a symlink or not a regular file."""
    base = Path(submitted)
    folder = base / student / assignment
    for p in (base / student, folder):
        try:
            if stat.S_ISLNK(os.lstat(p).st_mode):
                return f"submission is a symlink ({p.relative_to(base)})"
        except OSError as exc:
            return f"submission folder unreadable ({exc.strerror})"
    try:
        if Path(os.path.realpath(folder)) != Path(os.path.realpath(base)) / student / assignment:
            return "submission folder resolves outside submitted/"
    except (OSError, ValueError):
        return "submission folder unreadable"
    for name in names:
        try:
            st = os.lstat(folder / name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{name} is unreadable ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return f"submission is a symlink ({name})"
        if not stat.S_ISREG(st.st_mode):
            return f"{name} is not a regular file"
    return None
