"""A dependency-free progress display on stderr: a redrawn bar on a TTY, one line per item otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, stream=None, width: int = 28):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.time()

    def advance(self, label: str) -> None:
        """One more item finished; `label` says which and how it went (cleaned: it quotes submissions)."""
        from autograder.textclean import clean

        label = clean(label)
        self.done += 1
        if self.tty:
            filled = int(self.width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (self.width - filled)
            elapsed = time.time() - self.start
            line = f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s  {label}"[:160]
            self.stream.write(line.ljust(100))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {label}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done != self.total:
            self.stream.write("\n")
            self.stream.flush()
