"""TimeFolded's backend fast paths compute what Keras' generic layers compute.

keras_trt/_fastpath.py runs a folded BatchNormalization through the backend's fused kernel
(TensorFlow, torch) and a folded Conv2D through torch's convolution on channels-last views.
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
        pytest.param(
            dict(filters=4, kernel_size=1, strides=2, use_bias=False), (3, 2, 6, 6, 3),
            marks=pytest.mark.xfail(
                keras.backend.backend() == "torch", strict=False,
                reason="torch 2.13 CPU: the kernel gradient of a 1x1/2 conv is intermittently wrong, in Keras' "
                "own path and in the fast path (once a heap error); open, see README Status",
            ),
        ),
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
        # Keras 3.15.1's own torch path gets this kernel gradient wrong in about half the runs
        # (seen here with 2 threads; the fast path matched NumPy every time): compare with NumPy.
        with temporal.fast_paths(True):
            _, _, (dw,) = layer_vjp(pair[0], x, up, training=True)
        xs = x.reshape((-1,) + shape[2:])[:, ::2, ::2, :]
        expected = np.einsum("nijc,nijo->co", xs.astype("float64"), up.reshape((-1,) + out_shape[2:]))
        np.testing.assert_allclose(dw.reshape(expected.shape), expected, rtol=1e-4, atol=1e-4)
        return
    _compare(pair, x, up, training=True)


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


def _jaxlib_is_measured():
    try:
        from jaxlib import version as jaxlib_version
    except ImportError:
        return False
    return jaxlib_version.__version__.startswith(_fastpath.XLA_CPU_OPTION_JAXLIB)


def test_xla_cpu_option_only_where_measured_and_never_over_the_users_flags():
    wanted = BACKEND == "jax" and _jaxlib_is_measured()
    assert _fastpath.xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}) is wanted
    assert _fastpath.xla_cpu_option_wanted({}) is wanted
    # The user's own YNNPACK setting wins; the opt-out switch refuses it.
    assert not _fastpath.xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"})
    assert not _fastpath.xla_cpu_option_wanted({"KERAS_TRT_XLA_CPU_OPTION": "0"})
    # Whatever happened at import, the option never stays in this process's environment.
    assert _fastpath.XLA_CPU_OPTION not in os.environ.get("XLA_FLAGS", "")


# The child imports keras_trt on JAX with a user flag of its own (an XLA dump folder, which also
# records the debug options XLA compiled with), checks its environment is untouched, starts a
# grandchild, and compiles one convolution.
_XLA_CHILD = """
import os, subprocess, sys
before = os.environ.get("XLA_FLAGS")
import keras_trt, jax, jax.numpy as jnp
from keras_trt import _fastpath
assert os.environ.get("XLA_FLAGS") == before, os.environ.get("XLA_FLAGS")
grandchild = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('XLA_FLAGS'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
conv(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 2))).block_until_ready()
print("CONFIGURED", _fastpath.XLA_CPU_CONFIGURED, "GRANDCHILD", grandchild)
"""


@pytest.mark.backend_independent
@pytest.mark.parametrize("opt_out", [False, True], ids=["default", "opted-out"])
def test_xla_cpu_option_applies_in_process_and_never_leaks_to_subprocesses(tmp_path, opt_out):
    pytest.importorskip("jax")
    if not _jaxlib_is_measured():
        pytest.skip("the option is only applied on the jaxlib releases it was measured on")
    dump = tmp_path / "xla-dump"
    user_flags = f"--xla_dump_to={dump}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_TRT_", "XLA_"))}
    env.update(KERAS_BACKEND="jax", XLA_FLAGS=user_flags, JAX_PLATFORMS="cpu")
    if opt_out:
        env["KERAS_TRT_XLA_CPU_OPTION"] = "0"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", _XLA_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"CONFIGURED {not opt_out} GRANDCHILD {user_flags}" in done.stdout, done.stdout
    # XLA compiled with the option (it removes single convolutions from the YNNPACK fusions;
    # XLA's default list is not written out, a changed one is).
    options = "".join(p.read_text() for p in dump.glob("*.debug_options"))
    assert "xla_dump_to" in options, sorted(p.name for p in dump.iterdir())
    assert ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT" in options) is not opt_out
    assert "INDIVIDUAL_CONVOLUTION" not in options
