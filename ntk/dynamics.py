"""Backwards-compatible home of the closed forms and the training engine.

The closed forms live in `ntk.predict` (neural-tangents' API) and the training engine in
`ntk.train`; this module re-exports both under their old names. `gp_inference` here accepts both
call styles:

    mean, cov = gp_inference(k_train_train, y_train, k_test_train, k_test_test=None, diag_reg=0.)
    predict_fn = gp_inference(k_train_train, y_train, diag_reg=0., ...)    # NT, = ntk.predict's

The first (arrays in the third position, or `k_test_train=`) is `ntk.predict.gp_posterior`.
"""
from __future__ import annotations

import numpy as np

from . import predict as _predict
from .predict import (Gaussian, ensemble_mse, gp_posterior, gradient_descent_mse,  # noqa: F401
                      gradient_descent_mse_ensemble, max_learning_rate)
from .train import (StepRecord, TrainResult, TrainState, _make_runner, _make_segment,  # noqa: F401
                    _make_start, _runner_fn, make_optimizer, train)


def gp_inference(k_train_train, y_train, *args, **kwargs):
    """GP posterior, in either call style (see the module docstring).

    Old style (`k_test_train` as third argument or keyword): returns (mean, cov or None) of the
    exact GP with the one kernel given (`ntk.predict.gp_posterior`). Otherwise NT's
    `ntk.predict.gp_inference(k_train_train, y_train, diag_reg, diag_reg_absolute_scale,
    trace_axes)` returning predict_fn(get, k_test_train, k_test_test).
    """
    legacy = "k_test_train" in kwargs or "k_test_test" in kwargs or (
        bool(args) and args[0] is not None and not isinstance(args[0], (int, float, np.number))
        and np.ndim(args[0]) > 0)
    if legacy:
        return gp_posterior(k_train_train, y_train, *args, **kwargs)
    return _predict.gp_inference(k_train_train, y_train, *args, **kwargs)


__all__ = ["Gaussian", "StepRecord", "TrainResult", "TrainState", "ensemble_mse", "gp_inference",
           "gp_posterior", "gradient_descent_mse", "gradient_descent_mse_ensemble", "make_optimizer",
           "max_learning_rate", "train"]
