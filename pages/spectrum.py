"""Spectrum: eigen-decomposition of the NTK, spectral bias and the stability limit."""
import streamlit as st

from ntk import ui

DEFAULTS = ui.defaults("spectrum")
S = ui.PageState("spectrum", DEFAULTS,
                 options={"activation": ui.ACTIVATIONS, "width": ui.WIDTH_OPTIONS},
                 ranges={**ui.ARCH_RANGES, "n_train": (2, 512), "lr_fraction": (0.01, 5.0),
                         "steps": (1, 5000), "n_modes": (1, 8), "seed": (0, 10_000)})
st.title("Spectrum and spectral bias")
sb = st.sidebar
sb.select_slider("Width n", ui.WIDTH_OPTIONS, key=S.key("width"))
ui.architecture_controls(S, parameterization=False)
sb.slider("Training points on the circle", 2, 512, key=S.key("n_train"))
sb.slider("Learning rate (× η_max = 2N/λ_max)", 0.01, 5.0, step=0.01, key=S.key("lr_fraction"))
sb.number_input("Steps", 1, 5000, key=S.key("steps"))
sb.slider("Modes shown", 1, 8, key=S.key("n_modes"))
if not ui.presenter():
    sb.number_input("Seed", 0, 10_000, key=S.key("seed"))
cfg = S.sync()

if not ui.presenter():
    st.markdown("In the eigenbasis $\\Theta = \\sum_i \\lambda_i u_i u_i^\\top$ gradient descent "
                "decouples: the residual on mode $i$ shrinks by $(1-\\eta\\lambda_i/N)$ per step. "
                "Large-eigenvalue (smooth, low-frequency) modes are learned first: **spectral "
                "bias**. A step above $\\eta_{max} = 2N/\\lambda_{max}$ makes the top mode grow.")
st.latex(r"u_i^\top(f_t-\mathcal Y) = (1-\eta\lambda_i/N)^t\,u_i^\top(f_0-\mathcal Y) "
         r"\approx e^{-\eta\lambda_i t/N}\,u_i^\top(f_0-\mathcal Y),\qquad "
         r"\eta < \eta_{max} = \frac{2N}{\lambda_{max}}")
d = ui.compute("spectrum_data", cfg, "Eigen-decomposition and training")
if d is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("λ_max(Θ_emp)", f"{d['eigvals'][0]:.4g}")
    c2.metric("η_max = 2N/λ_max", f"{d['lr_max']:.4g}")
    c3.metric("η used", f"{d['learning_rate']:.4g}", f"{d['lr_fraction']:.2f} × η_max",
              delta_color="off")
    if d["learning_rate"] > d["lr_max"]:
        st.error(f"**Unstable learning rate.** {d['message']} Lower the learning rate below "
                 "1 × η_max; the mode-convergence plot shows the run up to divergence only.")
    if d["diverged"] and len(d["steps"]) < 2:
        st.warning("Training diverged immediately: the mode-convergence panel is empty.")
    ui.show_figure(d, "spectrum", data_fn="spectrum_data", cfg=cfg, fig_fn="spectrum_figure",
                   notice="Eigenvalues fall off fast; any mode above the red line 2N/η diverges. "
                          "Top eigenvectors are the lowest frequencies on the circle; their "
                          "residuals (markers, network) follow the lines (linear theory): "
                          "mode 1 is learned first, higher modes later.")
