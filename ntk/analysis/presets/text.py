"""The prose of the paper presets, apart from their computation: titles, references, summaries,
the descriptions of the measured numbers and the captions (what the paper showed, what was run
here, what was measured). Captions are built from the computed numbers and the configuration,
never from hard-coded results.
"""
from __future__ import annotations

import numpy as np

JACOT = "Jacot, Gabriel & Hongler (2018), Neural Tangent Kernel, NeurIPS"

INFO = {
    "jacot_fig1": dict(
        title="Jacot et al. 2018, Fig. 1: NTK convergence on the unit circle", reference=JACOT,
        summary="Θ(x₀, x) along the unit circle for ReLU nets of two widths, at init and after "
                "training, several seeds, vs the infinite-width NTK."),
    "jacot_fig2": dict(
        title="Jacot et al. 2018, Fig. 2: trained networks vs the NTK Gaussian process",
        reference=JACOT,
        summary="Quantiles (10/50/90 %) of the functions learned by many finite-width nets on "
                "a few circle points vs the infinite-width Gaussian process of trained nets."),
    "lee2019": dict(
        title="Lee et al. 2019: wide networks evolve as linear models",
        reference="Lee, Xiao, Schoenholz, Bahri, Novak, Sohl-Dickstein & Pennington (2019), Wide "
                  "Neural Networks of Any Depth Evolve as Linear Models Under Gradient Descent, "
                  "NeurIPS",
        summary="Relative change of weights and NTK after training vs width (log-log slopes), "
                "and f(t) of a network vs its linearization during training."),
    "nt_cookbook": dict(
        title="neural-tangents cookbook: ensemble vs NTK and NNGP posteriors",
        reference="Novak et al. (2020), Neural Tangents: Fast and Easy Infinite Neural Networks "
                  "in Python (ICLR), 'Neural Tangents Cookbook' notebook",
        summary="5 noisy samples of sin on [−π, π]; an ensemble of trained Erf nets (width 512) "
                "vs the infinite-width NTK posterior (mean ± 2σ) and the NNGP posterior."),
    "stax_cnn": dict(
        title="CNN-GP / CNTK: convolutional vs fully connected kernels on digits (ntk.stax)",
        reference="Novak, Xiao, Lee, Bahri, Yang, Hron, Abolafia, Pennington & Sohl-Dickstein "
                  "(2019), Bayesian Deep Convolutional Networks with Many Channels are Gaussian "
                  "Processes, ICLR; Arora, Du, Hu, Li, Salakhutdinov & Wang (2019), On Exact "
                  "Computation with an Infinitely Wide Neural Net, NeurIPS",
        summary="Kernel regression at t = ∞ with the infinite-width NNGP and NTK of an MLP, a CNN "
                "without pooling and a CNN with global average pooling on the same digits, "
                "original and shifted by a pixel."),
}


# --------------------------------------------------------------------------------------------
# Descriptions of the measured numbers
# --------------------------------------------------------------------------------------------

def jacot_fig1_labels(widths, t_final) -> dict:
    labels = {}
    for w in widths:
        labels[f"dev_init_w{w}"] = (f"n={w}: max over γ and seeds of |Θ₀ − Θ∞| / max Θ∞ "
                                    "(at initialization)")
        labels[f"dev_trained_w{w}"] = f"n={w}: same after training (t={t_final:.3g})"
        labels[f"change_w{w}"] = f"n={w}: mean over seeds of max |Θ_t − Θ₀| / max Θ∞"
        labels[f"final_loss_w{w}"] = f"n={w}: mean final training loss"
    lo, hi = widths[0], widths[-1]
    labels["dev_ratio"] = f"deviation at init, n={lo} over n={hi}"
    labels["dev_ratio_theory"] = f"√({hi}/{lo}) expected from fluctuations of size 1/√n"
    return labels


def jacot_fig2_labels(widths) -> dict:
    labels = {}
    for w in widths:
        labels[f"median_rms_w{w}"] = f"n={w}: RMS over γ of (median of nets − GP mean)"
        labels[f"quantile_rms_w{w}"] = f"n={w}: RMS of (10 %, 90 % quantiles − GP quantiles)"
        labels[f"std_ratio_w{w}"] = f"n={w}: RMS std of nets / RMS std of the GP"
        labels[f"train_rmse_w{w}"] = f"n={w}: RMS training residual at the end"
    labels["gp_std_rms"] = "RMS over γ of the GP standard deviation"
    return labels


