"""Spike functions with surrogate gradients.

Forward, every surrogate is the exact Heaviside step ``x >= 0 -> 1.0``; backward, it is the
derivative of a smooth *primitive* ``g``. The built-in surrogates also give ``g'`` in closed form
(:meth:`Surrogate.derivative`), and the spike function is then one ``keras.ops.custom_gradient``
op: the forward computes only the step, the backward only ``upstream * g'(x)``. A subclass that
defines only ``primitive`` gets the portable trick instead, which needs no custom gradient:

    spike = stop_gradient(heaviside(x)) + (g(x) - stop_gradient(g(x)))

The second term is exactly zero in the forward pass (``a - a == 0`` in floating point), so the
spikes are exactly 0 or 1, and its gradient is ``g'(x)``; but the forward pays for ``g(x)``.
The LIF layers use :meth:`Surrogate.derivative` directly in their hand-written BPTT
(:func:`keras_trt.neurons.lif_spikes`).

>>> from keras import ops
>>> from keras_trt import surrogates
>>> spike_fn = surrogates.get("atan")
>>> ops.convert_to_numpy(spike_fn(ops.convert_to_tensor([-0.5, 0.0, 0.7]))).tolist()
[0.0, 1.0, 1.0]
"""

import math
import warnings

import keras
from keras import ops

_PACKAGE = "keras_trt"


def heaviside(x):
    """Exact step used by every surrogate's forward pass: 1.0 where ``x >= 0`` else 0.0."""
    return ops.cast(ops.greater_equal(x, 0), x.dtype)


class Surrogate:
    """Base class: subclasses define the smooth ``primitive`` whose derivative is the gradient.

    Defining :meth:`derivative` too (``primitive'`` in closed form) makes the spike function and
    the LIF layers faster; without it they differentiate ``primitive`` automatically.

    A subclass with constructor arguments returns them from ``get_config``; registered with
    Keras, it is saved and loaded with the model (``.keras`` files, zoo presets) on every
    backend. Import the module that defines it before loading.

    >>> import keras
    >>> from keras import ops
    >>> @keras.saving.register_keras_serializable(package="my_project")
    ... class FastSigmoid(Surrogate):
    ...     def __init__(self, slope=25.0):
    ...         self.slope = slope
    ...     def primitive(self, x):
    ...         return 0.5 * self.slope * x / (1.0 + ops.abs(self.slope * x)) + 0.5
    ...     def get_config(self):
    ...         return {"slope": self.slope}
    >>> get(serialize(FastSigmoid(10.0)))
    FastSigmoid(slope=10.0)
    >>> from keras_trt.layers import LIF
    >>> LIF(surrogate=FastSigmoid()).get_config()["surrogate"]["registered_name"]
    'my_project>FastSigmoid'
    """

    def primitive(self, x):
        raise NotImplementedError

    def derivative(self, x):
        """``primitive'(x)`` in closed form; optional (see :attr:`has_derivative`)."""
        raise NotImplementedError

    @property
    def has_derivative(self):
        """Whether the subclass defines :meth:`derivative`."""
        return type(self).derivative is not Surrogate.derivative

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if self.has_derivative:
            return _spike(x, self.derivative)
        g = self.primitive(x)
        return ops.stop_gradient(heaviside(x)) + (g - ops.stop_gradient(g))

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


def _spike(x, derivative):
    """Heaviside forward, ``upstream * derivative(x)`` backward, as one custom-gradient op."""

    @ops.custom_gradient
    def spike(x):
        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow / JAX call grad(upstream); torch grad(x, upstream=)
                (upstream,) = args
            return upstream * derivative(x)

        return heaviside(x), grad

    return spike(x)


