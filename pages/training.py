"""Training dynamics: network vs its linearization vs closed forms, for several widths."""
import streamlit as st

from ntk.app import arch
from ntk.app.cache import compute
from ntk.app.export_dialog import show_figure
from ntk.app.state import PageState, presenter
from ntk.app.text import num

S = PageState.of("training")
arch.reconcile(S, clamp={"widths": 64})
st.title("Training dynamics")
S.widgets("widths")
arch.widget(S)
S.widgets("dataset", "n_train")
S.architecture()
S.widgets("optimizer_name", "lr_fraction", "steps")
if not presenter():
    S.widgets("noise", "seed")
cfg = S.sync()

if not presenter():
    st.markdown("Each width is trained twice from the same initialization: the **network** and "
                "its **linearization** $f^{lin}_t(x) = f_0(x) + J_0(x)(\\theta_t-\\theta_0)$. "
                "Plain GD on the linearized model has a closed form with the empirical kernel; "
                "averaging over initializations at infinite width gives the **ensemble mean ± 2σ** "
                "(Lee et al. 2019). A 1-D input with ReLU and tiny bias gives a degenerate "
                "kernel, hence erf by default.")
st.latex(r"f^{lin}_t(x) = f_0(x) - \Theta(x,\mathcal X)\,\Theta^{-1}"
         r"\left(I - e^{-\eta\Theta t/N}\right)(f_0(\mathcal X)-\mathcal Y)")
if not cfg["widths"]:
    st.error("Select at least one width in the sidebar.")
    st.stop()
cfg = S.record.compute_args(cfg)
d = compute("training_data", cfg, "Training networks and their linearizations")
if d is None:
    st.stop()
st.caption(f"$\\eta$ = {d['learning_rate']:.4g} (stable limit at infinite width "
           f"$\\eta_{{max}} = 2N/\\lambda_{{max}}$ = {d['lr_max']:.4g}; optimizer {d['optimizer']}). "
           + ("Closed forms assume plain gradient descent." if d["optimizer"] != "sgd" else ""))
if cfg["optimizer_name"] != "adam" and d["learning_rate"] > d["lr_max"]:
    st.warning(f"The learning rate is {cfg['lr_fraction']:.2f} × ηₘₐₓ: above the stable limit "
               "of gradient descent, so training is expected to diverge. Lower it below 1 × ηₘₐₓ.")
bad = [w for w in d["widths"] if d["runs"][int(w)]["diverged"]]
for w in bad:
    st.error(f"Width {w}: training diverged. {d['runs'][int(w)]['message']}")
ok = [int(w) for w in d["widths"] if int(w) not in bad]
if not ok:
    st.error("Training diverged at every width, so there is nothing to plot. Lower the learning "
             "rate (below 1 × ηₘₐₓ for gradient descent and momentum).")
    st.stop()
cols = st.columns(len(ok))
for c, w in zip(cols, ok):
    r = d["runs"][w]
    net_l, lin_l = ((r["loss_test"], r["lin_loss_test"]) if r["loss_test"] is not None
                    else (r["loss_train"], r["lin_loss_train"]))
    c.metric(f"width {w}: final {'test' if r['loss_test'] is not None else 'training'} loss "
             "(net / lin)", f"{num(net_l[-1])} / {num(lin_l[-1])}",
             help="gap RMS(f − fₗᵢₙ)/RMS(fₗᵢₙ) at the end: " + num(r["gap"][-1]))

focus = st.radio("Animate width", ok, horizontal=True, key="training_focus")
frame = None
if presenter():
    frame = st.slider("Step-through (frame)", 0, len(d["steps"]) - 1, len(d["steps"]) - 1,
                      key="training_frame")
fk = dict(width=int(focus)) if frame is None else dict(width=int(focus), frame=int(frame))
show_figure(d, "animation", data_fn="training_data", cfg=cfg,
               fig_fn="training_animation", fig_kwargs=fk,
               build_kwargs=dict(step_buttons=presenter()),
               notice="Press play: the network (solid) and its linearization (dotted) move together "
                      "toward the data; the blue dash-dot closed form sits on the linearization.")
c1, c2 = st.columns(2)
with c1:
    show_figure(d, "gap", data_fn="training_data", cfg=cfg, fig_fn="gap_figure",
                   notice="Wider networks (lighter colours) stay closer to their linearization.")
with c2:
    show_figure(d, "final", data_fn="training_data", cfg=cfg,
                   fig_fn="final_predictions_figure",
                   notice="Every width fits the training points; wide nets agree with the "
                          "infinite-width mean between them.")
show_figure(d, "loss", data_fn="training_data", cfg=cfg, fig_fn="loss_figure",
               notice="Linearized and actual losses coincide for wide nets.")