def lee2019_labels(metrics, widths, dyn_width, dyn_points) -> dict:
    from ...figures.theme import LABELS

    labels = {}
    for m in metrics:
        labels[f"slope_{m}"] = f"log-log slope of {LABELS.get(m, m)} vs width"
        labels[f"slope_{m}_ci_low"] = labels[f"slope_{m}_ci_high"] = "95 % confidence bound"
    for m in ("weight_change", "kernel_change"):
        for w in (widths[0], widths[-1]):
            labels[f"{m}_w{w}"] = f"n={w}: mean {LABELS[m]}"
    labels["lin_gap_max"] = (f"n={dyn_width}: max over training of RMS(f − fₗᵢₙ)/RMS(fₗᵢₙ at the "
                             f"end) on {dyn_points} test points")
    labels["final_loss"] = f"n={dyn_width}: final training loss of the network"
    labels["final_loss_lin"] = f"n={dyn_width}: final training loss of the linearized model"
    return labels


_ARCH_WORDS = {"mlp": "MLP (fully connected)", "cnn": "CNN without pooling",
               "cnn_pool": "CNN with global average pooling"}


def stax_cnn_labels(archs, shifts) -> dict:
    labels = {}
    for s in shifts:
        where = "original digits" if s == 0 else f"digits shifted by up to {s} pixel(s)"
        for a in archs:
            for g in ("ntk", "nngp"):
                labels[f"acc_{a}_{g}_shift{s}"] = (f"{_ARCH_WORDS[a]}: test accuracy of {g.upper()} "
                                                   f"regression at t = ∞, {where}")
        labels[f"pool_gain_ntk_shift{s}"] = f"NTK accuracy, pooled CNN minus MLP, {where}"
    return labels


NT_COOKBOOK_LABELS = {
    "mean_rms_ens_vs_ntk": "RMS over x of (ensemble mean − NTK posterior mean)",
    "std_rms_ens_vs_ntk": "RMS over x of (ensemble std − NTK posterior std)",
    "mean_rms_in_sigma": "the same, in units of the RMS NTK posterior std",
    "expected_mean_rms_sampling": "sampling error expected from the ensemble size (σ/√E)",
    "frac_inside_2sigma": "fraction of (net, x) inside the NTK mean ± 2σ band",
    "mean_rms_ntk_vs_nngp": "RMS of (NTK posterior mean − NNGP posterior mean)",
    "mean_rms_ntk_t_vs_inf": "RMS of (NTK mean at t − NTK mean at t = ∞)",
    "test_rmse_ensemble_mean": "test RMSE of the ensemble mean vs sin x",
    "test_rmse_ntk": "test RMSE of the NTK posterior mean",
    "test_rmse_nngp": "test RMSE of the NNGP posterior mean",
    "final_test_loss_ens": "final test loss, average over the ensemble",
    "final_test_loss_theory": "final expected test loss from the NTK (mean² + variance)",
    "max_stable_lr": "largest stable GD learning rate of the infinite-width NTK",
}


# --------------------------------------------------------------------------------------------
# Short readable names of the numbers (metric cards and tables)
# --------------------------------------------------------------------------------------------

