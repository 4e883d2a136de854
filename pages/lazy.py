"""Lazy regime: how much weights and the kernel move during training, vs width."""
import streamlit as st

from ntk import ui

DEFAULTS = ui.defaults("lazy")
S = ui.PageState("lazy", DEFAULTS, options={"activation": ui.ACTIVATIONS,
                                            "narrow": ui.WIDTH_OPTIONS, "wide": ui.WIDTH_OPTIONS},
                 ranges={**ui.ARCH_RANGES, "w_min": (1, 8192), "w_max": (1, 8192),
                         "n_widths": (2, 10), "n_seeds": (1, 10), "n_train": (2, 128),
                         "steps": (1, 5000), "lr_fraction": (0.01, 5.0)})
st.title("Lazy regime")
sb = st.sidebar
sb.number_input("Smallest width", 1, 8192, key=S.key("w_min"))
sb.number_input("Largest width", 1, 8192, key=S.key("w_max"))
sb.slider("Number of widths", 2, 10, key=S.key("n_widths"))
sb.slider("Seeds per width", 1, 10, key=S.key("n_seeds"))
ui.architecture_controls(S, parameterization=False)
sb.slider("Training points (unit circle)", 2, 128, key=S.key("n_train"))
sb.number_input("Steps", 1, 5000, key=S.key("steps"))
sb.slider("Learning rate (× η_max)", 0.01, 5.0, step=0.01, key=S.key("lr_fraction"))
sb.select_slider("Narrow width (drift plot)", ui.WIDTH_OPTIONS, key=S.key("narrow"))
sb.select_slider("Wide width (drift plot)", ui.WIDTH_OPTIONS, key=S.key("wide"))
cfg = S.sync()

if not ui.presenter():
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
d = ui.compute("lazy_data", cfg, "Training every width (sweep + kernel drift)")
if d is not None:
    if cfg["lr_fraction"] > 1:
        st.warning("The learning rate is above the stable limit η_max; runs that diverged are "
                   "left out of the fits. Lower it below 1 × η_max.")
    cols = st.columns(3)
    for c, m in zip(cols, ("weight_change", "kernel_change", "lin_gap")):
        f = d["fits"][m]
        c.metric(f"slope of {m.replace('_', ' ')}", f"{f['slope']:.2f}",
                 help=f"95% CI [{f['ci_low']:.2f}, {f['ci_high']:.2f}], R² {f['r2']:.2f}")
    ui.show_figure(d, "lazy_scaling", data_fn="lazy_data", cfg=cfg,
                   fig_fn="lazy_scaling_figure",
                   notice="Compare the red fit with the grey n^(−1/2) and n^(−1) guides: "
                          "the measured exponent is what the page reports.")
    ui.show_figure(d, "kernel_drift", data_fn="lazy_data", cfg=cfg,
                   fig_fn="kernel_drift_figure",
                   notice="The narrow net's kernel keeps moving; the wide one barely changes.")
