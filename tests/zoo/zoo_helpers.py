"""Helpers shared by the zoo tests (a plain module: test files import it by name)."""

from __future__ import annotations

import keras
import numpy as np


def make_model(num_classes: int = 3, seed: int = 0, name: str = "tiny"):
    """Input(8) -> Dense(16, relu) -> Dense(num_classes, name="classifier"), with seeded weights."""
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(
        16, activation="relu", name="hidden", kernel_initializer=keras.initializers.GlorotUniform(seed)
    )(inp)
    out = keras.layers.Dense(
        num_classes,
        name="classifier",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 1),
        bias_initializer=keras.initializers.RandomNormal(seed=seed + 2),
    )(h)
    return keras.Model(inp, out, name=name)


def predict(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