_SHORT = {
    "dev_init": "deviation from Θ∞ at init", "dev_trained": "deviation from Θ∞ after training",
    "change": "kernel change in training", "final_loss": "final training loss",
    "median_rms": "median vs GP mean (RMS)", "quantile_rms": "10/90 % quantiles vs GP (RMS)",
    "std_ratio": "spread of nets / spread of GP", "train_rmse": "training RMSE",
    "weight_change": "weight change", "kernel_change": "kernel change",
    "kernel_error": "kernel error at init", "lin_gap": "linearization gap",
    "dev_ratio": "deviation ratio narrow / wide", "dev_ratio_theory": "expected ratio √(n₂/n₁)",
    "gp_std_rms": "GP standard deviation (RMS)", "lin_gap_max": "largest linearization gap",
    "final_loss_lin": "final loss, linearized model",
    "mean_rms_ens_vs_ntk": "ensemble mean vs NTK mean (RMS)",
    "std_rms_ens_vs_ntk": "ensemble spread vs NTK spread (RMS)",
    "mean_rms_in_sigma": "ensemble mean vs NTK mean (in σ)",
    "expected_mean_rms_sampling": "sampling error expected (σ/√E)",
    "frac_inside_2sigma": "fraction inside NTK mean ± 2σ", "mean_rms_ntk_vs_nngp": "NTK mean vs NNGP mean (RMS)",
    "mean_rms_ntk_t_vs_inf": "NTK mean at t vs at t = ∞ (RMS)",
    "test_rmse_ensemble_mean": "test RMSE, ensemble mean", "test_rmse_ntk": "test RMSE, NTK posterior",
    "test_rmse_nngp": "test RMSE, NNGP posterior", "final_test_loss_ens": "final test loss, ensemble",
    "final_test_loss_theory": "final test loss, NTK theory", "max_stable_lr": "largest stable learning rate",
}


def _shift(px: str) -> str:
    return "original digits" if int(px) == 0 else f"digits shifted ≤ {int(px)} px"


def short_name(key: str) -> str:
    """A readable name for number `key` of a preset: 'dev_init_w100' -> 'deviation from Θ∞ at init
    (n=100)', 'slope_kernel_change_ci_low' -> 'slope of kernel change: 95 % interval, low'."""
    import re

    m = re.fullmatch(r"slope_(.+?)(_ci_low|_ci_high)?", key)
    if m:
        base = f"slope of {_SHORT.get(m.group(1), m.group(1).replace('_', ' '))}"
        return base + {"_ci_low": ": 95 % interval, low", "_ci_high": ": 95 % interval, high",
                       None: ""}[m.group(2)]
    m = re.fullmatch(r"acc_(mlp|cnn|cnn_pool|resnet)_(ntk|nngp)_shift(\d+)", key)
    if m:
        arch = {"mlp": "MLP", "cnn": "CNN", "cnn_pool": "CNN + pool", "resnet": "ResNet"}[m.group(1)]
        return f"{arch} test accuracy, {m.group(2).upper()} ({_shift(m.group(3))})"
    m = re.fullmatch(r"pool_gain_(ntk|nngp)_shift(\d+)", key)
    if m:
        return f"pooled CNN minus MLP, {m.group(1).upper()} accuracy ({_shift(m.group(2))})"
    m = re.fullmatch(r"(.+)_w(\d+)", key)
    if m:
        return f"{_SHORT.get(m.group(1), m.group(1).replace('_', ' '))} (n={m.group(2)})"
    return _SHORT.get(key, key.replace("_", " "))


# --------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------

def _per_width(numbers, key, widths):
    return ", ".join(f"n={w}: {numbers[f'{key}_w{w}']:.3g}" for w in widths)


def _jacot_fig1(n, c) -> str:
    widths, lo, hi = c["widths"], c["widths"][0], c["widths"][-1]
    text = (
        f"Original (Jacot et al. 2018, Fig. 1): depth-4 ReLU nets (3 hidden layers), widths 500 "
        f"and 10000, β=0.1, 10 initializations each; the NTK at initialization and after "
        f"training scatters around the infinite-width limit, less for the wider net, and moves "
        f"less during training for the wider net. Here: widths {list(widths)}, {len(c['seeds'])} "
        f"seeds, W_std={c['W_std']}, b_std={c['b_std']}, GD on {c['n_train']} circle points up to "
        f"t={c['train_time']:.3g} ({c['steps']} steps, lr={c['learning_rate']:.3g}), float32. "
        f"Measured: max deviation from Θ∞ relative to its peak at init "
        + _per_width(n, "dev_init", widths) + "; after training " + _per_width(n, "dev_trained", widths)
        + "; kernel movement during training " + _per_width(n, "change", widths) + ".")
    if lo != hi:
        text += (f" The deviation shrinks by {n['dev_ratio']:.3g}x from n={lo} to "
                 f"n={hi} (1/√n predicts {n['dev_ratio_theory']:.3g}x).")
    return text