def _check_positive(name, value):
    value = float(value)
    if not value > 0:
        raise ValueError(f"`{name}` must be > 0, got {value}.")
    return value


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Sigmoid(Surrogate):
    """Gradient ``alpha * s * (1 - s)`` with ``s = sigmoid(alpha * x)`` (SpikingJelly ``Sigmoid``)."""

    def __init__(self, alpha=4.0):
        self.alpha = _check_positive("alpha", alpha)

    def primitive(self, x):
        return ops.sigmoid(self.alpha * x)

    def derivative(self, x):
        sg = ops.sigmoid(self.alpha * x)
        return self.alpha * sg * (1.0 - sg)

    def get_config(self):
        return {"alpha": self.alpha}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ATan(Surrogate):
    """Gradient ``alpha / 2 / (1 + (pi/2 * alpha * x)^2)`` (SpikingJelly ``ATan``)."""

    def __init__(self, alpha=2.0):
        self.alpha = _check_positive("alpha", alpha)

    def primitive(self, x):
        return ops.arctan((math.pi / 2 * self.alpha) * x) / math.pi + 0.5

    def derivative(self, x):
        # SpikingJelly's expression: alpha / 2 / (1 + (pi / 2 * alpha * x)^2)
        return (self.alpha / 2) / (1.0 + ops.square((math.pi / 2 * self.alpha) * x))

    def get_config(self):
        return {"alpha": self.alpha}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Rectangular(Surrogate):
    """Gradient ``1 / width`` inside ``|x| < width / 2``, else 0 (straight-through box)."""

    def __init__(self, width=1.0):
        self.width = _check_positive("width", width)

    def primitive(self, x):
        return ops.clip(x / self.width + 0.5, 0.0, 1.0)

    def derivative(self, x):
        inside = ops.less(ops.abs(x), self.width / 2)
        return ops.cast(inside, x.dtype) * (1.0 / self.width)

    def get_config(self):
        return {"width": self.width}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Triangle(Surrogate):
    """Gradient ``max(0, width - |x|) / width^2``: a triangle of unit area on ``[-width, width]``."""

    def __init__(self, width=1.0):
        self.width = _check_positive("width", width)

    def primitive(self, x):
        w = self.width
        xc = ops.clip(x, -w, w)
        left = ops.square(xc + w) / (2 * w * w)
        right = 1.0 - ops.square(w - xc) / (2 * w * w)
        return ops.where(xc < 0, left, right)

    def derivative(self, x):
        w = self.width
        return ops.relu(w - ops.abs(x)) * (1.0 / (w * w))

    def get_config(self):
        return {"width": self.width}


_BY_NAME = {
    "sigmoid": Sigmoid,
    "atan": ATan,
    "rectangular": Rectangular,
    "triangle": Triangle,
}


def get(identifier):
    """Returns a surrogate from a name, an instance or a serialized config.

    Configs are Keras' own (:func:`keras.saving.serialize_keras_object`), so a user subclass
    decorated with ``@keras.saving.register_keras_serializable`` comes back from a ``.keras``
    file or a zoo preset like the built-ins (import its module before loading). The short
    ``{"class_name": "ATan", "config": {...}}`` form of older files still loads.

    >>> get("sigmoid")
    Sigmoid(alpha=4.0)
    >>> get({"class_name": "ATan", "config": {"alpha": 3.0}})
    ATan(alpha=3.0)
    >>> get(Triangle(width=0.5))
    Triangle(width=0.5)
    """
    if isinstance(identifier, Surrogate):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(
                f"Unknown surrogate {identifier!r}. Choose one of {sorted(_BY_NAME)}, "
                "or pass a keras_trt.surrogates.Surrogate instance."
            )
        return _BY_NAME[key]()
    if isinstance(identifier, dict):
        return _from_config(identifier)
    raise TypeError(
        f"Cannot interpret {identifier!r} as a surrogate: pass a name such as 'sigmoid', "
        "a Surrogate instance or a config dict."
    )


def _from_config(config):
    name = config.get("class_name")
    if not isinstance(name, str) or not isinstance(config.get("config", {}), dict):
        raise ValueError(
            f"Not a surrogate config: {config!r}. Expected keras.saving.serialize_keras_object's "
            "form, {'class_name': ..., 'config': {...}, 'registered_name': ...}."
        )
    if config.get("registered_name") is None and config.get("module") is None:
        # The short form written by keras-trt before surrogates went through Keras' registry.
        builtin = _BY_NAME.get(name.lower())
        if builtin is not None:
            return builtin.from_config(config.get("config") or {})
    try:
        obj = keras.saving.deserialize_keras_object(config)
    except TypeError as err:  # Keras' "Could not locate class ..."
        registered = config.get("registered_name") or name
        module = config.get("module")
        where = f" (defined in module {module!r})" if module else ""
        fix = f"import {module} before loading" if module else "import the module that defines it before loading"
        raise ValueError(
            f"Unknown surrogate class {registered!r}{where}: {fix} (or pass it in "
            "`custom_objects`).\nOnly surrogates registered with Keras can be loaded: the class "
            "must be decorated with @keras.saving.register_keras_serializable(package='...'); "
            "save the model again if it was saved without the decorator."
        ) from err
    if not isinstance(obj, Surrogate):
        raise ValueError(
            f"{config.get('registered_name') or name!r} is a {type(obj).__name__}, not a "
            "keras_trt.surrogates.Surrogate."
        )
    return obj


def serialize(surrogate):
    """Keras config dict (:func:`keras.saving.serialize_keras_object`) that :func:`get` reads back.

    >>> serialize(ATan(alpha=3.0))["registered_name"]
    'keras_trt>ATan'
    """
    config = keras.saving.serialize_keras_object(surrogate)
    name = config["registered_name"]
    if keras.saving.get_registered_object(name) is None and type(surrogate) not in _BY_NAME.values():
        warnings.warn(
            f"The surrogate class {name!r} is not registered with Keras, so a model saved with it "
            "cannot be loaded (and zoo.save_preset refuses it). Decorate the class with "
            "@keras.saving.register_keras_serializable(package='...').",
            stacklevel=2,
        )
    return config
