"""LIF / ParametricLIF against the independent NumPy reference (and SpikingJelly itself)."""

import itertools

import keras
import numpy as np
import pytest

import reference as ref
from backend_utils import layer_vjp, to_numpy
from keras_trt import layers

MODES = list(itertools.product([0.0, None, -0.3], [True, False], [False, True]))
MODE_IDS = [f"reset={r}-decay={d}-detach={dt}" for r, d, dt in MODES]


def _inputs(shape, seed, tau):
    rng = np.random.default_rng(seed)
    return ((rng.normal(size=shape) * 1.5 + 0.5) * tau).astype("float32"), rng.normal(
        size=shape
    ).astype("float32")


def _tolerance(expected, h, v_reset):
    # float32 surrogate gradients lose digits where sigmoid saturates, and the hard-reset path
    # multiplies that by |H| (see tests/_verify_reference_against_spikingjelly.py).
    amp = 1.0 if v_reset is None else max(1.0, float(np.abs(h).max()))
    return 2e-6 * max(1.0, float(np.abs(expected).max())) * amp


def _check(layer, forward, backward, params, x, up, v_reset):
    rec = forward(x.astype("float64"), **params)
    if np.min(np.abs(rec["H"] - params.get("v_threshold", 1.0))) < 1e-5:
        pytest.skip("draw too close to the threshold for a float32 comparison")
    out, dx, dvars = layer_vjp(layer, x, up)
    np.testing.assert_array_equal(out, rec["S"])
    grads = backward(rec, up.astype("float64"))
    np.testing.assert_allclose(dx, grads["x"], rtol=1e-5, atol=_tolerance(grads["x"], rec["H"], v_reset))
    spikes, membrane = layer(x, return_membrane=True)
    np.testing.assert_allclose(to_numpy(membrane), rec["V"], rtol=1e-5, atol=1e-5)
    return rec, grads, dvars


@pytest.mark.parametrize("timesteps", [1, 2, 4, 8])
@pytest.mark.parametrize("v_reset,decay_input,detach_reset", MODES, ids=MODE_IDS)
def test_lif_matches_reference(v_reset, decay_input, detach_reset, timesteps):
    tau = 2.0 if timesteps % 4 else 3.0
    surrogate = "atan" if detach_reset else "sigmoid"
    params = dict(
        tau=tau, v_threshold=1.0, v_reset=v_reset, decay_input=decay_input,
        detach_reset=detach_reset, surrogate=surrogate,
    )
    layer = layers.LIF(**params)
    x, up = _inputs((3, timesteps, 5, 4), seed=timesteps, tau=tau)
    layer.build(x.shape)
    rec, _, _ = _check(layer, ref.lif_forward, ref.lif_backward, params, x, up, v_reset)
    if timesteps > 1:
        assert 0.02 < rec["S"].mean() < 0.98


@pytest.mark.parametrize("timesteps", [1, 2, 4, 8])
@pytest.mark.parametrize("v_reset,decay_input,detach_reset", MODES, ids=MODE_IDS)
def test_parametric_lif_matches_reference(v_reset, decay_input, detach_reset, timesteps):
    init_tau = 3.0
    layer = layers.ParametricLIF(
        init_tau=init_tau, v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset
    )
    x, up = _inputs((3, timesteps, 6), seed=10 + timesteps, tau=init_tau)
    layer.build(x.shape)
    w = float(to_numpy(layer.w))  # float32-rounded, as the layer computes with it
    np.testing.assert_allclose(w, ref.plif_init_w(init_tau), rtol=1e-6)
    params = dict(w=w, v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset)
    rec, grads, (dw,) = _check(layer, ref.plif_forward, ref.plif_backward, params, x, up, v_reset)
    terms = np.abs(up).sum() * max(1.0, np.abs(rec["H"]).max())
    np.testing.assert_allclose(dw, grads["w"], rtol=1e-5, atol=1e-6 * terms)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the XLA-compiled LIF is TensorFlow's opt-in")
