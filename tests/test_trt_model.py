"""TRTModel: structure checks, input checks, inference = plain SNN, metrics, serialization."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_trt
import tiny_models
from backend_utils import ALL_BACKENDS, BACKEND, to_numpy
from keras_trt import layers


def _data(n=16, image=(8, 8, 1), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + image).astype("float32") * 2, rng.integers(0, classes, n)


def _model_without(reversal=True, star=True):
    x = keras.Input((4, 6))
    h = layers.TemporalReversal()(x) if reversal else x
    h = layers.TimeFolded(keras.layers.Dense(8))(h)
    h = layers.LIF()(h)
    h = layers.StarProduct()(h) if star else layers.FiringRate()(h)
    return keras_trt.TRTModel(x, keras.layers.Dense(3, name="classifier")(h))


def test_missing_reversal_is_a_clear_error():
    with pytest.raises(ValueError, match="exactly one keras_trt.layers.TemporalReversal"):
        _model_without(reversal=False).compile("sgd", trt=keras_trt.TRTConfig())
    _model_without(reversal=False).compile("sgd", trt=None)  # the plain SNN needs none


def test_star_without_reversal_upstream_is_a_clear_error():
    x = keras.Input((4, 6))
    h = layers.TimeFolded(keras.layers.Dense(8))(x)
    h = layers.LIF()(h)
    h = layers.StarProduct()(h)
    h = layers.RepeatTime(2)(h)
    h = layers.TemporalReversal()(h)
    out = keras.layers.Dense(3, name="classifier")(layers.FiringRate()(h))
    with pytest.raises(ValueError, match="no TemporalReversal upstream"):
        keras_trt.TRTModel(x, out).compile("sgd", trt=True)


def test_star_weight_needs_a_star_product():
    with pytest.raises(ValueError, match="star_weight"):
        _model_without(star=False).compile("sgd", trt=keras_trt.TRTConfig())
    model = _model_without(star=False)
    model.compile("sgd", trt=keras_trt.TRTConfig(star_weight=0.0))
    logs = model.train_on_batch(np.ones((2, 4, 6), "float32"), np.array([0, 1]), return_dict=True)
    assert logs["star_loss"] == 0.0


def test_bad_config_values():
    with pytest.raises(ValueError, match="kl_direction"):
        keras_trt.TRTConfig(kl_direction="both")
    with pytest.raises(ValueError, match="temperature"):
        keras_trt.TRTConfig(temperature=0)
    with pytest.raises(TypeError, match="TRTConfig"):
        _model_without().compile("sgd", trt="yes")


def test_input_checks_name_the_fix():
    model = tiny_models.temporal_mlp(timesteps=4)
    with pytest.raises(ValueError, match="built for T=4"):
        model.predict(np.zeros((2, 3, 6), "float32"), verbose=0)
    with pytest.raises(ValueError, match="time axis at position 1"):
        model(np.zeros((2, 6), "float32"))
    static = tiny_models.static_cnn()
    with pytest.raises(ValueError, match="axis 1 is 9"):
        static(np.zeros((2, 9, 8, 1), "float32"))


def test_training_logs_and_plain_inference():
    x, y = _data()
    model = tiny_models.static_cnn()
    model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"], trt=keras_trt.TRTConfig())
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert {"loss", "accuracy", "task_loss", "reversed_loss", "consistency_loss", "star_loss"} <= set(
        history.history
    )
    total = np.array(history.history["loss"])
    parts = sum(np.array(history.history[k]) for k in ("task_loss", "reversed_loss", "consistency_loss", "star_loss"))
    np.testing.assert_allclose(total, parts, rtol=1e-4)  # all weights are 1 by default

    # Inference is the plain SNN: same weights in the network without TRT layers.
    plain = tiny_models.static_cnn(trt_layers=False)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)
    assert model.predict(x, verbose=0).shape == (len(x), 4)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def test_plain_baseline_has_no_trt_metrics():
    x, y = _data()
    model = tiny_models.static_cnn()
    model.compile("adam", metrics=["accuracy"], trt=None)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


@pytest.mark.skipif(BACKEND != "jax", reason="the traced program is inspected with jax.make_jaxpr")
def test_inference_program_equals_plain_snn_program():
    import jax

    x, _ = _data(n=2)

    def primitives(model):
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        jaxpr = jax.make_jaxpr(lambda a: model.stateless_call(tv, ntv, a, training=False)[0])(x)
        return [str(e.primitive) for e in jaxpr.jaxpr.eqns]

    trt_prims = primitives(tiny_models.static_cnn())
    assert trt_prims == primitives(tiny_models.static_cnn(trt_layers=False))
    assert "rev" not in trt_prims


def test_keras_round_trip_keeps_trt_config(tmp_path):
    x, y = _data()
    model = tiny_models.static_cnn()
    cfg = keras_trt.TRTConfig(temperature=2.0, symmetric_kl=True)
    model.compile("adam", trt=cfg)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, keras_trt.TRTModel) and loaded.trt_config == cfg
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # compiled and trainable again


def test_model_saved_here_loads_under_the_other_backends(tmp_path):
    x, y = _data(n=8)
    model = tiny_models.static_cnn()
    model.compile("adam", trt=True)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # non-trivial BN statistics and PLIF tau
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    script = os.path.join(os.path.dirname(__file__), "_load_and_predict.py")
    for other in [b for b in ALL_BACKENDS if b != BACKEND]:
        out = tmp_path / f"{other}.npy"
        env = dict(os.environ, KERAS_BACKEND=other)
        run = subprocess.run(
            [sys.executable, script, str(tmp_path / "m.keras"), str(tmp_path / "x.npy"), str(out)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        np.testing.assert_allclose(np.load(out), expected, atol=1e-5, err_msg=f"loaded under {other}")
