"""Home page: the infinite-width NTK on the unit circle for several depths."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..progress import as_progress
from ._common import infinite_net, np_or_none


def home_data(depths: Sequence[int] = (1, 2, 3, 4), activation: str = "relu", W_std: float = 1.5,
              b_std: float = 0.05, n_gamma: int = 121, progress: Optional[Callable] = None) -> dict:
    """Infinite-width NTK Θ∞(x₀, x(γ)) on the unit circle, x₀ = (1, 0), for several depths.

    Returns gamma (G,), depths (D,), curves (D, G), activation."""
    from ... import data
    from ...infinite import infinite_kernel

    prog = as_progress(progress)
    gamma = np.linspace(-np.pi, np.pi, int(n_gamma))
    xc = data.circle_points(gamma).astype(np.float32)
    x0 = xc[len(gamma) // 2: len(gamma) // 2 + 1]
    curves = []
    for i, depth in enumerate(depths):
        inet = infinite_net(int(depth), activation, 0.1, W_std, b_std, "ntk", 1)
        curves.append(np_or_none(infinite_kernel(inet, x0, xc, get="ntk").ntk)[0])
        prog(i + 1, len(depths), f"depth {depth}")
    return dict(gamma=gamma, depths=np.asarray(depths), curves=np.asarray(curves),
                activation=activation)
