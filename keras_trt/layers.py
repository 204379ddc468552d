"""Public layer namespace: ``keras_trt.layers.LIF``, ``keras_trt.layers.TimeFolded``, ..."""

import keras

from keras_trt.neurons import LIF, ParametricLIF
from keras_trt.temporal import (
    FiringRate,
    RepeatTime,
    StarProduct,
    TemporalReversal,
    TimeFolded,
)
from keras_trt.transformer_layers import (
    MaxPoolPadding2D,
    QKTokenGate,
    QKTokenSum,
    SelfAttentionProduct,
    TokenProductSum,
)

#: BatchNormalization settings for SNNs: PyTorch's pace (``momentum=0.1`` there is Keras'
#: ``momentum=0.9``) and epsilon. With Keras' default ``momentum=0.99`` the moving variance still
#: carries 13 % of its initial 1.0 after 200 steps, which silences an SNN at inference.
BATCH_NORM_DEFAULTS = dict(momentum=0.9, epsilon=1e-5)


def batch_norm(name=None, **kwargs):
    """A time-folded ``keras.layers.BatchNormalization`` with SNN defaults, for ``[B, T, ...]`` inputs.

    Statistics are taken over batch and time together (tdBN-style). ``kwargs`` override
    :data:`BATCH_NORM_DEFAULTS` and go to ``BatchNormalization`` (e.g. ``synchronized=True``).

    >>> import keras
    >>> from keras_trt import layers
    >>> bn = layers.batch_norm(name="bn1")
    >>> bn.layer.momentum, bn.layer.epsilon
    (0.9, 1e-05)
    >>> layers.batch_norm(momentum=0.99).layer.momentum
    0.99
    """
    return TimeFolded(keras.layers.BatchNormalization(**{**BATCH_NORM_DEFAULTS, **kwargs}), name=name)


__all__ = [
    "batch_norm",
    "BATCH_NORM_DEFAULTS",
    "LIF",
    "ParametricLIF",
    "RepeatTime",
    "TimeFolded",
    "FiringRate",
    "TemporalReversal",
    "StarProduct",
    "SelfAttentionProduct",
    "QKTokenSum",
    "QKTokenGate",
    "TokenProductSum",
    "MaxPoolPadding2D",
]
