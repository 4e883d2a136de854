"""neural-tangents cookbook: an ensemble of trained nets vs the NTK and NNGP posteriors."""
from __future__ import annotations

import math
import time

import numpy as np

from ..ensemble import train_ensemble
from ._base import Progress, Tracker, pick, register, result, rms
from .text import NT_COOKBOOK_LABELS


def _sd(c):
    return np.sqrt(np.clip(np.diag(np.asarray(c)), 0, None))


def _posteriors(net, ds, lr, steps, diag_reg):
    """Infinite-width posteriors: NTK at t = steps and t = ∞, NNGP, and the expected test loss
    of the NTK ensemble over training, as a function of the recorded steps."""
    from ...dynamics import ensemble_mse, gp_inference, max_learning_rate
    from ...infinite import infinite_kernel

    ktt = infinite_kernel(net, ds.x_train)
    kst = infinite_kernel(net, ds.x_test, ds.x_train)
    kss = infinite_kernel(net, ds.x_test, get="nngp").nngp
    args = (ktt.nngp, ktt.ntk, ds.y_train, kst.nngp, kst.ntk, kss)
    ntk_mean, ntk_cov = ensemble_mse(*args, t=steps, learning_rate=lr, get="ntk")
    ntk_inf_mean, _ = ensemble_mse(*args, t=None, learning_rate=lr, get="ntk", diag_reg=diag_reg,
                                   compute_cov=False)
    nngp_mean, nngp_cov = gp_inference(ktt.nngp, ds.y_train, kst.nngp, kss, diag_reg=diag_reg)
    post = dict(mu_ntk=np.asarray(ntk_mean)[:, 0], sd_ntk=_sd(ntk_cov),
                mu_ntk_inf=np.asarray(ntk_inf_mean)[:, 0], mu_nngp=np.asarray(nngp_mean)[:, 0],
                sd_nngp=_sd(nngp_cov), max_lr=max_learning_rate(ktt.ntk))

    def theory_loss(rec_steps):
        means_t, covs_t = ensemble_mse(*args, t=np.asarray(rec_steps, dtype=ds.x_train.dtype),
                                       learning_rate=lr, get="ntk")
        means_t = np.asarray(means_t)[..., 0]
        var_t = np.clip(np.diagonal(np.asarray(covs_t), axis1=1, axis2=2), 0, None)
        return 0.5 * np.mean((means_t - ds.y_test[:, 0]) ** 2 + var_t, axis=1)

    return post, theory_loss


def _numbers(p, f_end, y, ens_loss, theory_loss, n_nets) -> dict:
    ens_mu = f_end.mean(0)
    ens_sd = f_end.std(0, ddof=1) if n_nets > 1 else np.zeros_like(f_end[0])
    return {
        "mean_rms_ens_vs_ntk": rms(ens_mu - p["mu_ntk"]),
        "std_rms_ens_vs_ntk": rms(ens_sd - p["sd_ntk"]),
        "mean_rms_in_sigma": rms(ens_mu - p["mu_ntk"]) / max(rms(p["sd_ntk"]), 1e-30),
        "expected_mean_rms_sampling": rms(p["sd_ntk"]) / math.sqrt(n_nets),
        "frac_inside_2sigma": float(np.mean(np.abs(f_end - p["mu_ntk"]) <= 2 * p["sd_ntk"] + 1e-6)),
        "mean_rms_ntk_vs_nngp": rms(p["mu_ntk"] - p["mu_nngp"]),
        "mean_rms_ntk_t_vs_inf": rms(p["mu_ntk"] - p["mu_ntk_inf"]),
        "test_rmse_ensemble_mean": rms(ens_mu - y),
        "test_rmse_ntk": rms(p["mu_ntk"] - y),
        "test_rmse_nngp": rms(p["mu_nngp"] - y),
        "final_test_loss_ens": float(ens_loss[-1]),
        "final_test_loss_theory": float(theory_loss[-1]),
        "max_stable_lr": float(p["max_lr"]),
    }


