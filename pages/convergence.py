"""Width convergence: ‖Θ_emp − Θ∞‖/‖Θ∞‖ vs width on log-log axes."""
import streamlit as st

from ntk.app import arch
from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.app.text import finite, num

S = PageState.of("convergence")
arch.reconcile(S, clamp={"w_max": 512})
st.title("Width convergence")
S.widgets("w_min", "w_max", "n_widths", "n_seeds")
arch.widget(S)
S.architecture()
S.widgets("dataset", "n")
cfg = S.sync()

if not presenter():
    st.markdown("At initialization the empirical NTK is an average over $n$ neurons, so its "
                "fluctuation around the limit should fall like $n^{-1/2}$ (central limit theorem). "
                "The fit below measures the exponent; compare it with the dashed reference.")
st.latex(r"\frac{\|\Theta_n - \Theta_\infty\|_F}{\|\Theta_\infty\|_F} \approx C\,n^{s},\qquad "
         r"s_{\text{theory}} = -\tfrac12")
if cfg["w_max"] <= cfg["w_min"]:
    st.error(f"The largest width ({cfg['w_max']}) must be above the smallest ({cfg['w_min']}): a "
             "slope needs at least two different widths. Raise the largest width in the sidebar.")
    st.stop()
d = compute("convergence_data", cfg, "Sweeping widths × seeds")
if d is not None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Fitted slope s", num(d["slope"], ".3f"))
    c2.metric("95% interval", f"[{num(d['ci_low'], '.3f')}, {num(d['ci_high'], '.3f')}]"
              if finite(d["ci_low"], d["ci_high"]) else "—")
    c3.metric("R²", num(d["r2"], ".3f"))
    if not finite(d["slope"]):
        st.warning("No slope: fewer than two distinct widths gave a finite error. Widen the range "
                   "of widths.")
    elif not finite(d["ci_low"], d["ci_high"]):
        st.info(f"With {len(d['widths'])} width(s) × {len(d['seeds'])} seed(s) the fit has no "
                "degrees of freedom left for an interval: add widths or seeds.")
    show_figure(d, "convergence", data_fn="convergence_data", cfg=cfg,
                fig_fn="convergence_figure",
                notice="On log-log axes the error is a straight line; its slope is the "
                       "exponent, close to −1/2. The vertical spread is the seed-to-seed noise.")
