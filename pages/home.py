"""Home: what the NTK is, what each page shows, one-click presets."""
import streamlit as st

from ntk.app import registry
from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.prewarm import start_prewarm
from ntk.app.state import presenter, presenter_toggle

presenter_toggle()
st.title("Neural Tangent Kernel lab")
st.markdown(
    "A network $f(x;\\theta)$ trained by gradient descent moves its outputs along the "
    "**neural tangent kernel** $\\Theta(x,x') = \\nabla_\\theta f(x)\\cdot\\nabla_\\theta f(x')$. "
    "As the width $n\\to\\infty$ (NTK parameterization) $\\Theta$ becomes deterministic at "
    "initialization and stays constant during training, so the network behaves like its "
    "linearization and training has a closed form (Jacot et al. 2018; Lee et al. 2019):")
st.latex(r"\frac{d f_t(\mathcal X)}{dt} = -\frac{\eta}{N}\,\Theta_\infty\,(f_t(\mathcal X) - \mathcal Y)"
         r"\quad\Rightarrow\quad f_t = \mathcal Y + e^{-\eta\Theta_\infty t/N}(f_0-\mathcal Y)")
if not presenter():
    st.markdown("""
| Page | What it shows |
|---|---|
| **Kernel explorer** | infinite-width NNGP/NTK heatmaps, the empirical NTK at a width and seed, their difference; Θ(x₀, x(γ)) on the circle for several widths (Jacot Fig. 1) |
| **Width convergence** | ‖Θ₀ − Θ∞‖/‖Θ∞‖ vs width on log-log axes, fitted slope vs the 1/√n reference |
| **Training dynamics** | network vs linearization vs closed forms over training (animated), loss curves, the gap shrinking with width |
| **Lazy regime** | relative weight and kernel change vs width (fitted slopes), kernel drift for a narrow and a wide net |
| **Spectrum** | eigenvalues/eigenvectors of Θ, mode-wise convergence (spectral bias) and the stability limit 2N/λₘₐₓ |
""")
st.subheader("One-click presets")
PRESETS = [
    ("Jacot Fig. 1: NTK on the circle, ReLU depth 4", "pages/kernel.py",
     {"depth": "4", "activation": "relu", "W_std": "1.0", "b_std": "0.1", "width": "1024"}),
    ("Kernel convergence, erf", "pages/convergence.py", {"activation": "erf"}),
    ("Sine regression: network vs linearization", "pages/training.py", {}),
    ("Moons: 2-D decision functions", "pages/training.py",
     {"dataset": "moons", "n_train": "24", "activation": "relu", "steps": "300"}),
    ("Lazy regime scaling", "pages/lazy.py", {}),
    ("Too large a learning rate (diverges)", "pages/spectrum.py", {"lr_fraction": "1.3"}),
]
cols = st.columns(3)
for i, (label, page, qp) in enumerate(PRESETS):
    if cols[i % 3].button(label, key=f"preset_{i}", use_container_width=True):
        st.switch_page(page, query_params=qp)
st.caption("Every page keeps its full configuration in the URL: copy the address bar to share "
           "the exact view. Presenter mode (sidebar) enlarges figures for lectures.")
cfg = registry.get("home").default_config()
d = compute("home_data", cfg, "Computing the infinite-width NTK")
if d is not None:
    show_figure(d, "home_ntk", data_fn="home_data", cfg=cfg, fig_fn="home_figure",
                   notice="Each extra layer sharpens the kernel: nearby inputs stay similar, "
                          "distant ones decorrelate.")
warm = start_prewarm()
if warm["enabled"]:
    n_done, n_all = len(warm["done"]), len(warm["pages"])
    st.caption("Default views of all pages are computed and ready." if warm["finished"] else
               f"Preparing the default views in the background: {n_done}/{n_all} pages ready "
               "(pages open instantly once ready).")
