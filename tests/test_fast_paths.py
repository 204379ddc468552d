"""TimeFolded's backend fast paths compute what Keras' generic layers compute.

keras_trt/_fastpath.py runs a folded BatchNormalization through the backend's fused kernel
(TensorFlow, torch) and a folded Conv2D through torch's convolution on channels-last views
(1x1 convolutions as matmuls).
Here every path is compared with the same layer, same weights, run by Keras' own code (fast
paths off): outputs in training and inference mode, the moving statistics after a training
call, and the gradients w.r.t. the input and every trainable weight.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from backend_utils import BACKEND, layer_vjp, to_numpy
from keras_trt import _fastpath, layers, temporal


def _pair(make):
    """Two TimeFolded copies of the same layer with identical weights."""
    a, b = layers.TimeFolded(make()), layers.TimeFolded(make())
    return a, b


def _build(pair, shape, seed):
    rng = np.random.default_rng(seed)
    a, b = pair
    a.build(shape)
    b.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 + (1.0 if "gamma" in w.path else 0.0)
               for w in a.layer.weights]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, a.layer.weights)]
    a.layer.set_weights(weights)
    b.layer.set_weights(weights)


def _compare(pair, x, up, training):
    fast, generic = pair
    with temporal.fast_paths(True):
        out_f, dx_f, dw_f = layer_vjp(fast, x, up, training=training)
    with temporal.fast_paths(False):
        out_g, dx_g, dw_g = layer_vjp(generic, x, up, training=training)
    np.testing.assert_allclose(out_f, out_g, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(dx_f, dx_g, rtol=1e-4, atol=2e-5)
    for a, b in zip(dw_f, dw_g):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_fast_paths_exist_where_documented():
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4))
    conv = keras.layers.Conv2D(2, 3, padding="same")
    conv.build((None, 5, 5, 1))
    x2 = keras.ops.ones((3, 4))
    x4 = keras.ops.ones((2, 5, 5, 1))
    has_bn = _fastpath.folded_call(bn, x2, False) is not None
    has_conv = _fastpath.folded_call(conv, x4, False) is not None
    assert has_bn == (BACKEND in ("tensorflow", "torch"))
    assert has_conv == (BACKEND == "torch")
    with temporal.fast_paths(False):
        assert _fastpath.folded_call(bn, x2, False) is None


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "shape,options",
    [
        ((3, 2, 5, 4, 6), dict()),  # conv features, folded to rank 4
        ((4, 3, 7), dict(momentum=0.5)),  # dense features, folded to rank 2
        ((2, 2, 3, 3, 5), dict(center=False, scale=False, epsilon=1e-3)),
    ],
    ids=["rank5", "rank3", "no-affine"],
)
def test_batch_norm_fast_path_matches_keras(shape, options, training):
    opts = dict(epsilon=1e-5, momentum=0.9)
    opts.update(options)
    pair = _pair(lambda: keras.layers.BatchNormalization(**opts))
    _build(pair, shape, seed=0)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 2 + 0.7).astype("float32")
    up = rng.normal(size=shape).astype("float32")
    _compare(pair, x, up, training)


@pytest.mark.parametrize("momentum", [0.7, 0.0])
def test_batch_norm_fast_path_updates_moving_statistics_like_keras(momentum):
    shape = (4, 3, 6, 5, 7)
    pair = _pair(lambda: keras.layers.BatchNormalization(epsilon=1e-5, momentum=momentum))
    _build(pair, shape, seed=2)
    x = (np.random.default_rng(3).normal(size=shape) * 3 - 1).astype("float32")
    fast, generic = pair
    with temporal.fast_paths(True):
        fast(x, training=True)
    with temporal.fast_paths(False):
        generic(x, training=True)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            to_numpy(getattr(fast.layer, name)), to_numpy(getattr(generic.layer, name)),
            rtol=1e-5, atol=1e-6, err_msg=name,
        )
    if momentum == 0.0:  # Keras' convention: the biased batch variance
        flat = x.reshape(-1, 7)
        np.testing.assert_allclose(to_numpy(fast.layer.moving_mean), flat.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_numpy(fast.layer.moving_variance), flat.var(0), rtol=1e-5)


@pytest.mark.parametrize(
    "options,shape",
    [
        (dict(filters=5, kernel_size=3, padding="same", use_bias=False), (2, 3, 7, 7, 4)),
        (dict(filters=3, kernel_size=3, strides=2, padding="valid"), (2, 2, 9, 8, 2)),
        (dict(filters=4, kernel_size=1, strides=2, use_bias=False), (3, 2, 6, 6, 3)),
        (dict(filters=2, kernel_size=(3, 5), padding="same", activation="relu"), (1, 2, 6, 7, 3)),
        (dict(filters=2, kernel_size=2, strides=2, padding="same"), (1, 2, 6, 6, 3)),  # no fast path
    ],
    ids=["same", "valid-s2-bias", "1x1-s2", "same-3x5-relu", "same-s2-fallback"],
)
def test_conv2d_fast_path_matches_keras(options, shape):
    pair = _pair(lambda: keras.layers.Conv2D(**options))
    _build(pair, shape, seed=4)
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape).astype("float32")
    out_shape = tuple(pair[0].compute_output_shape(shape))
    up = rng.normal(size=out_shape).astype("float32")
    if keras.backend.backend() == "torch" and options.get("kernel_size") == 1 and options.get("strides") == 2:
        # Keras' own torch path cannot be the reference here: torch 2.13's 1x1/2 convolution
        # gets its kernel gradient wrong (see the test below). NumPy is.
        with temporal.fast_paths(True):
            y, dx, (dw,) = layer_vjp(pair[0], x, up, training=True)
        _check_1x1_stride2(x, up, pair[0].layer.kernel, y, dx, dw)
        return
    _compare(pair, x, up, training=True)


def _check_1x1_stride2(x, up, kernel, y, dx, dw):
    """A 1x1/2 convolution's output and gradients against NumPy (float64)."""
    w = to_numpy(kernel)[0, 0].astype("float64")
    xs = x.reshape((-1,) + x.shape[2:])[:, ::2, ::2, :].astype("float64")
    g = up.reshape((-1,) + up.shape[2:]).astype("float64")
    np.testing.assert_allclose(to_numpy(y).reshape(g.shape), xs @ w, rtol=1e-4, atol=1e-4)
    expected_dx = np.zeros(x.reshape((-1,) + x.shape[2:]).shape)
    expected_dx[:, ::2, ::2, :] = g @ w.T
    np.testing.assert_allclose(to_numpy(dx).reshape(expected_dx.shape), expected_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(dw).reshape(w.shape), np.einsum("nijc,nijo->co", xs, g),
                               rtol=1e-4, atol=1e-4)


