"""Silence at inference: the BN pace that avoids it, the check that reports it, the fix."""

import warnings

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import diagnostics, layers
from keras_trt.data import load_digits

from backend_utils import to_numpy


def quick_tour_model(batch_norm):
    """The README's quick-tour network with the given time-folded BN factory."""
    x = keras.Input((8, 8, 1))
    h = layers.RepeatTime(4)(x)
    h = layers.TimeFolded(keras.layers.Conv2D(16, 3, padding="same"))(h)
    h = batch_norm()(h)
    h = layers.LIF(tau=2.0, detach_reset=True, surrogate="atan", name="lif1")(h)
    h = layers.TemporalReversal()(h)
    h = layers.TimeFolded(keras.layers.Conv2D(32, 3, strides=2, padding="same"))(h)
    h = batch_norm()(h)
    h = layers.LIF(name="lif2")(h)
    h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D())(h)
    h = layers.StarProduct()(h)
    return keras_trt.TRTModel(x, keras.layers.Dense(10, name="classifier")(h))


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _train_briefly(model, digits):
    (x_train, y_train), _ = digits
    model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    # 69 steps: momentum 0.9 keeps 0.9**69 < 0.1 % of the initial moving variance, Keras' default
    # 0.99 keeps 50 %.
    model.fit(x_train[:736], y_train[:736], epochs=3, batch_size=32, verbose=0)
    return model


def test_quick_tour_pattern_fires_at_inference_after_brief_training(digits):
    keras.utils.set_random_seed(0)
    model = _train_briefly(quick_tour_model(layers.batch_norm), digits)
    (_, _), (x_test, _) = digits
    report = diagnostics.check_silence(model, x_test)
    assert not report.silent, str(report)
    assert all(l["inference_rate"] > 0 for l in report.layers)
    # Predictions vary with the input: more than one class is predicted.
    assert len(np.unique(np.argmax(model.predict(x_test, verbose=0), axis=1))) > 1


def test_keras_default_bn_momentum_goes_silent_and_the_check_says_so(digits):
    # The failure the SNN defaults avoid: momentum=0.99 after 69 steps still carries half of the
    # initial moving variance, so inference outputs the classifier's bias for every input.
    keras.utils.set_random_seed(0)
    model = _train_briefly(quick_tour_model(lambda: layers.TimeFolded(keras.layers.BatchNormalization())), digits)
    (_, _), (x_test, _) = digits
    report = diagnostics.check_silence(model, x_test)
    assert report.silent and report.constant_output
    assert "lif1" in report.silent_layers
    assert "momentum=0.9" in report.message and "recalibrate_batch_norm" in report.message
    # ... and the fix repairs it without training.
    (x_train, _), _ = digits
    assert diagnostics.recalibrate_batch_norm(model, x_train) == 2
    assert not diagnostics.check_silence(model, x_test).silent


def _deaf_model():
    x = keras.Input((5,))
    h = layers.RepeatTime(3)(x)
    h = layers.TimeFolded(keras.layers.Dense(6), name="fc")(h)
    h = layers.LIF(v_threshold=1e6, name="deaf")(h)
    out = keras.layers.Dense(2, name="classifier")(layers.StarProduct()(h))
    return keras_trt.TRTModel(x, out)


def _healthy_model():
    x = keras.Input((5,))
    h = layers.RepeatTime(3)(x)
    h = layers.TimeFolded(keras.layers.Dense(6, kernel_initializer="ones"), name="fc")(h)
    h = layers.LIF(v_threshold=0.5, name="lif")(h)
    out = keras.layers.Dense(2, name="classifier")(layers.StarProduct()(h))
    return keras_trt.TRTModel(x, out)


