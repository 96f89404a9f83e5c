"""Reading a SOURCE of submissions, a folder or a zip, as a flat list of files (`Entry`).

Threats answered here: a zip entry whose path escapes (absolute, `..`, a drive letter, NUL), a symlink
(in a zip or in a folder: never followed), a decompression bomb (sizes in a zip's headers can lie:
the bytes actually decompressed are counted against the total cap), a FIFO or device in a folder
(never opened). A zip with any unsafe entry, more entries than MAX_ENTRIES or more than the total cap
is refused as a whole (SourceError, one line).

An entry's time is the zip member's date_time (the LMS wrote it; zip times carry no zone and are read
as UTC) or, in a folder, the file's mtime (unzip restores it from the archive).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

MAX_ENTRIES = 20_000
_CHUNK = 1 << 20


class SourceError(Exception):
    """SOURCE cannot be used at all (unsafe zip, missing path): one line for the user."""


class TooLarge(SourceError):
    """A file holds more bytes than the limit it is read with."""


@dataclasses.dataclass
class Entry:
    """One file of SOURCE: its path inside SOURCE (posix), size (as declared), time, and its bytes."""
    path: str
    size: int
    mtime: dt.datetime | None
    _chunks: Callable[[int], Iterator[bytes]]

    def chunks(self, limit: int) -> Iterator[bytes]:
        """The content in pieces; TooLarge once more than `limit` bytes have come."""
        return self._chunks(limit)

    def read(self, limit: int) -> bytes:
        """The whole content; TooLarge when it is larger than `limit` bytes."""
        return b"".join(self.chunks(limit))


def _limited(pieces: Iterator[bytes], limit: int, what: str) -> Iterator[bytes]:
    seen = 0
    for piece in pieces:
        seen += len(piece)
        if seen > limit:
            raise TooLarge(f"{what} holds more than {limit / 1e6:g} MB")
        yield piece


def read_source(source: Path, max_total: int, skipped: list[tuple[str, str]]) -> list[Entry]:
    """The files of `source` (a folder or a zip); files not read are appended to `skipped`."""
    if not source.exists():
        raise SourceError(f"{source} does not exist")
    if source.is_dir():
        return folder_entries(source, skipped, max_total)
    if zipfile.is_zipfile(source):
        return zip_entries(source, max_total)
    raise SourceError(f"{source} is neither a folder nor a zip file")


def _unsafe_zip_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "a path that climbs out with '..'"
    if "\x00" in name:
        return "a NUL character in its name"
    if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
        return "a symbolic link"
    return None


def zip_entries(path: Path, max_total: int) -> list[Entry]:
    """The files of a zip, after refusing it as a whole if any entry is unsafe or it is too big."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{path} is not a readable zip file: {exc}") from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise SourceError(f"{path}: {len(infos)} entries is more than the cap of {MAX_ENTRIES}; refused")
    unsafe = [(i.filename, r) for i in infos if (r := _unsafe_zip_reason(i))]
    if unsafe:
        listed = "; ".join(f"{n!r} is {r}" for n, r in unsafe[:5])
        raise SourceError(f"{path}: refused as a whole, it has {len(unsafe)} unsafe entries: {listed}")
    total = sum(i.file_size for i in infos)
    if total > max_total:
        raise SourceError(f"{path}: {total / 1e6:.0f} MB uncompressed is more than the cap of "
                          f"{max_total / 1e6:.0f} MB; refused")
    budget = [max_total]  # bytes still allowed to be decompressed, whatever the headers claim

    def chunks(info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
        limit = max(0, min(limit, budget[0]))   # read(-n) would read everything
        seen = 0
        with zf.open(info) as fh:
            while piece := fh.read(min(_CHUNK, limit + 1 - seen)):
                seen += len(piece)
                budget[0] -= len(piece)
                if seen > limit:
                    raise TooLarge(f"{info.filename} holds more than {limit / 1e6:g} MB "
                                   "(the file's or the zip's cap)")
                yield piece

    entries = []
    for info in infos:
        if info.is_dir():
            continue
        try:
            when = dt.datetime(*info.date_time, tzinfo=dt.UTC)
        except ValueError:
            when = None
        entries.append(Entry(info.filename.replace("\\", "/"), info.file_size, when,
                             lambda limit, info=info: chunks(info, limit)))
    return entries


def folder_entries(root: Path, skipped: list[tuple[str, str]], max_total: int) -> list[Entry]:
    """The regular files under root (symlinks and special files are listed as skipped, never read)."""
    from autograder.safe_open import open_regular

    def chunks(p: Path, limit: int) -> Iterator[bytes]:
        fd = open_regular(p)
        try:
            yield from _limited(iter(lambda: os.read(fd, _CHUNK), b""), min(limit, max_total), p.name)
        finally:
            os.close(fd)

    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                skipped.append(((here / d).relative_to(root).as_posix() + "/", "a symbolic link, not followed"))
                dirnames.remove(d)
        dirnames.sort()
        for f in sorted(filenames):
            p = here / f
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                skipped.append((rel, "a symbolic link or special file, not followed"))
                continue
            entries.append(Entry(rel, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC),
                                 lambda limit, p=p: chunks(p, limit)))
    return entries
