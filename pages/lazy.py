"""Lazy regime: how much weights and the kernel move during training, vs width."""
import streamlit as st

from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.app.text import finite, num

S = PageState.of("lazy")
st.title("Lazy regime")
S.widgets("w_min", "w_max", "n_widths", "n_seeds")
S.architecture()
S.widgets("n_train", "steps", "lr_fraction", "narrow", "wide")
cfg = S.sync()

if not presenter():
    st.markdown("In NTK parameterization a wide network fits the data while every weight moves "
                "only a little: the relative change of the weights and of the kernel vanish as "
                "the width grows, which is why the linearization is accurate. Theory gives "
                "$n^{-1/2}$ for the size of kernel fluctuations at initialization; the change "
                "*during training* is often closer to $n^{-1}$, and the relative change of "
                "hidden weights ~ $n^{-1}$ too. The numbers below are measured, not assumed.")
st.latex(r"\frac{\|\theta_T-\theta_0\|}{\|\theta_0\|},\qquad "
         r"\frac{\|\Theta_T-\Theta_0\|_F}{\|\Theta_0\|_F} \;\sim\; n^{s}")
if cfg["w_max"] <= cfg["w_min"]:
    st.error(f"The largest width ({cfg['w_max']}) must be above the smallest ({cfg['w_min']}): a "
             "slope needs at least two different widths. Raise the largest width.")
    st.stop()
d = compute("lazy_data", cfg, "Training every width (sweep + kernel drift)")
if d is None:
    st.stop()
widths = [int(w) for w in d["widths"]]
gone = d.get("diverged_widths", [])
if len(gone) == len(widths):
    st.error(f"**Training diverged at every width** (η = {cfg['lr_fraction']:.2f} × ηₘₐₓ, "
             f"η = {d['learning_rate']:.3g}): gradient descent is stable only below 1 × ηₘₐₓ = "
             f"2N/λₘₐₓ = {d['lr_max']:.3g}, so there is no weight or kernel change to measure. "
             "Lower the learning rate below 1 × ηₘₐₓ.")
    st.stop()
if gone:
    st.warning(f"Training diverged at width(s) {', '.join(map(str, gone))} (η = "
               f"{cfg['lr_fraction']:.2f} × ηₘₐₓ is above the stable limit 1 × ηₘₐₓ for them); the "
               "fits use the other widths. Lower the learning rate below 1 to keep every width.")
elif cfg["lr_fraction"] > 1:
    st.warning("The learning rate is above the stable limit ηₘₐₓ of the infinite-width kernel; "
               "these widths still converged. Lower it below 1 × ηₘₐₓ to stay in the regime the "
               "theory describes.")
cols = st.columns(3)
for c, m in zip(cols, ("weight_change", "kernel_change", "lin_gap")):
    f = d["fits"][m]
    c.metric(f"slope of {m.replace('_', ' ').replace('lin gap', 'linearization gap')}",
             num(f["slope"], ".2f"),
             help=f"95% CI [{num(f['ci_low'], '.2f')}, {num(f['ci_high'], '.2f')}], R² {num(f['r2'], '.2f')}")
if not finite(d["fits"]["weight_change"]["slope"]):
    st.info("No slope: fewer than two widths trained without diverging. Widen the range of widths "
            "or lower the learning rate.")
show_figure(d, "lazy_scaling", data_fn="lazy_data", cfg=cfg,
            fig_fn="lazy_scaling_figure",
            notice="Compare the green fit with the grey $n^{-1/2}$ and $n^{-1}$ guides: "
                   "the measured exponent is what the page reports.")
show_figure(d, "kernel_drift", data_fn="lazy_data", cfg=cfg,
            fig_fn="kernel_drift_figure",
            notice="The narrow net's kernel moves in the first few steps, while the loss is "
                   "large, then stays; the wide one barely changes.")
lines = []
for w, r in d["drift"].items():
    if r["diverged"]:
        lines.append(f"- width {w}: training diverged ({r['message']})")
    elif r.get("settle_step") is not None and len(r["kernel_change"]) > 1:
        lines.append(
            f"- width {w}: the kernel moved by {num(r['kernel_change'][1], '.3f')} in the first step "
            f"and {num(r['kernel_change'][-1], '.3f')} in all {d['steps']} steps; 90 % of that by step "
            f"{r['settle_step']} (loss then {num(100 * r['settle_loss_ratio'], '.2g')} % of its "
            f"start), after which the loss fell another "
            f"{num(r['loss_train'][list(r['steps']).index(r['settle_step'])] / r['loss_train'][-1], ',.0f')}"
            "-fold while the kernel stayed.")
if lines and not presenter():
    st.markdown("**Why the drift is flat after a few steps.** The kernel changes only while the "
                "residual f − y is large: the gradient, and so every weight update, is "
                "proportional to it. With this learning rate the loss collapses within a few "
                "steps, so the kernel makes its whole move then and stays put (measured, with "
                "the same runs as the plot):\n" + "\n".join(lines)
                + "\n\nThis is the dynamics, not the measurement: the test suite recomputes the "
                "drift of these runs with an independent Jacobian (`jax.jacrev`).")
