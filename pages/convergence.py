"""Width convergence: ‖Θ_emp − Θ∞‖/‖Θ∞‖ vs width on log-log axes."""
import streamlit as st

from ntk import ui

DEFAULTS = ui.defaults("convergence")
S = ui.PageState("convergence", DEFAULTS,
                 options={"activation": ui.ACTIVATIONS, "dataset": ["circle", "sine", "moons"]},
                 ranges={**ui.ARCH_RANGES, "w_min": (1, 16384), "w_max": (1, 16384),
                         "n_widths": (2, 12), "n_seeds": (1, 20), "n": (2, 500)})
st.title("Width convergence")
sb = st.sidebar
sb.number_input("Smallest width", 1, 16384, key=S.key("w_min"))
sb.number_input("Largest width", 1, 16384, key=S.key("w_max"))
sb.slider("Number of widths (log-spaced)", 2, 12, key=S.key("n_widths"))
sb.slider("Seeds per width", 1, 20, key=S.key("n_seeds"))
ui.architecture_controls(S, parameterization=False)
sb.selectbox("Data", ["circle", "sine", "moons"], key=S.key("dataset"))
sb.number_input("Number of points", 2, 500, key=S.key("n"))
cfg = S.sync()

if not ui.presenter():
    st.markdown("At initialization the empirical NTK is an average over $n$ neurons, so its "
                "fluctuation around the limit should fall like $n^{-1/2}$ (central limit theorem). "
                "The fit below measures the exponent; compare it with the dashed reference.")
st.latex(r"\frac{\|\Theta_n - \Theta_\infty\|_F}{\|\Theta_\infty\|_F} \approx C\,n^{s},\qquad "
         r"s_{\text{theory}} = -\tfrac12")
if cfg["w_max"] < cfg["w_min"]:
    st.error(f"The largest width ({cfg['w_max']}) is below the smallest ({cfg['w_min']}): "
             "raise the largest width.")
    st.stop()
d = ui.compute("convergence_data", cfg, "Sweeping widths × seeds")
if d is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Fitted slope s", f"{d['slope']:.3f}")
    c2.metric("95% interval", f"[{d['ci_low']:.3f}, {d['ci_high']:.3f}]")
    c3.metric("R²", f"{d['r2']:.3f}")
    ui.show_figure(d, "convergence", data_fn="convergence_data", cfg=cfg,
                   fig_fn="convergence_figure",
                   notice="On log-log axes the error is a straight line; its slope is the "
                          "exponent, close to −1/2. The vertical spread is the seed-to-seed noise.")