def test_check_fires_on_a_deaf_model_and_not_on_a_healthy_one():
    x = np.linspace(-1, 1, 40, dtype="float32").reshape(8, 5)
    deaf = diagnostics.check_silence(_deaf_model(), x)
    assert deaf.constant_output and deaf.silent
    assert deaf.layers == [dict(name="deaf", inference_rate=0.0, training_rate=0.0)]
    healthy = diagnostics.check_silence(_healthy_model(), x)
    assert not healthy.silent and healthy.message == ""
    # Firing rate against a NumPy LIF (tau 2, hard reset to 0, threshold 0.5) on the same input.
    drive = x.sum(axis=1)  # Dense with unit weights and zero bias
    v, spikes = np.zeros(8), []
    for _ in range(3):
        v = v + (drive - v) / 2.0
        s = (v >= 0.5).astype("float64")
        v = v * (1 - s)
        spikes.append(s)
    expected = np.mean(spikes) * 6 / 6  # all 6 units get the same drive
    assert healthy.layers[0]["inference_rate"] == pytest.approx(expected, abs=1e-6)


def test_check_leaves_the_moving_statistics_unchanged(digits):
    model = quick_tour_model(layers.batch_norm)
    before = [to_numpy(v) for v in model.non_trainable_variables]
    diagnostics.check_silence(model, digits[1][0][:64])
    after = [to_numpy(v) for v in model.non_trainable_variables]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_recalibration_matches_numpy_batch_statistics():
    x_in = keras.Input((4, 3))
    h = layers.TimeFolded(keras.layers.Dense(5), name="fc")(x_in)
    bn = layers.batch_norm(name="bn")
    out = layers.LIF(name="lif")(bn(h))
    model = keras.Model(x_in, out)
    data = np.random.default_rng(1).normal(1.0, 2.0, size=(30, 4, 3)).astype("float32")
    fc_out = to_numpy(keras.Model(x_in, h)(data)).reshape(-1, 5).astype("float64")
    assert diagnostics.recalibrate_batch_norm(model, data, batch_size=10) == 1
    # Three batches of 10 samples: the mean of the three batch means / (biased) variances.
    chunks = np.split(fc_out.reshape(30, 4, 5), 3)
    mean = np.mean([c.reshape(-1, 5).mean(0) for c in chunks], axis=0)
    var = np.mean([c.reshape(-1, 5).var(0) for c in chunks], axis=0)
    np.testing.assert_allclose(to_numpy(bn.layer.moving_mean), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(bn.layer.moving_variance), var, rtol=1e-4, atol=1e-5)
    assert bn.layer.momentum == 0.9  # restored


@pytest.mark.parametrize("action", ["warn", "stop", "raise"])
def test_callback_actions_on_a_silent_model(action):
    model = _deaf_model()
    model.compile("adam", trt=None)
    x = np.linspace(-1, 1, 80, dtype="float32").reshape(16, 5)
    y = np.arange(16) % 2
    check = diagnostics.SilenceCheck(x, action=action)
    if action == "raise":
        with pytest.raises(RuntimeError, match="do not depend on its input"):
            model.fit(x, y, epochs=3, verbose=0, callbacks=[check])
        return
    with pytest.warns(diagnostics.SilenceWarning, match="Likely causes"):
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[check])
    assert history.history["silent"] == ([1.0] if action == "stop" else [1.0, 1.0, 1.0])


def test_callback_is_quiet_on_a_healthy_model():
    model = _healthy_model()
    model.compile("adam", trt=None)
    x = np.linspace(-1, 1, 80, dtype="float32").reshape(16, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", diagnostics.SilenceWarning)
        history = model.fit(x, np.arange(16) % 2, epochs=2, verbose=0,
                            callbacks=[diagnostics.SilenceCheck(x, every=2)])
    assert history.history["silent"] == [0.0]  # every=2: only after the second epoch


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        diagnostics.check_silence(_healthy_model(), np.zeros((1, 5), "float32"))
    with pytest.raises(TypeError, match="functional keras.Model"):
        diagnostics.check_silence(object(), np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match="action"):
        diagnostics.SilenceCheck(np.zeros((4, 5)), action="ignore")