@register
def nt_cookbook(fast: bool = False, n_nets=None, width: int = 512, depth: int = 2,
                activation="erf", W_std: float = 1.5, b_std: float = 0.05, n_train: int = 5,
                n_test=None, noise: float = 0.1, learning_rate: float = 0.1, steps=None,
                diag_reg: float = 1e-4, data_seed: int = 0, chunk=None, progress: Progress = None):
    """Ensemble of trained finite nets vs infinite-width posteriors on the cookbook's 1-D task.

    Cookbook setting: 5 training points of sin(x) + N(0, 0.1²) noise on [−π, π], 2 hidden Erf
    layers of width 512 (W_std 1.5, b_std 0.05), SGD with learning rate 0.1 for 10000 steps,
    an ensemble of trained networks compared with the NTK posterior (nt.predict) at the same
    time and the NNGP posterior. fast=True: 8 nets, 1000 steps, 50 test points.
    """
    from ... import data
    from ...figures.presets import loss_curves, posterior_bands
    from ...nets import mlp

    t0 = time.time()
    n_nets, steps = int(pick(n_nets, 50, 8, fast)), int(pick(steps, 10000, 1000, fast))
    n_test = int(pick(n_test, 100, 50, fast))
    ds = data.sine_1d(n_train, n_test, noise=noise, seed=data_seed)
    net = mlp([width] * depth, 1, activation, W_std, b_std, "ntk")
    lr = float(learning_rate)
    tr = Tracker(progress, n_nets + 1)
    tr.start("infinite-width kernels")
    post, theory_loss_fn = _posteriors(net, ds, lr, steps, diag_reg)
    tr("infinite-width kernels", 1)
    every = max(1, steps // 20)
    out = train_ensemble(net, range(n_nets), ds.x_train, ds.y_train, ds.x_test, learning_rate=lr,
                         steps=steps, record_steps=list(range(0, steps + 1, every)) + [steps],
                         chunk=chunk, progress=lambda d, _t, label: tr.at(1 + d, f"{label}: {d}/{n_nets} nets"))
    rec_steps, f_end, y = out["steps"], out["f_test"][:, -1, :], ds.y_test[:, 0]  # f_end (E, m)
    theory_loss = theory_loss_fn(rec_steps)
    ens_loss = 0.5 * np.mean((out["f_test"] - y) ** 2, axis=(0, 2))
    numbers = _numbers(post, f_end, y, ens_loss, theory_loss, n_nets)
    bands = {f"NTK posterior (t={lr * steps:g})": (post["mu_ntk"], post["sd_ntk"]),
             "NNGP posterior": (post["mu_nngp"], post["sd_nngp"])}
    figs = {"posterior": posterior_bands(ds.x_test, ds.y_test, ds.x_train, ds.y_train, f_end, bands),
            "loss": loss_curves(rec_steps, {"ensemble: mean test loss of the nets": ens_loss,
                                            "NTK theory: expected test loss": theory_loss})}
    config = dict(fast=fast, n_nets=n_nets, width=width, depth=depth, activation=str(activation),
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  n_test=n_test, noise=noise, learning_rate=lr, steps=steps,
                  train_time=lr * steps, diag_reg=diag_reg, data_seed=data_seed,
                  dtype=str(ds.x_train.dtype))
    data_ = dict(x_test=ds.x_test, y_test=ds.y_test, x_train=ds.x_train, y_train=ds.y_train,
                 f_end=f_end, ntk_mean=post["mu_ntk"], ntk_std=post["sd_ntk"],
                 nngp_mean=post["mu_nngp"], nngp_std=post["sd_nngp"], steps=rec_steps,
                 ens_loss=ens_loss, theory_loss=theory_loss)
    return result("nt_cookbook", figs, numbers, config, dict(NT_COOKBOOK_LABELS), data_, t0)
