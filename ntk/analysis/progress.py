"""One progress-callback convention for the library: `progress(done, total, label)`.

`done` and `total` count units of work (runs, steps, networks); `label` says what is being done.
Callbacks written for the older two-argument form `progress(done, total)` still work: every
function that takes a callback passes it through `as_progress`.
"""
from __future__ import annotations

from typing import Callable, Optional

Progress = Optional[Callable[[int, int, str], None]]


def _noop(done, total, label=""):
    return None


def as_progress(cb: Optional[Callable]) -> Callable[[int, int, str], None]:
    """`cb` as a three-argument callback (a no-op for None; a two-argument one drops the label):
    `ntk._validate.as_progress`, the library's one normalizer, with a no-op for None."""
    from .._validate import as_progress as normalize

    return normalize(cb) or _noop


def scaled(cb: Optional[Callable], offset: int, total: int, label: str):
    """A two-argument callback for a sub-task (e.g. `ntk.train(progress=...)`) that reports
    `(offset + done, total, label)` to `cb`; None when `cb` is None."""
    if cb is None:
        return None
    p = as_progress(cb)
    return lambda done, _total: p(offset + done, total, label)


class Tracker:
    """Counts units of work of a known total and reports each to `progress(done, total, label)`."""

    def __init__(self, progress: Optional[Callable], total: int):
        self.progress, self.total, self.done = as_progress(progress), max(int(total), 1), 0

    def __call__(self, label: str, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        self.progress(self.done, self.total, label)

    def at(self, done: int, label: str) -> None:
        """Report `done` units finished in all (for callbacks that count cumulatively)."""
        self.done = min(int(done), self.total)
        self.progress(self.done, self.total, label)

    def start(self, label: str) -> None:
        self.progress(self.done, self.total, label)


__all__ = ["Progress", "Tracker", "as_progress", "scaled"]