# torch 2.13 (CPU): F.conv2d with a 1x1 kernel, stride 2, on a channels-last input (the NHWC
# tensor permuted to NCHW) writes out of bounds in its backward pass: in some processes the
# kernel gradient is wrong, in others glibc aborts ("corrupted double-linked list"); about half
# of the processes with 1 thread. The fast path runs 1x1 convolutions as matmuls; each fresh
# process here must get the gradient right and exit cleanly.
_TORCH_1X1_CHILD = """
import numpy as np, torch, keras
from keras_trt import layers, temporal
torch.set_num_threads(1)
rng = np.random.default_rng(0)
for _ in range(3):
    conv = layers.TimeFolded(keras.layers.Conv2D(4, 1, strides=2, use_bias=False))
    x = torch.tensor(rng.normal(size=(3, 2, 6, 6, 3)).astype("float32"), requires_grad=True)
    up = rng.normal(size=(3, 2, 3, 3, 4)).astype("float32")
    with temporal.fast_paths(True):
        y = conv(x)
    y.backward(torch.from_numpy(up))
    xs = x.detach().numpy().reshape(6, 6, 6, 3)[:, ::2, ::2, :].astype("float64")
    expected = np.einsum("nijc,nijo->co", xs, up.reshape(6, 3, 3, 4).astype("float64"))
    got = conv.layer.kernel.value.grad.numpy()[0, 0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4), np.abs(got - expected).max()
print("OK")
"""


