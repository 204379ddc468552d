"""Public layer namespace: ``keras_trt.layers.LIF``, ``keras_trt.layers.TimeFolded``, ..."""

from keras_trt.neurons import LIF, ParametricLIF
from keras_trt.temporal import (
    FiringRate,
    RepeatTime,
    StarProduct,
    TemporalReversal,
    TimeFolded,
)

__all__ = [
    "LIF",
    "ParametricLIF",
    "RepeatTime",
    "TimeFolded",
    "FiringRate",
    "TemporalReversal",
    "StarProduct",
]
