"""Width sweeps: the lazy-regime scaling law and the tidy-table plumbing."""
import numpy as np
import pytest

import ntk


def test_kernel_error_scales_like_inverse_sqrt_width():
    """Seeded sweep: fitted log-log slope of |Theta_emp - Theta_inf| / |Theta_inf| in [-0.6, -0.4]."""
    ds = ntk.data.unit_circle(8, 10, seed=0, dtype=np.float64)
    r = ntk.width_sweep([128, 256, 512, 1024, 2048], seeds=range(6), x_train=ds.x_train,
                        metrics=("kernel_error",), depth=2, activation="relu")
    fit = r.fits["kernel_error"]
    assert -0.6 <= fit["slope"] <= -0.4, fit
    assert fit["ci_low"] < fit["slope"] < fit["ci_high"]
    t = r.table()
    assert len(t["width"]) == 30 and set(t["seed"]) == set(range(6))
    # Mean error at the widest net is several times smaller than at the narrowest.
    s = r.summary()
    assert s[2048]["kernel_error"][0] < s[128]["kernel_error"][0] / 2.5


def test_training_metrics_and_records():
    ds = ntk.data.unit_circle(6, 12, seed=1, dtype=np.float64)
    calls = []
    r = ntk.width_sweep([32, 512], seeds=[0, 1], x_train=ds.x_train, y_train=ds.y_train,
                        x_test=ds.x_test, depth=2, activation="erf", steps=100,
                        progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4, 4)
    summ = r.summary()
    for m in ("weight_change", "kernel_change", "lin_gap"):
        assert summ[512][m][0] < summ[32][m][0], (m, summ)
        assert np.isfinite(r.fits[m]["slope"]) and r.fits[m]["slope"] < 0
    df = r.to_pandas()
    assert list(df.columns[:2]) == ["width", "seed"]
    assert "slope" in repr(r)


def test_fit_loglog_slope_exact_power_law():
    x = np.array([10, 100, 1000, 10000.0])
    f = ntk.fit_loglog_slope(x, 3.0 * x**-0.5)
    assert abs(f["slope"] + 0.5) < 1e-12 and abs(f["r2"] - 1) < 1e-12
    with pytest.raises(ValueError, match=r"1 usable point\(s\).*1 of 2 left out"):
        ntk.fit_loglog_slope([1, 2], [1, 0])  # one point dropped: too few to fit, never a NaN slope
    f2 = ntk.fit_loglog_slope([1, 2], [1, 0.5])  # two points: exact line, unbounded interval
    assert abs(f2["slope"] + 1) < 1e-12 and f2["ci_low"] == -np.inf and f2["ci_high"] == np.inf


def test_sweep_errors():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="width"):
        ntk.width_sweep([0, 8], x_train=x, metrics=("kernel_error",))
    with pytest.raises(ValueError, match="y_train"):
        ntk.width_sweep([8], x_train=x)
    with pytest.raises(ValueError, match="metrics"):
        ntk.width_sweep([8], x_train=x, metrics=("speed",))