def _jacot_fig2(n, c) -> str:
    import math

    widths, n_nets = c["widths"], c["n_nets"]
    return (
        f"Original (Jacot et al. 2018, Fig. 2): many depth-4 ReLU nets of widths 50 and 1000 trained "
        f"on 4 points of the unit circle; their 10/50/90 % quantiles approach those of the "
        f"limiting Gaussian process as the width grows. Here: widths {list(widths)}, {n_nets} nets "
        f"per width, W_std={c['W_std']}, b_std={c['b_std']}, GD (lr={c['learning_rate']:.3g}, "
        f"{c['steps']} steps, t={c['train_time']:.3g}) on {c['n_train']} points (target sin 2γ); "
        f"GP = ntk.ensemble_mse(get='ntk') at the same t, float32. Measured RMS over γ of "
        f"(median − GP mean): " + _per_width(n, "median_rms", widths)
        + "; of the 10/90 % quantiles vs the GP's: " + _per_width(n, "quantile_rms", widths)
        + f" (GP std RMS {n['gp_std_rms']:.3g}). With {n_nets} nets the sampling error "
        f"of a quantile is about {1.7 / math.sqrt(n_nets):.2g} GP std.")


def _lee2019(s, c) -> str:
    metrics = [k[6:] for k in s if k.startswith("slope_") and not k.endswith(("_ci_low", "_ci_high"))]
    verdict = " ".join(
        f"{_SHORT.get(m, m)}: {'consistent with' if s[f'slope_{m}_ci_low'] <= -0.5 <= s[f'slope_{m}_ci_high'] else 'not consistent with'} −1/2."  # noqa: E501
        for m in metrics if np.isfinite(s[f"slope_{m}_ci_low"]))
    return (
        "Original (Lee et al. 2019): in NTK parameterization the relative change of the weights "
        "and of the empirical NTK after training fall with width n, with slope ≈ −1/2 on log-log "
        "axes, and the outputs of a wide network stay on top of its linearization throughout "
        f"training. Here: depth {c['depth']} {c['activation']} nets, W_std={c['W_std']}, "
        f"b_std={c['b_std']}, widths {c['widths']}, {len(c['seeds'])} seeds, {c['steps']} "
        f"full-batch GD steps (lr={c['learning_rate']:.3g}) on {c['n_train']} "
        "sklearn digits (0 vs 1), float32. Measured slopes (95 % CI): " + "; ".join(
            f"{_SHORT.get(m, m)} {s[f'slope_{m}']:.3f} [{s[f'slope_{m}_ci_low']:.3f}, {s[f'slope_{m}_ci_high']:.3f}]"
            for m in metrics)
        + ". " + verdict + " Expected from theory: the kernel error and kernel change scale like "
        "1/√n; the relative change of the whole parameter vector is dominated by the n×n "
        "hidden weight matrices (norm ∝ n, change O(1)), so for depth ≥ 2 it can fall faster "
        "than 1/√n (the −1/2 law is per input/readout layer). At n="
        f"{c['dyn_width']} the largest relative gap between the network and its linearization over "
        f"training is {s['lin_gap_max']:.3g} (final losses {s['final_loss']:.3g} vs "
        f"{s['final_loss_lin']:.3g}).")


def _nt_cookbook(n, c) -> str:
    lr, steps = c["learning_rate"], c["steps"]
    text = (
        "Original (neural-tangents cookbook): an ensemble of Erf nets (2 hidden layers of width "
        "512, W_std 1.5, b_std 0.05) trained on 5 noisy samples of sin on [−π, π] matches the "
        "infinite-width NTK posterior mean ± 2σ, and the NNGP posterior is close but not equal. "
        f"Here: {c['n_nets']} nets of width {c['width']}, {steps} GD steps at lr={lr:g} "
        f"(t={lr * steps:g}), noise {c['noise']}, float32; NTK posterior = "
        f"ntk.ensemble_mse(get='ntk', t={lr * steps:g}), NNGP posterior = ntk.gp_inference "
        f"(diag_reg {c['diag_reg']:g}). Measured: ensemble mean vs NTK "
        f"mean RMS {n['mean_rms_ens_vs_ntk']:.3g} ({n['mean_rms_in_sigma']:.2g} σ; "
        f"sampling error alone ≈ {n['expected_mean_rms_sampling']:.2g}), ensemble std vs NTK std "
        f"RMS {n['std_rms_ens_vs_ntk']:.3g}, {100 * n['frac_inside_2sigma']:.1f} % of the "
        f"trained functions' values inside the 2σ band, NTK vs NNGP mean RMS "
        f"{n['mean_rms_ntk_vs_nngp']:.3g}; test RMSE ensemble {n['test_rmse_ensemble_mean']:.3g}, "
        f"NTK {n['test_rmse_ntk']:.3g}, NNGP {n['test_rmse_nngp']:.3g}.")
    if lr > n["max_stable_lr"]:
        text += (f" Note: lr={lr:g} is above the infinite-width NTK's stable limit "
                 f"{n['max_stable_lr']:.3g}; the closed form assumes gradient flow.")
    return text


