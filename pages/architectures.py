"""Architectures: how locality, pooling and skip connections change the infinite-width kernel."""
import streamlit as st

from ntk.analysis.views.architectures import architectures_summary
from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.figures.architectures import SHORT

S = PageState.of("architectures")
st.title("Architectures: MLP, CNN, ResNet")
S.widgets("architectures", "n_train", "n_test", "max_shift", "depth", "activation")
if S.values()["activation"] == "leaky_relu":
    S.widget("alpha")
S.widgets("W_std", "b_std")
if not presenter():
    S.widgets("widths", "n_seeds", "seed")
cfg = S.sync()

if not presenter():
    st.markdown(
        "The same 8×8 digits through four architectures at infinite width. A **convolution** "
        "sees a 3×3 neighbourhood: its kernel compares images patch by patch at matching "
        "positions. Without pooling, the kernel only adds up those local comparisons at each "
        "position (Novak et al. 2019: it is then the same as for a locally connected net, weight "
        "sharing plays no role). **Global average pooling** also compares every position with "
        "every other one, so a digit shifted by a pixel still looks like itself; the CNN-GP "
        "(Novak et al. 2019) and CNTK (Arora et al. 2019) papers found pooled convolutional "
        "kernels far ahead of fully connected ones on CIFAR-10. Below, the accuracies are "
        "measured here; the **stax** preset repeats the comparison on more digits.")
if not cfg["architectures"]:
    st.error("Select at least one architecture in the sidebar.")
    st.stop()
if len(cfg["widths"]) < 2:
    st.error("Select at least two widths for the convergence plot.")
    st.stop()
args = S.record.compute_args(cfg)
d = compute("architectures_data", args, "Computing kernels of every architecture")
if d is None:
    st.stop()
st.info(architectures_summary(d))
cols = st.columns(len(d["architectures"]))
for c, a in zip(cols, d["architectures"]):
    r = d["per"][a]
    c.metric(f"{SHORT[a]}: NTK · NNGP", f"{100 * r['acc_ntk']:.0f} % · {100 * r['acc_nngp']:.0f} %",
             help=f"Test accuracy at t = ∞ with the NTK and with the NNGP. Slope of the kernel error "
                  f"vs width {r['slope']:.2f} (95 % CI [{r['ci_low']:.2f}, {r['ci_high']:.2f}]).")
show_figure(d, "arch_kernels", data_fn="architectures_data", cfg=args, fig_fn="architecture_heatmaps",
            notice="Blocks on the diagonal are digits of one class. The pooled kernels see "
                   "shifted copies of a digit as similar: sharper class blocks.")
c1, c2 = st.columns(2)
with c1:
    show_figure(d, "arch_accuracy", data_fn="architectures_data", cfg=args,
                fig_fn="architecture_accuracy",
                notice="Same digits, same training rule: only the architecture differs.")
with c2:
    show_figure(d, "arch_spectra", data_fn="architectures_data", cfg=args,
                fig_fn="architecture_spectra",
                notice="How fast the eigenvalues fall sets which functions are learned first.")
show_figure(d, "arch_convergence", data_fn="architectures_data", cfg=args,
            fig_fn="architecture_convergence",
            notice="Every architecture's empirical NTK approaches its own limit, error ∝ width^(−1/2).")
if not presenter():
    st.caption(f"Estimated work {d['estimated_flops'] / 1e9:.1f} GFLOP. Kernel regression: mean "
               "K(x, X) K(X, X)⁻¹ Y with one-hot targets, class = argmax (the NTK mean is the "
               "infinite-width network trained by gradient flow to convergence, the NNGP mean "
               "the Bayesian posterior of the network with only its last layer trained).")
