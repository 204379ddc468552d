"""No silent numerics: the consistency KL at any temperature, config and neuron validation."""

from decimal import Decimal, localcontext

import numpy as np
import pytest

import keras_trt
from backend_utils import BACKEND, to_numpy, vjp
from keras_trt.layers import LIF, ParametricLIF
from keras_trt.trt.loss import softmax_kl

one_backend = pytest.mark.skipif(BACKEND != "jax", reason="plain Python validation, backend-independent")


def _decimal_kl(a, b, t):
    """``t^2 * KL(softmax(a/t) || softmax(b/t))`` per row and its gradients, in 60-digit decimals.

    Gradients of ``t^2 * KL``: w.r.t. ``b`` it is ``t * (q - p)``, w.r.t. ``a`` it is
    ``t * p * (log(p/q) - KL)``.
    """
    values, grad_a, grad_b = [], [], []
    with localcontext() as ctx:
        ctx.prec = 60
        t = Decimal(float(t))
        for ra, rb in zip(a, b):
            ea = [(Decimal(float(v)) / t).exp() for v in ra]
            eb = [(Decimal(float(v)) / t).exp() for v in rb]
            p = [v / sum(ea) for v in ea]
            q = [v / sum(eb) for v in eb]
            ratio = [(pi / qi).ln() for pi, qi in zip(p, q)]
            kl = sum(pi * r for pi, r in zip(p, ratio))
            values.append(float(t * t * kl))
            grad_b.append([float(t * (qi - pi)) for pi, qi in zip(p, q)])
            grad_a.append([float(t * pi * (r - kl)) for pi, r in zip(p, ratio)])
    return np.array(values), np.array(grad_a), np.array(grad_b)


def _logits(scale=3.0):
    rng = np.random.default_rng(0)
    return (rng.normal(0, scale, (4, 10)).astype("float32"), rng.normal(0, scale, (4, 10)).astype("float32"))


@pytest.mark.parametrize("temperature", [0.25, 1.0, 4.0, 1e3, 1e6, 1e8])
def test_consistency_kl_is_accurate_and_nonnegative_at_any_temperature(temperature):
    a, b = _logits()
    t2 = temperature * temperature
    out, (ga, gb) = vjp(lambda a, b: t2 * softmax_kl(a, b, temperature), [a, b], np.ones(4, "float32"))
    want, want_ga, want_gb = _decimal_kl(a, b, temperature)
    assert (out >= 0).all()
    # float32 rounding only (the textbook formula is off by ~t^2 * 1e-7 and goes negative).
    np.testing.assert_allclose(out, want, rtol=2e-5)
    scale = np.abs(want_gb).max()  # gradients to float32 rounding of logits/t, relative to their size
    np.testing.assert_allclose(gb, want_gb, rtol=1e-3, atol=5e-5 * scale)
    np.testing.assert_allclose(ga, want_ga, rtol=1e-3, atol=5e-5 * scale)


def test_consistency_kl_edge_cases():
    a, b = _logits()
    # identical distributions: exactly 0; after a shift (softmax is shift-invariant) only the
    # float32 rounding of `a + 5` remains, ~1e-6 in the logits, so t^2 * KL ~ 1e-13
    assert to_numpy(softmax_kl(a, a, 2.0)).max() == 0.0
    shifted = 1e12 * to_numpy(softmax_kl(a, a + 5.0, 1e6))
    assert (shifted >= 0).all() and shifted.max() < 1e-10
    # classes that q puts at ~e^-1000 (underflow) give a finite, correct KL
    far_a, far_b = a * 300, b * 300
    got = to_numpy(softmax_kl(far_a, far_b, 1.0))
    np.testing.assert_allclose(got, _decimal_kl(far_a, far_b, 1.0)[0], rtol=1e-5, atol=1e-30)
    # stop_gradient_target removes the target's gradient only
    _, (ga, gb) = vjp(lambda a, b: softmax_kl(a, b, 2.0, stop_gradient_target=True), [a, b], np.ones(4, "float32"))
    assert not ga.any() and np.abs(gb).max() > 0


@one_backend
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(temperature=float("inf")), ValueError, "temperature must be finite"),
        (dict(temperature=float("nan")), ValueError, "temperature must be finite"),
        (dict(temperature=0.0), ValueError, "temperature must be > 0"),
        (dict(temperature=-1), ValueError, "temperature must be > 0"),
        (dict(reversal_weight="1"), TypeError, "reversal_weight must be a real number, got '1' \\(str\\)"),
        (dict(consistency_weight=None), TypeError, "consistency_weight must be a real number"),
        (dict(star_weight=True), TypeError, "star_weight must be a real number"),
        (dict(star_weight=float("nan")), ValueError, "star_weight must be finite"),
        (dict(consistency_weight=float("inf")), ValueError, "consistency_weight must be finite"),
        (dict(reversal_weight=-0.5), ValueError, "reversal_weight must be >= 0"),
        (dict(symmetric_kl="yes"), TypeError, "symmetric_kl must be True or False"),
        (dict(kl_direction="both"), ValueError, "kl_direction must be one of"),
    ],
)
def test_trt_config_refuses_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_trt.TRTConfig(**kwargs)


@one_backend
def test_trt_config_normalises_numbers():
    cfg = keras_trt.TRTConfig(temperature=np.float32(2.0), reversal_weight=1, star_weight=np.int64(0))
    assert cfg.get_config()["temperature"] == 2.0 and type(cfg.reversal_weight) is float
    assert keras_trt.TRTConfig.from_config(cfg.get_config()) == cfg


@one_backend
@pytest.mark.parametrize(
    "layer, kwargs, match",
    [
        (LIF, dict(tau=float("nan")), "`tau` must be a finite number, got nan"),
        (LIF, dict(tau=float("inf")), "`tau` must be a finite number"),
        (LIF, dict(tau=0.5), "tau must be >= 1"),
        (LIF, dict(v_threshold=float("nan")), "`v_threshold` must be a finite number"),
        (LIF, dict(v_threshold=float("-inf")), "`v_threshold` must be a finite number"),
        (LIF, dict(v_reset=float("nan")), "`v_reset` must be a finite number"),
        (LIF, dict(tau="fast"), "`tau` must be a number, got 'fast'"),
        (ParametricLIF, dict(init_tau=float("nan")), "`init_tau` must be a finite number"),
        (ParametricLIF, dict(init_tau=float("inf")), "`init_tau` must be a finite number"),
        (ParametricLIF, dict(init_tau=1.0), "init_tau must be > 1"),
        (ParametricLIF, dict(v_threshold=float("inf")), "`v_threshold` must be a finite number"),
    ],
)
def test_neurons_refuse_nonfinite_constants(layer, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        layer(**kwargs)
