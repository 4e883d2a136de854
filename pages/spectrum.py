"""Spectrum: eigen-decomposition of the NTK, spectral bias and the stability limit."""
import streamlit as st

from ntk.app import arch
from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.app.text import finite, num

S = PageState.of("spectrum")
arch.reconcile(S, clamp={"width": 32})
st.title("Spectrum and spectral bias")
S.widget("width")
arch.widget(S)
S.architecture()
S.widgets("n_train", "lr_fraction", "steps", "n_modes")
if not presenter():
    S.widget("seed")
cfg = S.sync()

if not presenter():
    st.markdown("In the eigenbasis $\\Theta = \\sum_i \\lambda_i u_i u_i^\\top$ gradient descent "
                "decouples: the residual on mode $i$ shrinks by $(1-\\eta\\lambda_i/N)$ per step. "
                "Large-eigenvalue (smooth, low-frequency) modes are learned first: **spectral "
                "bias**. A step above $\\eta_{max} = 2N/\\lambda_{max}$ makes the top mode grow.")
st.latex(r"u_i^\top(f_t-\mathcal Y) = (1-\eta\lambda_i/N)^t\,u_i^\top(f_0-\mathcal Y) "
         r"\approx e^{-\eta\lambda_i t/N}\,u_i^\top(f_0-\mathcal Y),\qquad "
         r"\eta < \eta_{max} = \frac{2N}{\lambda_{max}}")
d = compute("spectrum_data", cfg, "Eigen-decomposition and training")
if d is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("λₘₐₓ of the empirical NTK", num(d["eigvals"][0], ".4g"))
    c2.metric("ηₘₐₓ = 2N/λₘₐₓ", num(d["lr_max"], ".4g"))
    c3.metric("η used", num(d["learning_rate"], ".4g"), f"{d['lr_fraction']:.2f} × ηₘₐₓ",
              delta_color="off")
    if d["learning_rate"] > d["lr_max"]:
        st.error(f"**Unstable learning rate.** {d['message']} Lower the learning rate below "
                 "1 × ηₘₐₓ; the mode-convergence plot shows the run up to divergence only.")
    if d["diverged"] and len(d["steps"]) < 2:
        st.warning("Training diverged immediately: the mode-convergence panel is empty.")
    show_figure(d, "spectrum", data_fn="spectrum_data", cfg=cfg, fig_fn="spectrum_figure",
                notice="Eigenvalues fall off fast; any mode above the red line 2N/η diverges. "
                       "Top eigenvectors are the lowest frequencies on the circle. The "
                       "linearized model (open circles) follows the lines down to round-off; "
                       "the network (dots) stops higher, because its kernel moves in training.")
    if not presenter() and finite(d.get("network_plateau"), d.get("lin_plateau"), d.get("kernel_change")):
        st.markdown(
            f"**Why the network's residuals stop above the lines.** The lines are the linear "
            f"theory with the kernel at initialization Θ₀, and the linearized model (open "
            f"circles), trained with that fixed kernel, follows them down to {d['dtype']} "
            f"round-off (grey band; median over the learned modes at the end: "
            f"{num(d['lin_plateau'], '.1e')}). The network (dots) is not linear: its kernel "
            f"moves during training (here by {num(100 * d['kernel_change'], '.2g')} %, "
            f"‖Θ(T) − Θ₀‖/‖Θ₀‖). The residual still left in the slow modes then leaks into "
            f"the fast ones, which stop at about {num(d['network_plateau'], '.1e')} of their "
            "start instead of vanishing. This is a finite-width effect, not float32 round-off: "
            "the same run in float64 keeps the floor, and the floor falls roughly like 1/width "
            "(tests/test_spectrum_floor.py checks both). Raise the width to see it sink.")