def _pct(v) -> str:
    return f"{100 * v:.1f} %"


def _stax_cnn(n, c) -> str:
    parts = []
    for s in c["shifts"]:
        where = "original digits" if s == 0 else f"digits shifted at random by up to {s} pixel(s)"
        accs = "; ".join(f"{_ARCH_WORDS[a]} {_pct(n[f'acc_{a}_ntk_shift{s}'])} "
                         f"(NNGP {_pct(n[f'acc_{a}_nngp_shift{s}'])})" for a in c["architectures"])
        parts.append(f"{where}: {accs}")
    return (
        "Original (CIFAR-10, deep CNNs, 50 000 training images): Novak et al. (2019) derived the "
        "NNGP of CNNs with and without pooling; without pooling it equals the kernel of a locally "
        "connected net (weight sharing plays no role at infinite width), and pooled CNN-GPs "
        "set the best results for GPs without trainable kernels at the time. Arora et al. (2019) "
        "computed the CNTK exactly; its accuracy was about 10 percentage points above the "
        "kernels reported by Novak et al. and about 6 points below the corresponding finite "
        "nets; the best CNTK (with global average pooling) reached roughly 77-78 %. The fully "
        "connected GP Novak et al. compare with scores well below their pooled CNN-GP. "
        f"Here, 8x8 sklearn digits, {c['n_train']} training and {c['n_test']} test digits, "
        f"depth-{c['depth']} ReLU nets, 3x3 SAME convolutions, W_std={c['W_std']}, "
        f"b_std={c['b_std']}, NTK parameterization, one-hot targets, class = argmax of "
        "K(x, X) K(X, X)⁻¹ Y. Measured test accuracy of the NTK (NNGP): " + "; ".join(parts) + ". "
        + " ".join(_stax_cnn_compare(n, s, c["n_test"]) for s in c["shifts"])
        + " Why: global average pooling compares every position with every other (for these "
        "kernels it equals full translation data augmentation, Li et al. 2019, Enhanced "
        "Convolutional Neural Tangent Kernels), so shifted copies of a digit stay similar; "
        "without pooling a convolutional kernel compares only matching positions, like a locally "
        "connected net.")


def _stax_cnn_compare(n, s, n_test) -> str:
    """One sentence per setting: pooled CNN and CNN vs MLP, with the test-set noise."""
    import math

    mlp, cnn, pool = (n[f"acc_{a}_ntk_shift{s}"] for a in ("mlp", "cnn", "cnn_pool"))
    noise = 100 * math.sqrt(0.25 / n_test)
    where = "original digits" if s == 0 else f"shifted by up to {s} pixel(s)"
    return (f"{where.capitalize()}: pooled CNN minus MLP {100 * (pool - mlp):+.1f} points, CNN "
            f"without pooling minus MLP {100 * (cnn - mlp):+.1f} points (test noise ±{noise:.1f} "
            f"points at {n_test} digits).")


_CAPTIONS = {"jacot_fig1": _jacot_fig1, "jacot_fig2": _jacot_fig2, "lee2019": _lee2019,
             "nt_cookbook": _nt_cookbook, "stax_cnn": _stax_cnn}


def caption(name: str, numbers: dict, config: dict) -> str:
    """The caption of preset `name` for its measured `numbers` and its `config`."""
    return _CAPTIONS[name](numbers, config)
