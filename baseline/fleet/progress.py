"""A progress bar on stderr for long fleet runs."""

from __future__ import annotations

import time
from typing import Any, TextIO

from baseline.fleet.text import _plain

__all__ = [
    "ProgressBar",
]

# =========================================================================== progress


class ProgressBar:
    """A one-line progress bar on a stream (stderr), redrawn at most every ``interval`` seconds.

    Disabled, it writes nothing: callers decide (a TTY, or ``--progress``), this class never looks.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        enabled: bool = True,
        label: str = "fleet",
        width: int = 28,
        interval: float = 0.1,
        clock: Any = time.monotonic,
    ) -> None:
        self.total = max(total, 0)
        self.stream = stream
        self.enabled = enabled
        self.label = label
        self.width = width
        self.interval = interval
        self.clock = clock
        self.done = 0
        self._start = clock()
        self._last = -1e9
        self._drawn = False

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw(now, note)

    def _draw(self, now: float, note: str) -> None:
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.width)
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "█" * filled + "·" * (self.width - filled)
        line = f"\r{self.label} [{bar}] {self.done}/{self.total} {frac * 100:3.0f}% {rate:5.1f}/s eta {eta:4.0f}s"
        if note:
            line += " " + _plain(note, 32)
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
