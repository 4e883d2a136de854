"""Dynamics: closed forms vs small-step GD of the linearized model, GP inference, ensembles,
stability limit and divergence detection."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk
from _testutil import assert_close


@pytest.fixture(scope="module")
def problem():
    ds = ntk.data.unit_circle(6, 15, seed=1, dtype=np.float64)
    net = ntk.mlp([64, 64], 1, "erf", 1.5, 0.1)
    p0 = net.init(jax.random.PRNGKey(0), 2)
    K = ntk.empirical_ntk(net, p0, ds.x_train)
    Kt = ntk.empirical_ntk(net, p0, ds.x_test, ds.x_train)
    return ds, net, p0, K, Kt


def test_closed_form_flow_vs_many_small_gd_steps(problem):
    """Gradient flow at time T vs 4000 tiny GD steps of the linearized model (|diff| <= 1e-4)."""
    ds, net, p0, K, Kt = problem
    lr_max = ntk.max_learning_rate(K, ds.y_train.size)
    T = 4.0 * lr_max * 50  # flow time (lr * steps)
    steps = 4000
    lr = T / steps
    res = ntk.train(net, p0, ds.x_train, ds.y_train, ds.x_test, learning_rate=lr, steps=steps,
                    record_steps=[steps], check_stability=False)
    pred = ntk.gradient_descent_mse(K, ds.y_train, learning_rate=1.0)
    ftr, fte = pred(T, net.apply(p0, ds.x_train), net.apply(p0, ds.x_test), Kt)
    assert np.max(np.abs(ftr - res.lin_f_train[-1])) <= 1e-4
    assert np.max(np.abs(fte - res.lin_f_test[-1])) <= 1e-4
    # And the discrete closed form equals the same GD trajectory to rounding.
    dpred = ntk.gradient_descent_mse(K, ds.y_train, learning_rate=lr, discrete=True)
    dtr, dte = dpred(steps, net.apply(p0, ds.x_train), net.apply(p0, ds.x_test), Kt)
    assert_close(dtr, res.lin_f_train[-1], rtol=1e-9)
    assert_close(dte, res.lin_f_test[-1], rtol=1e-9)


def test_flow_limits_and_eigen_solution(problem):
    ds, net, p0, K, Kt = problem
    y = jnp.asarray(ds.y_train)
    pred = ntk.gradient_descent_mse(K, y, 1.0)
    f0 = net.apply(p0, ds.x_train)
    # t = 0 returns the start, t = None the interpolant, large t converges to it.
    assert_close(pred(0.0, f0), f0)
    assert_close(pred(None, f0), y)
    ftr_inf, fte_inf = pred(None, f0, net.apply(p0, ds.x_test), Kt)
    assert_close(fte_inf, net.apply(p0, ds.x_test) + Kt @ jnp.linalg.solve(K, y - f0), rtol=1e-8)
    # Independent reference: scipy's matrix exponential of the ODE df/dt = -Theta (f - y) / N.
    from scipy.linalg import expm
    t = 3.0
    ref = np.asarray(y) + expm(-np.asarray(K) * t / y.size) @ np.asarray(f0 - y)
    assert_close(pred(t, f0), ref, rtol=1e-9)
    # t arrays add a leading axis.
    assert pred(jnp.array([0.0, 1.0, 2.0]), f0).shape == (3,) + y.shape


def test_gp_inference_and_ensemble(problem):
    ds, net, *_ = problem
    k = ntk.infinite_kernel(net, jnp.concatenate([ds.x_train, ds.x_test]))
    n = len(ds.x_train)
    nn_, nt_ = k.nngp, k.ntk
    y = jnp.asarray(ds.y_train)
    mean, cov = ntk.gp_inference(nn_[:n, :n], y, nn_[n:, :n], nn_[n:, n:])
    ref_mean = nn_[n:, :n] @ np.linalg.solve(nn_[:n, :n], y)
    assert_close(mean, ref_mean, rtol=1e-8)
    ref_cov = nn_[n:, n:] - nn_[n:, :n] @ np.linalg.solve(nn_[:n, :n], nn_[:n, n:])
    assert_close(cov, ref_cov, rtol=1e-8, atol=1e-10)
    # Infinite time NTK ensemble: mean = Theta_* Theta^-1 y; posterior variance vanishes on train.
    m, c = ntk.ensemble_mse(nn_[:n, :n], nt_[:n, :n], y, nn_[:n, :n], nt_[:n, :n], nn_[:n, :n])
    assert_close(m, y, rtol=1e-6)
    assert float(jnp.max(jnp.abs(jnp.diag(c)))) < 1e-6 * float(jnp.max(nn_))
    # nngp ensemble at t = inf equals GP inference.
    m2, c2 = ntk.ensemble_mse(nn_[:n, :n], nt_[:n, :n], y, nn_[n:, :n], nt_[n:, :n], nn_[n:, n:],
                              get="nngp")
    assert_close(m2, mean, rtol=1e-6)
    assert_close(c2, cov, rtol=1e-6, atol=1e-9)
    # At t = 0 the NTK ensemble is the prior: mean 0, cov = K_**.
    m0, c0 = ntk.ensemble_mse(nn_[:n, :n], nt_[:n, :n], y, nn_[n:, :n], nt_[n:, :n], nn_[n:, n:], t=0.0)
    assert_close(m0, jnp.zeros_like(m0), atol=1e-12)
    assert_close(c0, nn_[n:, n:], rtol=1e-10)


def test_ensemble_of_wide_nets_matches_ntk_ensemble_mean():
    """Mean of 48 trained width-512 nets vs the infinite-width NTK ensemble mean (MC tolerance)."""
    ds = ntk.data.unit_circle(4, 9, seed=2, dtype=np.float64)
    net = ntk.mlp([512], 1, "erf", 1.5, 0.1)
    k = ntk.infinite_kernel(net, jnp.concatenate([ds.x_train, ds.x_test]))
    n = len(ds.x_train)
    lr = 0.5 * ntk.max_learning_rate(k.ntk[:n, :n], n)
    steps = 300
    m, _ = ntk.ensemble_mse(k.nngp[:n, :n], k.ntk[:n, :n], ds.y_train, k.nngp[n:, :n], k.ntk[n:, :n],
                            k.nngp[n:, n:], t=steps, learning_rate=lr)
    finals = []
    for s in range(48):
        p0 = net.init(jax.random.PRNGKey(s), 2)
        r = ntk.train(net, p0, ds.x_train, ds.y_train, ds.x_test, learning_rate=lr, steps=steps,
                      record_steps=[steps], linearized=False, check_stability=False)
        finals.append(r.f_test[-1])
    finals = np.stack(finals)
    se = finals.std(0) / np.sqrt(len(finals))
    assert np.all(np.abs(finals.mean(0) - np.asarray(m)) <= 5 * se + 0.05), (finals.mean(0), m)


def test_stability_limit_and_divergence_detection(problem):
    ds, net, p0, K, _ = problem
    lr_max = ntk.max_learning_rate(K, ds.y_train.size)
    lam = np.linalg.eigvalsh(np.asarray(K))[-1]
    assert_close(lr_max, 2 * ds.y_train.size / lam, rtol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        above = ntk.train(net, p0, ds.x_train, ds.y_train, learning_rate=1.3 * lr_max, steps=1500)
    assert above.diverged and above.diverged_step is not None
    assert "learning rate" in above.message.lower()
    assert np.all(np.isfinite(above.loss_train))  # nothing past divergence recorded
    below = ntk.train(net, p0, ds.x_train, ds.y_train, learning_rate=0.9 * lr_max, steps=1500)
    assert not below.diverged and below.loss_train[-1] < below.loss_train[0]
    with pytest.warns(RuntimeWarning, match="exceeds the largest stable"):
        ntk.train(net, p0, ds.x_train, ds.y_train, learning_rate=1.3 * lr_max, steps=5)


def test_optimizers_and_records(problem):
    ds, net, p0, *_ = problem
    seen = []
    for opt in ["sgd", "momentum", "adam"]:
        r = ntk.train(net, p0, ds.x_train, ds.y_train, ds.x_test, ds.y_test, learning_rate=0.01,
                      steps=40, optimizer=opt, record_every=10, track_kernel=True,
                      progress=lambda d, t: seen.append(d))
        assert list(r.steps) == [0, 10, 20, 30, 40]
        assert r.f_test.shape == (5, 15, 1) and r.lin_f_test.shape == (5, 15, 1)
        assert r.kernel_change[0] == 0 and r.weight_change[0] == 0
        assert r.loss_train[-1] < r.loss_train[0]
        assert "records" in repr(r)
    assert seen[-1] == 40


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_linearized_steps_match_plain_optax_loop(problem, name):
    """The lin model (function-space path for sgd/momentum, JVP path for adam) equals a
    hand-written optax loop on f_lin = ntk.linearize(...)."""
    import optax
    ds, net, p0, *_ = problem
    f_lin = ntk.linearize(net.apply, p0)

    def loss(p):
        return 0.5 * jnp.mean((f_lin(p, ds.x_train) - ds.y_train) ** 2)

    opt = {"sgd": optax.sgd(0.05), "momentum": optax.sgd(0.05, momentum=0.9),
           "adam": optax.adam(0.05)}[name]
    p, s = p0, opt.init(p0)
    for _ in range(7):
        u, s = opt.update(jax.grad(loss)(p), s, p)
        p = optax.apply_updates(p, u)
    # x_test / y_test as in test_optimizers_and_records: the same compiled training segments
    r = ntk.train(net, p0, ds.x_train, ds.y_train, ds.x_test, ds.y_test, learning_rate=0.05, steps=7,
                  record_steps=[7], optimizer=name, check_stability=False)
    for (a, b), (c, d) in zip(r.lin_params, p):
        assert_close(a, c, rtol=1e-10)
        assert_close(b, d, rtol=1e-10)


def test_validation_errors(problem):
    ds, net, p0, K, _ = problem
    with pytest.raises(ValueError, match="learning_rate"):
        ntk.train(net, p0, ds.x_train, ds.y_train, learning_rate=0.0)
    with pytest.raises(ValueError, match="points"):
        ntk.train(net, p0, ds.x_train, ds.y_train[:3])
    with pytest.raises(ValueError, match="optimizer"):
        ntk.train(net, p0, ds.x_train, ds.y_train, optimizer="lbfgs")
    with pytest.raises(ValueError, match="NaN"):
        ntk.train(net, p0, ds.x_train, np.full_like(ds.y_train, np.nan))
    with pytest.raises(ValueError, match="square"):
        ntk.gradient_descent_mse(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="k_test_train"):
        ntk.gradient_descent_mse(K, ds.y_train)(1.0, 0.0, np.zeros((2, 1)))


def test_named_optimizers_cached_and_match_optax():
    """Named optimizers are built once (lr lives in the state: no recompiles) and match optax."""
    import optax
    from ntk.dynamics import make_optimizer

    (a, _), (b, _) = make_optimizer("sgd", 0.1), make_optimizer("sgd", 0.2)
    assert a is b
    assert make_optimizer("momentum", 0.1)[0] is not a
    params = {"w": jnp.ones(3)}
    g = {"w": jnp.full(3, 2.0)}
    for name, ref in (("sgd", optax.sgd(0.1)), ("momentum", optax.sgd(0.1, momentum=0.9)),
                      ("adam", optax.adam(0.1))):
        o, set_lr = make_optimizer(name, 0.1)
        s = set_lr(o.init(params))
        sr = ref.init(params)
        for _ in range(3):
            u, s = o.update(g, s, params)
            ur, sr = ref.update(g, sr, params)
        assert_close(u["w"], ur["w"], rtol=1e-12)
