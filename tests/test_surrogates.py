"""Surrogates: exact Heaviside forward, gradients equal to finite differences of the primitive."""

import keras
import numpy as np
import pytest
from keras import ops

import reference as ref
from backend_utils import to_numpy, vjp
from keras_trt import surrogates

CASES = [
    ("sigmoid", surrogates.Sigmoid, "alpha", 4.0),
    ("sigmoid", surrogates.Sigmoid, "alpha", 1.5),
    ("atan", surrogates.ATan, "alpha", 2.0),
    ("atan", surrogates.ATan, "alpha", 5.0),
    ("rectangular", surrogates.Rectangular, "width", 1.0),
    ("rectangular", surrogates.Rectangular, "width", 0.4),
    ("triangle", surrogates.Triangle, "width", 1.0),
    ("triangle", surrogates.Triangle, "width", 2.5),
]
KINKS = {"rectangular": lambda w: (-w / 2, w / 2), "triangle": lambda w: (-w, 0.0, w)}


def _points(name, param):
    x = np.linspace(-3, 3, 601)
    for kink in KINKS.get(name, lambda p: ())(param):
        x = x[np.abs(x - kink) > 1e-3]  # finite differences are meaningless across a kink
    return x


@pytest.mark.parametrize("name,cls,key,param", CASES)
def test_forward_is_exact_heaviside(name, cls, key, param):
    x = np.array([-2.0, -1e-7, 0.0, 1e-7, 0.3, 5.0], dtype="float32")
    out = to_numpy(cls(**{key: param})(ops.convert_to_tensor(x)))
    np.testing.assert_array_equal(out, (x >= 0).astype("float32"))


@pytest.mark.parametrize("name,cls,key,param", CASES)
def test_gradient_matches_finite_difference_of_primitive(name, cls, key, param):
    primitive = ref.SURROGATES[name][0]
    x = _points(name, param)
    eps = 1e-6
    fd = (primitive(x + eps, param) - primitive(x - eps, param)) / (2 * eps)
    _, (grad,) = vjp(cls(**{key: param}), [x], np.ones_like(x))
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    assert fd.max() > 0.1  # the surrogate does pass gradient somewhere


@pytest.mark.parametrize("name,cls,key,param", CASES)
def test_primitive_matches_reference(name, cls, key, param):
    x = _points(name, param)
    got = to_numpy(cls(**{key: param}).primitive(ops.convert_to_tensor(x.astype("float32"))))
    np.testing.assert_allclose(got, ref.SURROGATES[name][0](x, param), atol=2e-6)


@pytest.mark.parametrize("name,cls,key,param", CASES)
def test_serialization_round_trip(name, cls, key, param):
    s = cls(**{key: param})
    assert surrogates.get(surrogates.serialize(s)) == s
    assert surrogates.get(keras.saving.serialize_keras_object(s)) == s
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s)) == s
    assert surrogates.get(name) == cls()


def test_get_rejects_unknown_names_with_choices():
    with pytest.raises(ValueError, match="atan"):
        surrogates.get("relu")
    with pytest.raises(TypeError):
        surrogates.get(3.0)
    with pytest.raises(ValueError, match="alpha"):
        surrogates.Sigmoid(alpha=0.0)
