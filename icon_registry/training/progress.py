"""A small progress reporter on stderr: a redrawn bar on a TTY, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, *, enabled: bool = True, stream=None, lines: int = 10):
        self.total = max(1, int(total))
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.count = 0
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.every = max(1, self.total // max(1, lines))
        self.postfix = ""

    def update(self, n: int = 1, **postfix):
        self.count += n
        if postfix:
            self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw > 0.1 or self.count >= self.total:
                self._draw(now)
        elif self.count % self.every == 0 or self.count >= self.total:
            self._line(now)

    def _eta(self, now):
        rate = self.count / max(now - self.start, 1e-9)
        return (self.total - self.count) / rate if rate > 0 else float("inf")

    def _draw(self, now):
        self.last_draw = now
        frac = min(1.0, self.count / self.total)
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(f"\r{self.label} [{bar}] {self.count}/{self.total} "
                          f"{now - self.start:.1f}s eta {self._eta(now):.0f}s {self.postfix}\x1b[K")
        self.stream.flush()

    def _line(self, now):
        self.stream.write(f"{self.label}: {self.count}/{self.total} ({100 * self.count / self.total:.0f}%) "
                          f"{now - self.start:.1f}s {self.postfix}\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def note(message: str, enabled: bool = True):
    if enabled:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