@pytest.mark.parametrize("timesteps", [1, 4])
@pytest.mark.parametrize("v_reset,decay_input,detach_reset", MODES, ids=MODE_IDS)
def test_xla_compiled_lif_matches_reference(monkeypatch, v_reset, decay_input, detach_reset, timesteps):
    """``KERAS_TRT_TF_XLA_LIF=1``: the fused op's forward and backward as XLA computations give
    the reference's spikes and gradients (LIF and ParametricLIF, every reset mode)."""
    from keras_trt import _fastpath, neurons

    monkeypatch.setattr(_fastpath, "TF_XLA_LIF", True)
    fn = lambda x: x  # noqa: E731
    assert neurons._compiled(fn) is not fn  # the compiled path is the one under test
    test_lif_matches_reference(v_reset, decay_input, detach_reset, timesteps)
    test_parametric_lif_matches_reference(v_reset, decay_input, detach_reset, timesteps)


@pytest.mark.parametrize("v_reset,decay_input,detach_reset", MODES, ids=MODE_IDS)
def test_lif_matches_spikingjelly(v_reset, decay_input, detach_reset):
    torch = pytest.importorskip("torch")
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    x, up = _inputs((2, 4, 3, 5), seed=3, tau=2.0)
    node = sj.LIFNode(
        tau=2.0, v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset,
        surrogate_function=sj_surrogate.ATan(), step_mode="m",
    )
    xt = torch.tensor(x.transpose(1, 0, 2, 3), requires_grad=True)  # SpikingJelly is time-major
    out = node(xt)
    (out * torch.tensor(up.transpose(1, 0, 2, 3))).sum().backward()
    layer = layers.LIF(
        tau=2.0, v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset, surrogate="atan"
    )
    layer.build(x.shape)
    got, dx, _ = layer_vjp(layer, x, up)
    np.testing.assert_array_equal(got, out.detach().numpy().transpose(1, 0, 2, 3))
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(1, 0, 2, 3), rtol=1e-5, atol=1e-5)


def test_lif_shapes_dtypes_and_defaults():
    lif = layers.LIF()
    assert (lif.tau, lif.v_threshold, lif.v_reset, lif.decay_input, lif.detach_reset) == (
        2.0, 1.0, 0.0, True, False,
    )
    assert type(lif.surrogate).__name__ == "Sigmoid"
    for shape in [(2, 3, 4), (2, 3, 4, 5), (2, 3, 4, 5, 6)]:
        x = np.random.default_rng(0).random(shape).astype("float32") * 3
        out = lif(x)
        assert tuple(out.shape) == shape and keras.backend.standardize_dtype(out.dtype) == "float32"
        assert set(np.unique(to_numpy(out))) <= {0.0, 1.0}
    symbolic = layers.LIF()(keras.Input((4, 7)), return_membrane=True)
    assert [tuple(t.shape) for t in symbolic] == [(None, 4, 7), (None, 4, 7)]


def test_lif_clear_errors():
    with pytest.raises(ValueError, match="RepeatTime"):
        layers.LIF()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="static number of time steps"):
        layers.LIF()(keras.Input((None, 4)))
    with pytest.raises(ValueError, match="v_reset"):
        layers.LIF(v_reset=1.5)
    with pytest.raises(ValueError, match="tau"):
        layers.LIF(tau=0.5)
    with pytest.raises(ValueError, match="init_tau"):
        layers.ParametricLIF(init_tau=1.0)


@pytest.mark.parametrize(
    "layer",
    [
        layers.LIF(tau=3.0, v_reset=None, decay_input=False, detach_reset=True, surrogate="triangle"),
        layers.ParametricLIF(init_tau=4.0, v_threshold=0.5, surrogate="atan"),
    ],
    ids=["LIF", "ParametricLIF"],
)
def test_neuron_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.random.default_rng(1).random((2, 4, 3)).astype("float32") * 2
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(layer(x)))
