"""Progress lines on stderr: passages done, rate and time left."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``3h05m``, ``4m07s`` or ``12s``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Prints ``[label] done/total passages (pct), rate/s, ETA`` at most every ``interval_s``
    seconds and at the end. The rate counts only this run's passages (a resumed job skips the
    ones already done)."""

    def __init__(self, label: str, total: int, done: int = 0, stream: TextIO | None = None, interval_s: float = 2.0):
        self.label, self.total, self.done = label, total, done
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self._start = self._last = time.perf_counter()
        self._new = 0

    def update(self, passages: int) -> None:
        self.done += passages
        self._new += passages
        now = time.perf_counter()
        if now - self._last >= self.interval_s or self.done >= self.total:
            self._last = now
            self.stream.write(self.line(now - self._start) + "\n")
            self.stream.flush()

    def line(self, elapsed_s: float) -> str:
        rate = self._new / elapsed_s if elapsed_s > 0 else 0.0
        eta = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return f"[{self.label}] {self.done}/{self.total} passages ({percent:.0f}%), {rate:.1f}/s, ETA {eta}"
