"""User-defined surrogates go through Keras' registry: .keras files and zoo presets keep them."""

import numpy as np
import keras
import pytest
from keras import ops

import keras_trt
from keras_trt import surrogates, zoo
from keras_trt.layers import LIF, ParametricLIF


@keras.saving.register_keras_serializable(package="keras_trt_tests")
class FastSigmoid(surrogates.Surrogate):
    """Zenke's SuperSpike surrogate: gradient ``1 / (1 + slope * |x|)^2``."""

    def __init__(self, slope=10.0):
        self.slope = float(slope)

    def primitive(self, x):
        return 0.5 * self.slope * x / (1.0 + ops.abs(self.slope * x)) + 0.5

    def derivative(self, x):
        return 0.5 * self.slope / ops.square(1.0 + ops.abs(self.slope * x))

    def get_config(self):
        return {"slope": self.slope}


class Unregistered(surrogates.Surrogate):
    def primitive(self, x):
        return ops.sigmoid(x)


def _model(surrogate):
    x = keras.Input((4, 6))
    h = keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(1))(x)
    h = LIF(surrogate=surrogate)(h)
    h = ParametricLIF(surrogate=surrogate, init_tau=3.0)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras_trt.TRTModel(x, keras.layers.Dense(3, name="classifier")(h))


def _x():
    return np.random.default_rng(0).uniform(0, 3, (5, 4, 6)).astype("float32")


def _surrogates_of(model):
    return [l.surrogate for l in model.layers if isinstance(l, (LIF, ParametricLIF))]


def test_registered_user_surrogate_survives_a_keras_file(tmp_path):
    model = _model(FastSigmoid(slope=7.0))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert _surrogates_of(loaded) == [FastSigmoid(slope=7.0)] * 2
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(_x())), ops.convert_to_numpy(model(_x())))


def test_registered_user_surrogate_survives_a_preset(tmp_path):
    model = _model(FastSigmoid(slope=7.0))
    folder = zoo.save_preset(model, tmp_path / "preset", dataset="toy", timesteps=4)
    loaded = zoo.load(folder)
    assert _surrogates_of(loaded) == [FastSigmoid(slope=7.0)] * 2
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(_x())), ops.convert_to_numpy(model(_x())))


def test_unregistered_surrogate_is_refused_with_the_fix(tmp_path):
    model = _model(Unregistered())
    with pytest.raises(zoo.UnsafeConfigError, match="Unregistered.*not a registered.*register_keras_serializable"):
        with pytest.warns(UserWarning, match="'Unregistered' is not registered"):
            zoo.save_preset(model, tmp_path / "preset")
    assert not (tmp_path / "preset").exists()
    # A .keras file saves (as Keras does for any custom class), with a warning; loading names the fix.
    with pytest.warns(UserWarning, match="register_keras_serializable"):
        model.save(tmp_path / "m.keras")
    with pytest.raises(Exception, match="register_keras_serializable"):
        keras.saving.load_model(tmp_path / "m.keras")
    # ... and custom_objects is honoured, as for any Keras object.
    loaded = keras.saving.load_model(tmp_path / "m.keras", custom_objects={"Unregistered": Unregistered})
    assert isinstance(_surrogates_of(loaded)[0], Unregistered)


def test_configs_written_before_the_registry_still_load():
    # The short form every shipped preset holds (zoo/*/config.json).
    assert surrogates.get({"class_name": "ATan", "config": {"alpha": 2.0}}) == surrogates.ATan(2.0)
    layer = LIF.from_config({"tau": 2.0, "surrogate": {"class_name": "Sigmoid", "config": {"alpha": 3.0}}})
    assert layer.surrogate == surrogates.Sigmoid(3.0)
    assert surrogates.serialize(surrogates.ATan(3.0))["registered_name"] == "keras_trt>ATan"
    with pytest.raises(ValueError, match="not a keras_trt.surrogates.Surrogate"):
        surrogates.get(keras.saving.serialize_keras_object(keras.layers.ReLU()))
