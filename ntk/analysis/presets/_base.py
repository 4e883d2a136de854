"""What every preset shares: the result type, the registry, size defaults and small helpers."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ..progress import Progress, Tracker  # noqa: F401  (re-exported for the preset modules)
from . import text


@dataclasses.dataclass
class PresetResult:
    """What a preset returns: plotly figures, measured numbers, a caption and its configuration.

    `labels` maps each number to a readable description; `data` holds the plain arrays the
    figures were drawn from (for tests and further analysis).
    """

    name: str
    title: str
    figures: dict
    numbers: dict
    caption: str
    config: dict
    labels: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict, repr=False)
    elapsed_s: float = 0.0

    def show(self):
        """Display every figure (inline in Jupyter)."""
        for fig in self.figures.values():
            fig.show()

    def table(self) -> list:
        """[(name, value, description)] for every number."""
        return [(k, v, self.labels.get(k, k)) for k, v in self.numbers.items()]

    def __repr__(self):
        lines = [f"PresetResult({self.name!r}: {self.title}; {self.elapsed_s:.1f} s"
                 f"{', fast' if self.config.get('fast') else ''})",
                 f"  figures: {', '.join(self.figures)}", "  numbers:"]
        for k, v in self.numbers.items():
            lines.append(f"    {k} = {_fmt(v)}" + (f"   # {self.labels[k]}" if k in self.labels else ""))
        lines.append("  caption: " + (self.caption[:200] + " ..." if len(self.caption) > 200
                                      else self.caption))
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A registered preset: `fn(fast=..., progress=...)` returns a `PresetResult`."""

    name: str
    title: str
    reference: str
    summary: str
    fn: Callable = dataclasses.field(repr=False, compare=False)

    def __call__(self, **kwargs) -> PresetResult:
        return self.fn(**kwargs)

    def __repr__(self):
        return f"PresetInfo({self.name!r}: {self.title} — {self.reference})"


PRESETS: dict = {}


def register(fn):
    """Register preset function `fn`; its title, reference and summary are `text.INFO[name]`."""
    info = text.INFO[fn.__name__]
    PRESETS[fn.__name__] = PresetInfo(fn.__name__, info["title"], info["reference"],
                                      info["summary"], fn)
    return fn


def result(name, figures, numbers, config, labels, data, t0) -> PresetResult:
    """The `PresetResult` of preset `name` with its caption from `text.caption(name, ...)`."""
    import time

    return PresetResult(name, PRESETS[name].title, figures, numbers,
                        text.caption(name, numbers, config), config, labels, data,
                        time.time() - t0)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def pick(value, default, fast_value, fast):
    """`value` if given, else the fast or the full-size default."""
    if value is not None:
        return value
    return fast_value if fast else default


def work(net, in_dim: int, steps: int = 1) -> int:
    """Units of progress for training `net` `steps` steps (~ parameters × steps / 10⁴): presets
    count progress in these, so progress fractions, and the times left extrapolated from them,
    follow the real cost (a width-10000 net counts for far more than a width-500 one)."""
    return max(1, int(round(net.num_params(in_dim) * max(int(steps), 1) / 1e4)))


def seed_list(seeds) -> list:
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def rms(a) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(a, dtype=np.float64)))))


def stable_lr(net, x_train, fraction=0.5):
    """fraction x the largest stable GD rate 2N/lambda_max of the infinite-width NTK."""
    from ...dynamics import max_learning_rate
    from ...infinite import infinite_kernel

    k = infinite_kernel(net, x_train, get="ntk").ntk
    return fraction * max_learning_rate(k)