@pytest.mark.skipif(BACKEND != "torch", reason="a torch kernel")
def test_1x1_stride2_conv_gradient_right_in_fresh_torch_processes():
    env = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", _TORCH_1X1_CHILD], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0 and "OK" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_hoist_static_layers_is_the_same_function():
    import keras_trt
    import tiny_models

    plain, hoisted = tiny_models.static_cnn(), tiny_models.static_cnn()
    hoisted.set_weights(plain.get_weights())
    assert temporal.hoist_static_layers(hoisted) == ["stem_conv", "stem_bn"]
    assert hoisted.get_layer("stem_bn").get_config()["static_input"] is True
    rng = np.random.default_rng(6)
    x = rng.random((5, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 4, size=5)
    for model in (plain, hoisted):
        model.compile(keras.optimizers.SGD(0.1), trt=keras_trt.TRTConfig())
    a = plain.train_on_batch(x, y, return_dict=True)
    b = hoisted.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    for wa, wb in zip(plain.get_weights(), hoisted.get_weights()):  # moving statistics included
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain.predict(x, verbose=0), hoisted.predict(x, verbose=0), atol=1e-6)


def test_lif_integrates_half_precision_inputs_in_float32():
    x = (np.random.default_rng(7).normal(size=(3, 4, 17)) * 2 + 0.5).astype("float32")
    lif = layers.LIF(tau=2.0, detach_reset=True, surrogate="atan", dtype="mixed_bfloat16")
    xb = keras.ops.cast(x, "bfloat16")
    out = lif(xb)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    expected = layers.LIF(tau=2.0, detach_reset=True, surrogate="atan")(keras.ops.cast(xb, "float32"))
    np.testing.assert_array_equal(to_numpy(keras.ops.cast(out, "float32")), to_numpy(expected))


def _f32(x):
    return to_numpy(keras.ops.cast(x, "float32"))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_fast_path_in_bfloat16_matches_keras(training):
    """Under ``mixed_bfloat16`` the kernels take the bfloat16 activations as they are (no float32
    copy); they normalise in float32 inside, as Keras does: the outputs differ by bfloat16
    rounding at most, the moving statistics by float32 rounding."""
    if BACKEND == "jax":
        pytest.skip("no BatchNormalization fast path on JAX")
    shape = (4, 2, 6, 5, 8)
    pair = _pair(lambda: keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.5, dtype="mixed_bfloat16"))
    _build(pair, shape, seed=4)
    x = keras.ops.cast((np.random.default_rng(5).normal(size=shape) * 2 + 0.7).astype("float32"), "bfloat16")
    fast, generic = pair
    with temporal.fast_paths(True):
        out_f = fast(x, training=training)
    with temporal.fast_paths(False):
        out_g = generic(x, training=training)
    assert keras.backend.standardize_dtype(out_f.dtype) == "bfloat16"
    np.testing.assert_allclose(_f32(out_f), _f32(out_g), rtol=1e-2, atol=1e-2)  # a bfloat16 ulp
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(to_numpy(getattr(fast.layer, name)), to_numpy(getattr(generic.layer, name)),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_bfloat16_training_step_with_fast_paths_matches_keras():
    """One SGD step of a conv-BN model in ``mixed_bfloat16``: the fast paths' gradients (through
    the bfloat16 batch norm and, on torch, the convolution) move the weights as Keras' own."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 2, 6, 6, 3)).astype("float32")
    y = rng.integers(0, 3, size=8)

    def model():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((2, 6, 6, 3))
        h = layers.TimeFolded(keras.layers.Conv2D(4, 3, padding="same", dtype="mixed_bfloat16"))(inputs)
        h = layers.TimeFolded(keras.layers.BatchNormalization(dtype="mixed_bfloat16"))(h)
        h = keras.layers.Flatten()(h)
        out = keras.layers.Dense(3, dtype="mixed_bfloat16")(h)
        m = keras.Model(inputs, keras.layers.Activation("linear", dtype="float32")(out))
        m.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    with temporal.fast_paths(True):
        fast = model()
        fast.train_on_batch(x, y)
    with temporal.fast_paths(False):
        generic = model()
        generic.train_on_batch(x, y)
    for a, b in zip(fast.get_weights(), generic.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-3)
