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
        name = identifier.get("class_name", "")
        cls = _BY_NAME.get(name.lower()) or _BY_NAME.get(name.split(">")[-1].lower())
        if cls is None:
            raise ValueError(
                f"Unknown surrogate config {identifier!r}: `class_name` must be one of "
                f"{[c.__name__ for c in _BY_NAME.values()]}."
            )
        return cls.from_config(identifier.get("config", {}))
    raise TypeError(
        f"Cannot interpret {identifier!r} as a surrogate: pass a name such as 'sigmoid', "
        "a Surrogate instance or a config dict."
    )


def serialize(surrogate):
    """Config dict that :func:`get` turns back into the same surrogate."""
    return {"class_name": type(surrogate).__name__, "config": surrogate.get_config()}
