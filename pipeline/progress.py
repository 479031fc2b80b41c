"""Progress bars that stay readable in logs.

On a terminal, :func:`progress_bar` is tqdm's bar. When stderr is not a terminal (``docker
compose logs``, a CI log, a file), it prints one plain line each time another ``PLAIN_STEP_PERCENT``
of the total is done (and at the end), instead of tqdm's carriage-return redraws.
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

#: a plain line per this many percent of the total
PLAIN_STEP_PERCENT = 10


class PlainProgress:
    """The part of tqdm's interface the pipeline uses, as plain lines on a stream."""

    def __init__(self, iterable=None, desc: str = "", total: float | None = None, unit: str = "it", initial: int = 0,
                 disable: bool = False, stream=None, **_ignored):
        self.iterable, self.desc, self.unit, self.disable = iterable, desc, unit, disable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n = total, initial
        self.stream = stream or sys.stderr
        self.postfix: dict = {}
        self.started = time.monotonic()
        self._next_step = self._step_after(initial)

    def _step_after(self, n: float) -> int:
        """The next multiple of the step, in percent, above ``n``'s share of the total."""
        if not self.total:
            return PLAIN_STEP_PERCENT
        done = 100 * n / self.total
        return int(done // PLAIN_STEP_PERCENT + 1) * PLAIN_STEP_PERCENT

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def set_postfix(self, refresh: bool = True, **postfix) -> None:
        self.postfix = postfix

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.disable or not self.total:
            return
        if 100 * self.n / self.total >= self._next_step or self.n >= self.total:
            self._line()
            self._next_step = self._step_after(self.n)

    def _line(self) -> None:
        elapsed = time.monotonic() - self.started
        shown = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        share = f" {100 * self.n / self.total:3.0f}%" if self.total else ""
        extra = "".join(f" {k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}:{share} {shown} {self.unit} in {elapsed:.0f} s{extra}", file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to clear: every line already stands on its own."""


def progress_bar(iterable=None, **kwargs):
    """tqdm on a terminal; :class:`PlainProgress` lines otherwise."""
    if sys.stderr.isatty():
        return tqdm(iterable, **kwargs)
    return PlainProgress(iterable, **kwargs)
