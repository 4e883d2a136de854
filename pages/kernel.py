"""Kernel explorer: NNGP/NTK at infinite width vs the empirical NTK at a chosen width."""
import streamlit as st

from ntk import ui

DEFAULTS = ui.defaults("kernel")
S = ui.PageState("kernel", DEFAULTS,
                 options={**ui.ARCH_OPTIONS, "width": ui.WIDTH_OPTIONS,
                          "dataset": ["circle", "sine", "moons"]},
                 ranges={**ui.ARCH_RANGES, "seed": (0, 10_000), "n": (4, 2000),
                         "circle_seeds": (1, 10)})

st.title("Kernel explorer")
sb = st.sidebar
sb.select_slider("Width n", ui.WIDTH_OPTIONS, key=S.key("width"))
sb.number_input("Seed", 0, 10_000, key=S.key("seed"))
ui.architecture_controls(S)
sb.selectbox("Data", ["circle", "sine", "moons"], key=S.key("dataset"),
             help="circle: equally spaced angles; sine: a 1-D grid; moons: 2-D points by class")
sb.number_input("Number of points", 4, 2000, key=S.key("n"),
                help="Large values with large widths exceed the memory budget (you will be told).")
if not ui.presenter():
    sb.slider("Seeds per width (circle plot)", 1, 10, key=S.key("circle_seeds"))
cfg = S.sync()

if not ui.presenter():
    st.markdown("The NNGP kernel $K$ is the covariance of the network output at initialization; "
                "the NTK $\\Theta$ governs gradient descent. Both follow a layer recursion at "
                "infinite width; at finite width $\\Theta$ fluctuates around the limit.")
st.latex(r"\Theta^{(l+1)} = K^{(l+1)} + \sigma_w^2\,\dot\Sigma^{(l)}\,\Theta^{(l)},\quad "
         r"K^{(l+1)} = \sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2,\quad "
         r"\dot\Sigma^{(l)} = \mathbb E[\phi'(u)\phi'(v)]")

args = ui.compute_args("kernel", cfg)
d = ui.compute("kernel_data", args, "Computing kernels")
if d is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("‖Θ − Θ∞‖/‖Θ∞‖", f"{d['rel_error']:.4f}")
    c2.metric("Parameters", f"{d['num_params']:,}")
    c3.metric("Empirical NTK cost", f"{d['flops'] / 1e6:.1f} MFLOP")
    c4.metric("Memory estimate", ui.fmt_bytes(d["memory"]))
    if not ui.presenter():
        st.caption(f"Method: **{d['method']}** (layer-wise closed form for dense nets: "
                   "Θ = Σ_l (s_l² A_{l−1}A_{l−1}ᵀ + β_l²) ⊙ D_l D_lᵀ, no Jacobian stored); "
                   f"budget {ui.fmt_bytes(ui.MEMORY_BUDGET)} per kernel.")
    ui.show_figure(d, "infinite_kernels", data_fn="kernel_data", cfg=args,
                   fig_fn="infinite_heatmaps",
                   notice="The infinite-width kernels are deterministic: the same for every "
                          "width and seed in NTK parameterization.")
    ui.show_figure(d, "empirical_kernels", data_fn="kernel_data", cfg=args,
                   fig_fn="empirical_heatmaps",
                   notice="The empirical NTK already looks like Θ∞ above; the difference is "
                          "noise that shrinks as the width grows.")
    ui.show_figure(d, "circle", data_fn="kernel_data", cfg=args,
                   fig_fn="circle_figure",
                   notice="Thin lines are random initializations: narrow nets scatter widely, "
                          "wide nets collapse onto the dashed infinite-width curve.")
