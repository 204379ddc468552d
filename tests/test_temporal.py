"""Time plumbing and the TRT points, against NumPy expectations."""

import keras
import numpy as np
import pytest
from keras import ops

from backend_utils import to_numpy
from keras_trt import layers, temporal


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


def test_repeat_time():
    x = _rand(2, 5, 3)
    out = to_numpy(layers.RepeatTime(4)(x))
    assert out.shape == (2, 4, 5, 3)
    for t in range(4):
        np.testing.assert_array_equal(out[:, t], x)
    assert layers.RepeatTime(3).compute_output_shape((None, 8, 8, 1)) == (None, 3, 8, 8, 1)
    with pytest.raises(ValueError, match="positive integer"):
        layers.RepeatTime(0)


def test_fold_order_is_batch_major():
    x = _rand(2, 3, 4)
    folded = to_numpy(temporal.fold_time(ops.convert_to_tensor(x)))
    np.testing.assert_array_equal(folded[1 * 3 + 2], x[1, 2])  # row b*T + t
    np.testing.assert_array_equal(to_numpy(temporal.unfold_time(folded, 3)), x)


def test_time_folded_dense_equals_per_step_numpy():
    x = _rand(3, 4, 5)
    dense = keras.layers.Dense(6)
    out = to_numpy(layers.TimeFolded(dense)(x))
    w, b = dense.get_weights()
    np.testing.assert_allclose(out, np.einsum("btd,dh->bth", x, w) + b, rtol=1e-5, atol=1e-6)


def test_time_folded_conv_and_pool_per_step():
    x = _rand(2, 3, 6, 6, 2)
    conv = layers.TimeFolded(keras.layers.Conv2D(4, 3, padding="same"))
    out = to_numpy(conv(x))
    assert out.shape == (2, 3, 6, 6, 4)
    for t in range(3):  # the same as applying the conv to each step alone
        np.testing.assert_allclose(out[:, t], to_numpy(conv.layer(x[:, t])), rtol=1e-5, atol=1e-5)
    pooled = layers.TimeFolded(keras.layers.MaxPooling2D())(x)
    assert tuple(pooled.shape) == (2, 3, 3, 3, 2)
    symbolic = layers.TimeFolded(keras.layers.Conv2D(4, 3, strides=2))(keras.Input((3, 9, 9, 2)))
    assert tuple(symbolic.shape) == (None, 3, 4, 4, 4)


def test_time_folded_batch_norm_uses_all_steps():
    x = _rand(4, 3, 5) * 4 + 1
    bn = layers.TimeFolded(keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.0))
    out = to_numpy(bn(x, training=True))
    flat = x.reshape(-1, 5)
    expected = (x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(bn.layer.moving_mean), flat.mean(0), rtol=1e-5)


def test_firing_rate():
    x = _rand(2, 5, 3)
    np.testing.assert_allclose(to_numpy(layers.FiringRate()(x)), x.mean(1), rtol=1e-6)


def test_temporal_reversal_is_identity_outside_training_branches():
    x = ops.convert_to_tensor(_rand(2, 4, 3))
    layer = layers.TemporalReversal()
    assert layer(x) is x  # no work at all at inference
    assert layer(x, training=True) is x  # nor in a user's training=True call


def test_temporal_reversal_inside_branches():
    x = _rand(2, 4, 3)
    with temporal.trt_branches():
        out = to_numpy(layers.TemporalReversal()(x))
        assert layers.TemporalReversal().compute_output_shape((5, 4, 3)) == (10, 4, 3)
    assert out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[:2], x)
    np.testing.assert_array_equal(out[2:], x[:, ::-1])
    assert not temporal.trt_branches_active()


def test_star_product():
    x = _rand(6, 4, 3)
    np.testing.assert_allclose(to_numpy(layers.StarProduct()(x)), x.mean(1), rtol=1e-6)
    with temporal.trt_branches():
        out = to_numpy(layers.StarProduct()(x))
    r, r_rev = x[:3].mean(1), x[3:].mean(1)
    np.testing.assert_allclose(out, np.concatenate([r, r_rev, r * r_rev]), rtol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        layers.RepeatTime(3),
        layers.TimeFolded(keras.layers.Conv2D(4, 3, name="c")),
        layers.FiringRate(),
        layers.TemporalReversal(),
        layers.StarProduct(),
    ],
    ids=lambda l: type(l).__name__,
)
def test_config_round_trip(layer):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_time_folded_batch_norm_trains_with_batch_statistics_in_fit():
    # Regression: JAX's stateless train step calls `call` without Keras' call context, so the
    # wrapped BatchNormalization must receive `training` explicitly.
    import keras_trt

    x = keras.Input((3, 5))
    bn = layers.TimeFolded(keras.layers.BatchNormalization(momentum=0.0), name="bn")
    h = layers.FiringRate()(bn(x))
    model = keras_trt.TRTModel(x, keras.layers.Dense(2, name="classifier")(h))
    model.compile("sgd", trt=None)
    data = _rand(8, 3, 5) * 3 + 2
    model.train_on_batch(data, np.array([0, 1] * 4))
    np.testing.assert_allclose(
        to_numpy(bn.layer.moving_mean), data.reshape(-1, 5).mean(0), rtol=1e-5
    )
