"""Lazy regime: how much weights and the kernel move during training, vs width."""
import streamlit as st

from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter

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
if cfg["w_max"] < cfg["w_min"]:
    st.error(f"The largest width ({cfg['w_max']}) is below the smallest ({cfg['w_min']}).")
    st.stop()
d = compute("lazy_data", cfg, "Training every width (sweep + kernel drift)")
if d is not None:
    if cfg["lr_fraction"] > 1:
        st.warning("The learning rate is above the stable limit η_max; runs that diverged are "
                   "left out of the fits. Lower it below 1 × η_max.")
    cols = st.columns(3)
    for c, m in zip(cols, ("weight_change", "kernel_change", "lin_gap")):
        f = d["fits"][m]
        c.metric(f"slope of {m.replace('_', ' ')}", f"{f['slope']:.2f}",
                 help=f"95% CI [{f['ci_low']:.2f}, {f['ci_high']:.2f}], R² {f['r2']:.2f}")
    show_figure(d, "lazy_scaling", data_fn="lazy_data", cfg=cfg,
                   fig_fn="lazy_scaling_figure",
                   notice="Compare the red fit with the grey n^(−1/2) and n^(−1) guides: "
                          "the measured exponent is what the page reports.")
    show_figure(d, "kernel_drift", data_fn="lazy_data", cfg=cfg,
                   fig_fn="kernel_drift_figure",
                   notice="The narrow net's kernel keeps moving; the wide one barely changes.")
