"""Kernel explorer: NNGP/NTK at infinite width vs the empirical NTK at a chosen width."""
import streamlit as st

from ntk.app import arch, registry
from ntk.app.cache import compute
from ntk.app.cost import format_bytes
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.app.text import num

S = PageState.of("kernel")
arch.reconcile(S, clamp={"width": 512})

st.title("Kernel explorer")
S.widgets("width", "seed")
arch.widget(S)
S.architecture()
S.widgets("dataset", "n")
if not presenter():
    S.widget("circle_seeds")
cfg = S.sync()

if not presenter():
    st.markdown("The NNGP kernel $K$ is the covariance of the network output at initialization; "
                "the NTK $\\Theta$ governs gradient descent. Both follow a layer recursion at "
                "infinite width; at finite width $\\Theta$ fluctuates around the limit.")
st.latex(r"\Theta^{(l+1)} = K^{(l+1)} + \sigma_w^2\,\dot\Sigma^{(l)}\,\Theta^{(l)},\quad "
         r"K^{(l+1)} = \sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2,\quad "
         r"\dot\Sigma^{(l)} = \mathbb E[\phi'(u)\phi'(v)]")

args = S.record.compute_args(cfg)
d = compute("kernel_data", args, "Computing kernels")
if d is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("‖Θ − Θ∞‖/‖Θ∞‖", num(d["rel_error"], ".4f"))
    c2.metric("Parameters", f"{d['num_params']:,}")
    c3.metric("Empirical NTK cost", f"{d['flops'] / 1e6:.1f} MFLOP" if d["flops"] < 1e10
              else f"{d['flops'] / 1e9:.0f} GFLOP")
    c4.metric("Memory estimate", format_bytes(d["memory"]))
    if not presenter():
        st.caption(f"Method: **{d['method']}** (layer-wise closed form, no Jacobian stored: "
                   r"$\Theta = \sum_l (s_l^2 A_{l-1}A_{l-1}^\top + \beta_l^2) \odot D_l D_l^\top$; "
                   "for convolutions $A$ are the 3×3 patches and the sum runs over positions too); "
                   f"memory budget {format_bytes(registry.APP_MEMORY_BUDGET)} per kernel.")
    show_figure(d, "infinite_kernels", data_fn="kernel_data", cfg=args,
                fig_fn="infinite_heatmaps",
                notice="The infinite-width kernels are deterministic: the same for every "
                       "width and seed in NTK parameterization.")
    show_figure(d, "empirical_kernels", data_fn="kernel_data", cfg=args,
                fig_fn="empirical_heatmaps",
                notice="The empirical NTK already looks like Θ∞ above; the difference is "
                       "noise that shrinks as the width grows.")
    show_figure(d, "circle", data_fn="kernel_data", cfg=args,
                fig_fn="circle_figure",
                notice="Thin lines are random initializations: narrow nets scatter widely, "
                       "wide nets collapse onto the dashed infinite-width curve.")
